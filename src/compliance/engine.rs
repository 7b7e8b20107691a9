//! The engine: verify the ledger, read the range once, evaluate every selected control.

use super::catalogue::{self, Control};
use super::facts::{Facts, Located, Rec};
use super::gaps;
use super::model::{
    ControlResult, DISCLAIMER, Evidence, FrameworkResult, Integrity, Level, PolicyInRange,
    PredicateResult, Range, Report, Scope, Status,
};
use super::predicates::{CheckpointRef, Inputs, Predicate};
use super::trends::{Period, Windows};
use crate::ledger::checkpoint::{self, CheckpointReport, Finding};
use crate::ledger::note::NoteVerifier;
use crate::ledger::pass::{Checked, read_checked};
use crate::ledger::seal::read_seals;
use crate::ledger::{Damage, DamageKind, SEALS_FILE, Seal, SealKey, VerifyReport};
use crate::policy::Policy;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::Path;

/// Which records the report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The whole ledger.
    All,
    /// Seqs `first..=last`.
    Seqs(u64, u64),
    /// Records with `since <= ts < until` (microseconds since the epoch).
    Time {
        since: Option<i64>,
        until: Option<i64>,
    },
}

/// What to report.
#[derive(Debug, Clone)]
pub struct Options {
    /// Framework ids; empty means all.
    pub frameworks: Vec<String>,
    pub selection: Selection,
    pub include_gaps: bool,
    pub trends: Option<Period>,
    /// The user declares the system in scope of the EU AI Act high-risk articles.
    pub ai_act_in_scope: bool,
    /// Frameworks the organisation declares out of scope (their controls become not applicable).
    pub out_of_scope: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            frameworks: Vec::new(),
            selection: Selection::All,
            include_gaps: false,
            trends: None,
            ai_act_in_scope: false,
            out_of_scope: Vec::new(),
        }
    }
}

/// The checkpoints of the ledger in `dir` as `report` checked them against the log (with the
/// home's public checkpoint key, or one an auditor pinned; without one no checkpoint counts as
/// signed), and the damage the check found: a checkpoint beyond the log's end (records deleted
/// or the log truncated), one whose root the log no longer has (history rewritten), or one
/// whose signature does not verify.
fn checkpoint_refs(dir: &Path, report: &CheckpointReport) -> (Vec<CheckpointRef>, Vec<Damage>) {
    let mut refs = Vec::new();
    let mut damage = Vec::new();
    let mut last_valid = 0;
    for checkpoint::Checked {
        checkpoint: c,
        finding,
    } in &report.each
    {
        let file = format!("ledger/{}/{:020}.note", checkpoint::CHECKPOINTS_DIR, c.size);
        match finding {
            Finding::Valid => last_valid = c.size,
            Finding::Unchecked => {}
            Finding::BeyondLog => damage.push(Damage {
                kind: DamageKind::Truncated,
                seq: report.records,
                detail: format!(
                    "the signed checkpoint {file} covers {} records but the ledger holds {}",
                    c.size, report.records
                ),
            }),
            Finding::RootMismatch => damage.push(Damage {
                kind: DamageKind::Rewritten,
                seq: last_valid,
                detail: format!(
                    "the ledger's first {} records no longer have the root signed in {file}; the records after seq {} (the newest checkpoint that still matches) were rewritten",
                    c.size,
                    last_valid.saturating_sub(1)
                ),
            }),
            Finding::BadSignature => damage.push(Damage {
                kind: DamageKind::BadSeal,
                seq: c.size,
                detail: format!("the signature of {file} does not verify with the checkpoint key"),
            }),
        }
        let signed_ok = *finding == Finding::Valid;
        refs.push(CheckpointRef {
            size: c.size,
            root: c.root.clone(),
            file,
            note_sha256: c.note_sha256.clone(),
            signed_ok,
            witnesses: if signed_ok {
                checkpoint::cosigners(dir, c)
            } else {
                Vec::new()
            },
            time: i64::try_from(c.time).unwrap_or(i64::MAX / 1_000_000) * 1_000_000,
        });
    }
    (refs, damage)
}

/// Evaluates the ledger in `ledger_dir`. `key` checks seals, `verifier` checkpoints (see
/// [`checkpoints`]); `policy` is the policy whose rules are inspected (it counts only where its hash is the one stamped in the range).
pub fn evaluate(
    ledger_dir: &Path,
    key: Option<&SealKey>,
    verifier: Option<&NoteVerifier>,
    policy: Option<&Policy>,
    opts: &Options,
) -> Result<Report> {
    for f in opts.frameworks.iter().chain(&opts.out_of_scope) {
        if catalogue::framework(f).is_none() {
            bail!(
                "unknown framework `{f}`: use all, soc2, iso27001, eu-ai-act, gdpr, nist-ai-rmf, hipaa or pci-dss"
            );
        }
    }
    let read = read(ledger_dir, key, verifier, &opts.selection, opts.trends)?;
    assemble(ledger_dir, key, read, policy, opts)
}

/// The report from what the read of the ledger found.
pub(super) fn assemble(
    ledger_dir: &Path,
    key: Option<&SealKey>,
    read: Read,
    policy: Option<&Policy>,
    opts: &Options,
) -> Result<Report> {
    let mut verify = read.checked.verify;
    let (checkpoints, cp_damage) = checkpoint_refs(ledger_dir, &read.checked.checkpoints);
    verify.damage.extend(cp_damage);
    verify.damage.sort_by_key(|d| d.seq);
    let seals = valid_seals(ledger_dir, key, &verify)?;
    let facts = &read.range.facts;
    let open_ended = match opts.selection {
        Selection::All => true,
        Selection::Time { until, .. } => until.is_none(),
        Selection::Seqs(..) => false,
    };
    let damage = relevant_damage(&verify, facts.last_seq, open_ended);
    let genesis_ts = read.range.genesis_ts.filter(|_| verify.verified > 0);
    let inputs = Inputs {
        facts,
        damage,
        verified_records: verify.verified,
        seals: &seals,
        checkpoints: &checkpoints,
        policy,
        genesis_ts,
    };
    let selected = selected_frameworks(opts);
    let mut frameworks = Vec::new();
    let mut cache = HashMap::new();
    for fw in &selected {
        let scope = scope(fw.id, opts);
        let controls = catalogue::controls()
            .iter()
            .filter(|c| c.framework == fw.id)
            .map(|c| evaluate_control(c, &inputs, &mut cache, opts))
            .collect();
        frameworks.push(FrameworkResult {
            id: fw.id.to_string(),
            name: fw.name.to_string(),
            scope: scope.to_string(),
            scope_note: fw.scope_note.to_string(),
            controls,
        });
    }
    let trends = read.range.windows.map(|w| {
        w.evaluate(|wf| {
            let wi = Inputs {
                facts: wf,
                damage: relevant_damage(&verify, wf.last_seq, false),
                ..inputs
            };
            let mut cache = HashMap::new();
            selected
                .iter()
                .flat_map(|fw| {
                    catalogue::controls()
                        .iter()
                        .filter(|c| c.framework == fw.id)
                })
                .map(|c| evaluate_control(c, &wi, &mut cache, opts).status)
                .collect()
        })
    });
    let mut report = Report {
        disclaimer: DISCLAIMER.to_string(),
        scopes: frameworks
            .iter()
            .map(|f| Scope {
                framework: f.id.clone(),
                scope: f.scope.clone(),
            })
            .collect(),
        tool: "patchwork-gateway".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        as_of: facts.last_ts.map(rfc3339).unwrap_or_else(|| rfc3339(0)),
        range: Range {
            first_seq: facts.first_seq,
            last_seq: facts.last_seq,
            first_ts: facts.first_ts,
            last_ts: facts.last_ts,
            records: facts.records,
            tip: facts.tip.clone(),
            selection: describe(&opts.selection),
        },
        integrity: integrity(&verify, damage, &seals, &checkpoints),
        policies: facts
            .policies
            .iter()
            .map(|(h, s)| PolicyInRange {
                hash: h.clone(),
                decisions: s.decisions,
                first_seq: s.first_seq,
                last_seq: s.last_seq,
            })
            .collect(),
        loaded_policy: policy.map(|p| (p.name.clone(), p.hash().to_string())),
        frameworks,
        summary: Vec::new(),
        gaps: None,
        trends,
    };
    report.summary = Status::ALL
        .iter()
        .map(|s| {
            let n = report.controls().filter(|c| c.status == *s).count() as u64;
            (s.label().to_string(), n)
        })
        .collect();
    if opts.include_gaps {
        let all: Vec<&ControlResult> = report.controls().collect();
        report.gaps = Some(gaps::gaps(&all));
    }
    Ok(report)
}

/// The first damage that touches a range ending at `last`: at or before its end, or anywhere
/// but a torn tail when the range runs to the end of the ledger (truncation, a bad seal).
fn relevant_damage(v: &VerifyReport, last: Option<u64>, open_ended: bool) -> Option<&Damage> {
    v.damage.iter().find(|d| match last {
        Some(b) if d.seq <= b => true,
        _ => open_ended && d.kind != DamageKind::TornTail,
    })
}

fn selected_frameworks(opts: &Options) -> Vec<&'static catalogue::Framework> {
    catalogue::FRAMEWORKS
        .iter()
        .filter(|f| opts.frameworks.is_empty() || opts.frameworks.iter().any(|x| x == f.id))
        .collect()
}

fn scope(framework: &str, opts: &Options) -> &'static str {
    if opts.out_of_scope.iter().any(|f| f == framework) {
        "out of scope (declared)"
    } else if framework == "eu-ai-act" {
        if opts.ai_act_in_scope {
            "in scope"
        } else {
            "benchmark"
        }
    } else if matches!(framework, "nist-ai-rmf") {
        "voluntary framework"
    } else {
        "customer environment"
    }
}

/// Seals whose MAC verifies and whose tip the walk confirmed.
fn valid_seals(dir: &Path, key: Option<&SealKey>, verify: &VerifyReport) -> Result<Vec<Seal>> {
    let Some(key) = key else {
        return Ok(Vec::new());
    };
    let bad_at: Vec<u64> = verify.damage.iter().map(|d| d.seq).collect();
    Ok(read_seals(&dir.join(SEALS_FILE))?
        .into_iter()
        .filter_map(Result::ok)
        .filter(|s| key.id() == s.key_id && key.check(s))
        .filter(|s| s.count <= verify.sealed && s.count <= verify.verified)
        .filter(|s| !bad_at.iter().any(|b| *b < s.count))
        .collect())
}

fn integrity(
    v: &VerifyReport,
    damage: Option<&Damage>,
    seals: &[Seal],
    checkpoints: &[CheckpointRef],
) -> Integrity {
    Integrity {
        verified: damage.is_none(),
        records: v.records,
        verified_records: v.verified,
        first_bad_seq: damage.map(|d| d.seq),
        damage: damage.map(|d| format!("{}: {}", d.kind.as_str(), d.detail)),
        seals: v.seals,
        seals_ok: seals.len() as u64,
        sealed: v.sealed,
        checkpoints: checkpoints.iter().filter(|c| c.signed_ok).count() as u64,
    }
}

/// What the read of the ledger found: its integrity and the facts of the range.
#[derive(Debug)]
pub(super) struct Read {
    pub checked: Checked,
    pub range: RangeReader,
}

/// Reads the ledger once: verification, the checkpoints' roots and the facts of the range.
pub(super) fn read(
    dir: &Path,
    key: Option<&SealKey>,
    verifier: Option<&NoteVerifier>,
    sel: &Selection,
    by: Option<Period>,
) -> Result<Read> {
    let mut range = RangeReader::new(sel.clone(), by);
    let checked = read_checked(dir, key, verifier, |line, at: Located| {
        range.add(Rec::from_located(line, &at));
    })
    .context("cannot verify the ledger")?;
    Ok(Read { checked, range })
}

/// Collects the facts of the selected records, one line of the log after the other.
#[derive(Debug)]
pub(super) struct RangeReader {
    sel: Selection,
    facts: Facts,
    genesis_ts: Option<i64>,
    windows: Option<Windows>,
    /// Lines seen.
    index: u64,
    /// Past the end of a seq range.
    done: bool,
}

impl RangeReader {
    pub(super) fn new(sel: Selection, by: Option<Period>) -> RangeReader {
        RangeReader {
            sel,
            facts: Facts::default(),
            genesis_ts: None,
            windows: by.map(Windows::new),
            index: 0,
            done: false,
        }
    }

    /// Takes the next line of the log: its record, or `None` for a damaged line (verification
    /// reports it; the range skips it).
    pub(super) fn add(&mut self, r: Option<Rec<'_>>) {
        self.index += 1;
        let Some(r) = r else {
            return;
        };
        if self.done {
            return;
        }
        if r.seq == 0 {
            self.genesis_ts = Some(r.ts);
        }
        let keep = match self.sel {
            Selection::All => true,
            Selection::Seqs(a, b) => {
                if r.seq > b && self.index > b + 1 {
                    self.done = true;
                    return;
                }
                r.seq >= a && r.seq <= b
            }
            Selection::Time { since, until } => {
                since.is_none_or(|s| r.ts >= s) && until.is_none_or(|u| r.ts < u)
            }
        };
        if keep {
            self.facts.add(&r);
            if let Some(w) = self.windows.as_mut() {
                w.add(&r);
            }
        }
    }
}

fn describe(sel: &Selection) -> String {
    match sel {
        Selection::All => "all records".into(),
        Selection::Seqs(a, b) => format!("--range {a}..{b}"),
        Selection::Time { since, until } => {
            let mut s = String::new();
            if let Some(t) = since {
                s.push_str(&format!("--since {}", rfc3339(*t)));
            }
            if let Some(t) = until {
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(&format!("--until {}", rfc3339(*t)));
            }
            if s.is_empty() {
                s.push_str("all records");
            }
            s
        }
    }
}

/// RFC 3339 UTC with seconds, from microseconds since the epoch.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Evaluates one control (predicate results are shared through `cache`).
fn evaluate_control(
    c: &Control,
    inputs: &Inputs<'_>,
    cache: &mut HashMap<String, PredicateResult>,
    opts: &Options,
) -> ControlResult {
    let results: Vec<PredicateResult> = c
        .pass
        .iter()
        .map(|name| {
            cache
                .entry(name.clone())
                .or_insert_with(|| {
                    Predicate::parse(name)
                        .expect("catalogue predicates parse (checked by tests)")
                        .eval(name, inputs)
                })
                .clone()
        })
        .collect();
    let (status, reason) = combine(c, &results, inputs, opts);
    let mut evidence: Vec<Evidence> = Vec::new();
    for e in results.iter().flat_map(|r| &r.evidence) {
        if !evidence.contains(e) {
            evidence.push(e.clone());
        }
    }
    ControlResult {
        framework: c.framework.clone(),
        id: c.id.clone(),
        title: c.title.clone(),
        status,
        reason,
        evidence,
        predicates: results,
        gateway_evidences: c.evidence.clone(),
        cannot_evidence: c.cannot.clone(),
    }
}

/// The status rules of compliance-controls.md §1.
fn combine(
    c: &Control,
    results: &[PredicateResult],
    inputs: &Inputs<'_>,
    opts: &Options,
) -> (Status, String) {
    if opts.out_of_scope.contains(&c.framework) {
        return (
            Status::NotApplicable,
            format!(
                "the organisation declared {} out of scope (--out-of-scope)",
                c.framework
            ),
        );
    }
    let reads_records = c
        .pass
        .iter()
        .any(|p| Predicate::parse(p).is_some_and(|p| p.reads_records()));
    if let Some(d) = inputs.damage {
        let why = format!(
            "ledger verification fails at seq {} ({}), so the records this control relies on cannot be trusted",
            d.seq,
            d.kind.as_str()
        );
        if reads_records || c.pass.iter().any(|p| p == "VERIFIED") {
            return (Status::NotSatisfied, why);
        }
    }
    if let Some(kind) = &c.na {
        let activity = match kind.as_str() {
            "network" => inputs.facts.network.count + inputs.facts.servers.len() as u64,
            "privileged" => inputs.facts.privileged.count,
            _ => inputs.facts.incidents.count,
        };
        let covered = results
            .iter()
            .find(|r| r.name == "COVERED")
            .map(|r| r.level == Level::Holds)
            .unwrap_or_else(|| Predicate::Covered.eval("COVERED", inputs).level == Level::Holds);
        if activity == 0 && covered {
            return (
                Status::NotApplicable,
                format!(
                    "no {kind} activity in the range and every executed call was decided, so the control has nothing to apply to"
                ),
            );
        }
    }
    let first = |pred: &dyn Fn(&PredicateResult) -> bool| results.iter().find(|r| pred(r));
    let say = |r: &PredicateResult| format!("{}: {}", r.name, r.reason);
    if results.iter().all(|r| r.level == Level::Holds) {
        if let Some(d) = inputs.damage {
            return (
                Status::PartiallySatisfied,
                format!(
                    "capped at partial: ledger verification fails at seq {} ({})",
                    d.seq,
                    d.kind.as_str()
                ),
            );
        }
        let main = first(&|r| r.name != "VERIFIED").unwrap_or(&results[0]);
        return (Status::Satisfied, say(main));
    }
    if let Some(r) = first(&|r| r.level == Level::Fails && c.core.contains(&r.name)) {
        return (Status::NotSatisfied, say(r));
    }
    // What the control is about: its predicates other than VERIFIED, and its core ones.
    let substantive: Vec<&PredicateResult> =
        results.iter().filter(|r| r.name != "VERIFIED").collect();
    let any_support = results.iter().any(|r| {
        (r.name != "VERIFIED" || c.core.contains(&r.name))
            && matches!(r.level, Level::Holds | Level::Partial)
    });
    if !any_support {
        if let Some(r) = substantive.iter().find(|r| r.level == Level::Fails) {
            return (Status::NotSatisfied, say(r));
        }
        let r = substantive.first().copied().unwrap_or(&results[0]);
        return (Status::NotEvidenced, say(r));
    }
    let r = first(&|r| r.level != Level::Holds && r.name != "VERIFIED")
        .or_else(|| first(&|r| r.level != Level::Holds))
        .expect("not all hold");
    (Status::PartiallySatisfied, say(r))
}
