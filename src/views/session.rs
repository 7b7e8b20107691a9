//! [`SessionView`]: the story of one session — header, timeline of joined calls and events, and
//! a closing summary — built from its records. `replay` renders it as text or HTML.

use super::calls::{Call, Item, join};
use super::diffs::{self, FileDiff};
use super::entry::{Entry, risk_rank};
use super::source::Source;
use crate::ledger::scan::scan;
use anyhow::Result;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How far the session's records were checked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verification {
    /// Records whose stored hash matches their content.
    pub hashes_ok: usize,
    /// Records of the session.
    pub records: usize,
    /// Whether a seal covers the session's last record.
    pub sealed: bool,
    /// The whole chain was verified (done when the ledger is small enough to be quick).
    pub chain: Option<bool>,
}

impl Verification {
    /// Every check that ran passed.
    pub fn ok(&self) -> bool {
        self.hashes_ok == self.records && self.chain != Some(false)
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let mut s = format!("{}/{} record hashes match", self.hashes_ok, self.records);
        match self.chain {
            Some(true) => s.push_str("; whole chain verified"),
            Some(false) => s.push_str("; CHAIN DAMAGED (run `patchwork-gateway verify`)"),
            None => s.push_str("; chain not rechecked here (run `patchwork-gateway verify`)"),
        }
        s.push_str(if self.sealed {
            "; sealed"
        } else {
            "; not yet sealed"
        });
        s
    }
}

/// Counts and lists that close a replay.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub calls: usize,
    pub refused: usize,
    pub gaps: usize,
    pub failed: usize,
    pub files_created: BTreeSet<String>,
    pub files_modified: BTreeSet<String>,
    pub files_deleted: BTreeSet<String>,
    pub commands: Vec<String>,
    /// Refused calls per rule id (`(none)` when no rule matched).
    pub refusals_by_rule: BTreeMap<String, usize>,
    /// Calls per risk name, from `none` to `critical`.
    pub risk: Vec<(String, usize)>,
}

/// One session, ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub session: String,
    pub agent: Option<String>,
    /// The project folder (the session's first working directory).
    pub project: Option<String>,
    pub model: Option<String>,
    /// First and last record times (µs since the epoch).
    pub start_us: i64,
    pub last_us: i64,
    /// Whether a `session.end` was recorded.
    pub ended: bool,
    /// Distinct policies in force (`name hash`).
    pub policies: Vec<String>,
    pub verification: Verification,
    pub items: Vec<Item>,
    pub summary: Summary,
    /// Diffs of file writes recovered from git, by decision seq (see [`diffs`]).
    pub diffs: HashMap<u64, FileDiff>,
}

/// Largest ledger whose whole chain `replay` re-verifies (about a second of work).
const VERIFY_CHAIN_UP_TO: u64 = 200_000;

impl SessionView {
    /// Loads session `id` (already resolved) from `source`, with the diffs of its file writes
    /// where git still has them.
    pub fn load(source: &Source, id: &str) -> Result<SessionView> {
        let records = source.session_records(id)?;
        let ledger_dir = source.log_path();
        let dir = ledger_dir.parent().unwrap_or(std::path::Path::new("."));
        let status = crate::ledger::status_dir(dir).ok();
        // Seals are checked with the key when it is there (as `verify` does).
        let key_path = dir.parent().unwrap_or(dir).join("keys").join("seal.key");
        let key = key_path
            .exists()
            .then(|| crate::ledger::SealKey::load(&key_path).ok())
            .flatten();
        let chain = match &status {
            Some(s) if s.records <= VERIFY_CHAIN_UP_TO => {
                crate::ledger::verify_dir(dir, key.as_ref())
                    .ok()
                    .map(|r| r.intact)
            }
            _ => None,
        };
        let sealed_count = status
            .as_ref()
            .and_then(|s| s.last_seal.as_ref())
            .map_or(0, |s| s.count);
        let mut view = SessionView::build(id, records, sealed_count, chain);
        view.diffs = diffs::recover(view.items.iter().filter_map(|i| match i {
            Item::Call(c) => Some(c.as_ref()),
            Item::Event(_) => None,
        }));
        Ok(view)
    }

    /// Builds the view from the session's records. `sealed_count`: records covered by the
    /// newest seal; `chain`: the result of a whole-chain verification, if one ran.
    pub fn build(
        id: &str,
        records: Vec<Entry>,
        sealed_count: u64,
        chain: Option<bool>,
    ) -> SessionView {
        let hashes_ok = records
            .iter()
            .filter(|e| !e.raw.is_empty() && scan(e.raw.as_bytes()).is_ok_and(|s| s.hash_ok))
            .count();
        let last_seq = records.last().map_or(0, |e| e.seq);
        let verification = Verification {
            hashes_ok,
            records: records.len(),
            sealed: !records.is_empty() && sealed_count > last_seq,
            chain,
        };
        let first = |f: fn(&Entry) -> Option<&String>| records.iter().find_map(|e| f(e).cloned());
        let agent = first(|e| e.agent.as_ref());
        let project = first(|e| e.cwd.as_ref());
        let model = first(|e| e.model.as_ref());
        let start_us = records.first().map_or(0, |e| e.ts);
        let last_us = records.last().map_or(0, |e| e.ts);
        let ended = records.iter().any(|e| e.event == "session.end");
        let mut policies: Vec<String> = Vec::new();
        for e in records.iter().filter(|e| e.is_decision()) {
            if let Some(p) = &e.policy {
                let label = match &e.policy_name {
                    Some(n) => format!("{n} {p}"),
                    None => p.clone(),
                };
                if !policies.contains(&label) {
                    policies.push(label);
                }
            }
        }
        let items = join(records);
        let summary = summarise(&items);
        SessionView {
            session: id.to_string(),
            agent,
            project,
            model,
            start_us,
            last_us,
            ended,
            policies,
            verification,
            items,
            summary,
            diffs: HashMap::new(),
        }
    }

    /// Duration from the first to the last record, in seconds.
    pub fn duration_secs(&self) -> f64 {
        (self.last_us - self.start_us) as f64 / 1e6
    }
}

/// Which timeline entries `replay` shows (the summary always covers the whole session).
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    /// Only calls at or above this risk rank.
    pub min_risk: Option<u8>,
    /// Only refused calls (and enforcement gaps).
    pub refused_only: bool,
    /// Only calls that touch files.
    pub files_only: bool,
}

impl ReplayFilter {
    /// Whether an item is shown.
    pub fn shows(&self, item: &Item) -> bool {
        let active = self.min_risk.is_some() || self.refused_only || self.files_only;
        match item {
            Item::Event(e) => !active || (self.refused_only && e.event == "enforcement.gap"),
            Item::Call(c) => {
                let d = &c.decision;
                if let Some(min) = self.min_risk
                    && risk_rank(d.risk()).is_none_or(|r| r < min)
                {
                    return false;
                }
                if self.refused_only && !c.refused() && c.gaps.is_empty() {
                    return false;
                }
                if self.files_only && !touches_files(c) {
                    return false;
                }
                true
            }
        }
    }
}

fn touches_files(c: &Call) -> bool {
    c.decision
        .target
        .iter()
        .chain(c.decision.action.iter())
        .any(|t| t.starts_with("file_"))
}

/// The target paths of `call` for `action` (`file_write` …).
fn targets_of<'a>(call: &'a Call, actions: &'a [&str]) -> impl Iterator<Item = String> + 'a {
    call.decision.target.iter().filter_map(move |t| {
        let (a, v) = t.split_once(':')?;
        actions.contains(&a).then(|| v.to_string())
    })
}

fn summarise(items: &[Item]) -> Summary {
    let mut s = Summary::default();
    let mut risk = [0usize; 5];
    for item in items {
        match item {
            Item::Event(e) if e.event == "enforcement.gap" => s.gaps += 1,
            Item::Event(_) => {}
            Item::Call(c) => {
                s.calls += 1;
                s.gaps += c.gaps.len();
                if let Some(r) = risk_rank(c.decision.risk()) {
                    risk[r as usize] += 1;
                }
                if c.refused() {
                    s.refused += 1;
                    let rules: Vec<&String> = std::iter::once(&c.decision)
                        .chain(&c.linked)
                        .filter(|d| d.refused())
                        .flat_map(|d| &d.rules)
                        .collect();
                    if rules.is_empty() {
                        *s.refusals_by_rule.entry("(none)".into()).or_default() += 1;
                    }
                    for r in rules {
                        *s.refusals_by_rule.entry(r.clone()).or_default() += 1;
                    }
                    if c.gaps.is_empty() {
                        continue;
                    }
                }
                if matches!(c.status(), "error" | "failed" | "timeout" | "interrupted") {
                    s.failed += 1;
                }
                s.files_created.extend(targets_of(c, &["file_create"]));
                s.files_modified
                    .extend(targets_of(c, &["file_write", "file_edit"]));
                s.files_deleted.extend(targets_of(c, &["file_delete"]));
                s.commands.extend(targets_of(c, &["command_execute"]));
            }
        }
    }
    for f in &s.files_created {
        s.files_modified.remove(f);
    }
    s.risk = ["none", "low", "medium", "high", "critical"]
        .iter()
        .zip(risk)
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    s
}
