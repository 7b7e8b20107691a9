//! The evidence predicates of `compliance-controls.md` §1 (and a few gateway-specific ones),
//! one function each, evaluated over the facts of a verified range.

use super::facts::{DAY_US, Facts};
use super::model::{Evidence, Level, PredicateResult};
use crate::call::{Effect, Flag};
use crate::ledger::{Damage, Seal};
use crate::policy::{Mode, Policy};

/// A checkpoint of the ledger, as [`super::checkpoints`] checked it.
#[derive(Debug, Clone)]
pub struct CheckpointRef {
    /// Records covered (`0..size`).
    pub size: u64,
    /// `sha256:<hex>` Merkle root.
    pub root: String,
    /// The note file, relative to the gateway's home.
    pub file: String,
    /// `sha256:<hex>` of the note file.
    pub note_sha256: String,
    /// Signature verified with the checkpoint key, and the log still has its root.
    pub signed_ok: bool,
    /// Witnesses whose cosignature is stored beside it (outside the agent's reach).
    pub witnesses: Vec<String>,
    /// Microseconds since the epoch when it was signed.
    pub time: i64,
}

impl CheckpointRef {
    /// Accepted by a witness running outside the agent's reach.
    pub fn anchored(&self) -> bool {
        self.signed_ok && !self.witnesses.is_empty()
    }

    /// Whether it vouches for the range ending at seq `end`: it covers it, or `end` is the
    /// checkpoint's own `ledger.checkpoint` record (written right after it, under the lock).
    fn reaches(&self, end: u64) -> bool {
        self.size >= end
    }
}

/// How long records may wait for an anchor (compliance-controls.md §1: default 24 h).
pub const ANCHOR_LAG_US: i64 = DAY_US;

/// Everything a predicate may look at.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub facts: &'a Facts,
    /// The first damage `verify` found at or before the range end, if any.
    pub damage: Option<&'a Damage>,
    /// Records verified from the genesis record on.
    pub verified_records: u64,
    /// Seals whose MAC and tip verified.
    pub seals: &'a [Seal],
    pub checkpoints: &'a [CheckpointRef],
    /// The loaded policy (its rules are inspected when its hash is the one in force).
    pub policy: Option<&'a Policy>,
    /// Time of the genesis record (seq 0), when it is present.
    pub genesis_ts: Option<i64>,
}

/// Rule categories of `RULES(cat)`.
pub const CATEGORIES: [&str; 9] = [
    "secrets",
    "privileged",
    "egress",
    "exfil",
    "install",
    "destructive",
    "self_protect",
    "phi",
    "cde",
];

/// One predicate with its parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    Verified,
    Signed,
    Anchored,
    Policy,
    Tested,
    Enforced,
    Covered,
    Identified,
    Clock,
    Reviewed(&'static str),
    Triaged,
    Approvals,
    Halt,
    Redacted,
    /// Retention in days.
    Retained(i64),
    Inventory,
    Rules(&'static str),
    /// Every policy-hash switch explained by a recorded `policy.change`.
    Changes,
    /// Every recorded policy change names an approver other than the agent.
    ChangesApproved,
    /// Decision records complete: verdict, rule ids and reason.
    Decisions,
    Outcomes,
    Sessions,
    /// Records carry the required fields (compliance-controls.md §9).
    Fields,
    /// Fail closed on internal errors, errors recorded.
    FailClosed,
    /// The gateway reported itself armed at every session start.
    Armed,
    Alerts,
    /// Scheduled verification runs recorded.
    Evaluations,
    UnknownToolsGuarded,
    /// The policy in force is reproducible from its stamped hash.
    PolicyExportable,
    /// Inputs and outputs stored as commitments only.
    Commitments,
    Lifecycle,
    SettingsWatch,
    OutputRedaction,
    Pruned,
    Erasure,
    Grants,
    ScopeDocument,
    DataCategories,
    ApproverRoles,
    Logoff,
    Authenticated,
    SeparateOwner,
}

impl Predicate {
    /// Parses a catalogue name (`VERIFIED`, `RULES(exfil)`, `RETAINED(6mo)`, …).
    pub fn parse(s: &str) -> Option<Predicate> {
        let (name, arg) = match s.split_once('(') {
            Some((n, rest)) => (n, Some(rest.strip_suffix(')')?)),
            None => (s, None),
        };
        Some(match (name, arg) {
            ("VERIFIED", None) => Predicate::Verified,
            ("SIGNED", None) => Predicate::Signed,
            ("ANCHORED", None) => Predicate::Anchored,
            ("POLICY", None) => Predicate::Policy,
            ("TESTED", None) => Predicate::Tested,
            ("ENFORCED", None) => Predicate::Enforced,
            ("COVERED", None) => Predicate::Covered,
            ("IDENTIFIED", None) => Predicate::Identified,
            ("CLOCK", None) => Predicate::Clock,
            ("REVIEWED", Some(c)) => Predicate::Reviewed(
                ["daily", "weekly", "monthly"]
                    .into_iter()
                    .find(|x| *x == c)?,
            ),
            ("TRIAGED", None) => Predicate::Triaged,
            ("APPROVALS", None) => Predicate::Approvals,
            ("HALT", None) => Predicate::Halt,
            ("REDACTED", None) => Predicate::Redacted,
            ("RETAINED", Some(t)) => Predicate::Retained(match t {
                "6mo" => 183,
                "12mo" => 365,
                "13mo" => 396,
                "6y" => 6 * 365 + 1,
                _ => return None,
            }),
            ("INVENTORY", None) => Predicate::Inventory,
            ("RULES", Some(c)) => Predicate::Rules(CATEGORIES.into_iter().find(|x| *x == c)?),
            ("CHANGES", None) => Predicate::Changes,
            ("CHANGES_APPROVED", None) => Predicate::ChangesApproved,
            ("DECISIONS", None) => Predicate::Decisions,
            ("OUTCOMES", None) => Predicate::Outcomes,
            ("SESSIONS", None) => Predicate::Sessions,
            ("FIELDS", None) => Predicate::Fields,
            ("FAILCLOSED", None) => Predicate::FailClosed,
            ("ARMED", None) => Predicate::Armed,
            ("ALERTS", None) => Predicate::Alerts,
            ("EVALUATIONS", None) => Predicate::Evaluations,
            ("UNKNOWN_TOOLS_GUARDED", None) => Predicate::UnknownToolsGuarded,
            ("POLICY_EXPORTABLE", None) => Predicate::PolicyExportable,
            ("COMMITMENTS", None) => Predicate::Commitments,
            ("LIFECYCLE", None) => Predicate::Lifecycle,
            ("SETTINGS_WATCH", None) => Predicate::SettingsWatch,
            ("OUTPUT_REDACTION", None) => Predicate::OutputRedaction,
            ("PRUNED", None) => Predicate::Pruned,
            ("ERASURE", None) => Predicate::Erasure,
            ("GRANTS", None) => Predicate::Grants,
            ("SCOPE_DOCUMENT", None) => Predicate::ScopeDocument,
            ("DATA_CATEGORIES", None) => Predicate::DataCategories,
            ("APPROVER_ROLES", None) => Predicate::ApproverRoles,
            ("LOGOFF", None) => Predicate::Logoff,
            ("AUTHENTICATED", None) => Predicate::Authenticated,
            ("SEPARATE_OWNER", None) => Predicate::SeparateOwner,
            _ => return None,
        })
    }

    /// Whether the predicate reads the records (and so fails with a broken chain).
    pub fn reads_records(&self) -> bool {
        !matches!(
            self,
            Predicate::Verified
                | Predicate::Signed
                | Predicate::Anchored
                | Predicate::Rules(_)
                | Predicate::UnknownToolsGuarded
                | Predicate::OutputRedaction
                | Predicate::Grants
                | Predicate::ScopeDocument
                | Predicate::DataCategories
                | Predicate::ApproverRoles
                | Predicate::Logoff
                | Predicate::Authenticated
                | Predicate::SeparateOwner
        )
    }

    /// Evaluates the predicate.
    pub fn eval(&self, name: &str, i: &Inputs<'_>) -> PredicateResult {
        let (level, reason, evidence) = match self {
            Predicate::Verified => verified(i),
            Predicate::Signed => signed(i),
            Predicate::Anchored => anchored(i),
            Predicate::Policy => policy(i),
            Predicate::Tested => tested(i),
            Predicate::Enforced => enforced(i),
            Predicate::Covered => covered(i),
            Predicate::Identified => identified(i),
            Predicate::Clock => clock(i),
            Predicate::Reviewed(c) => reviewed(i, c),
            Predicate::Triaged => triaged(i),
            Predicate::Approvals => approvals(i),
            Predicate::Halt => recorded_events(
                i,
                &["session.halt", "halt.drill"],
                "the gateway has no session halt (kill switch) yet, and no halt or drill is recorded",
            ),
            Predicate::Redacted => redacted(i),
            Predicate::Retained(days) => retained(i, *days),
            Predicate::Inventory => inventory(i),
            Predicate::Rules(cat) => rules(i, cat),
            Predicate::Changes => changes(i),
            Predicate::ChangesApproved => changes_approved(i),
            Predicate::Decisions => decisions(i),
            Predicate::Outcomes => outcomes(i),
            Predicate::Sessions => sessions(i),
            Predicate::Fields => fields(i),
            Predicate::FailClosed => fail_closed(i),
            Predicate::Armed => armed(i),
            Predicate::Alerts => alerts(i),
            Predicate::Evaluations => recorded_events(
                i,
                &["verify.run"],
                "verification runs are not recorded in the ledger (run `patchwork-gateway verify` on a schedule and keep its output)",
            ),
            Predicate::UnknownToolsGuarded => unknown_tools(i),
            Predicate::PolicyExportable => policy_exportable(i),
            Predicate::Commitments => commitments(i),
            Predicate::Lifecycle => lifecycle(i),
            Predicate::SettingsWatch => recorded_events(
                i,
                &["watchdog.repair"],
                "no settings repair is recorded; the watchdog records repairs only, not that it ran",
            ),
            Predicate::Pruned => recorded_events(
                i,
                &["ledger.prune"],
                "the gateway does not prune the ledger yet (it keeps only hashes and commitments of inputs)",
            ),
            Predicate::Erasure => recorded_events(
                i,
                &["privacy.erase"],
                "the gateway has no crypto-shredding erasure yet",
            ),
            Predicate::OutputRedaction => not_evidenced(
                "the gateway records tool output only as a hash and does not rewrite output returned to the agent",
            ),
            Predicate::Grants => not_evidenced("per-agent grants are not a gateway feature yet"),
            Predicate::ScopeDocument => not_evidenced(
                "the logging-scope document is written by the provider, not the gateway",
            ),
            Predicate::DataCategories => {
                not_evidenced("the gateway does not tag personal-data categories")
            }
            Predicate::ApproverRoles => {
                not_evidenced("approver roles are not configured in the gateway")
            }
            Predicate::Logoff => not_evidenced("the gateway has no idle-session timeout"),
            Predicate::Authenticated => not_evidenced(
                "the gateway does not authenticate callers (no OAuth, mTLS or peer-credential identity yet)",
            ),
            Predicate::SeparateOwner => not_evidenced(
                "the ledger is written under the agent's own user (no daemon mode yet); only checkpoints anchored elsewhere protect it",
            ),
        };
        PredicateResult {
            name: name.to_string(),
            level,
            reason,
            evidence,
        }
    }
}

type Eval = (Level, String, Vec<Evidence>);

fn not_evidenced(why: &str) -> Eval {
    bare(Level::NotEvidenced, why)
}

/// A result with nothing to point at.
fn bare(level: Level, reason: impl Into<String>) -> Eval {
    (level, reason.into(), Vec::new())
}

/// A result pointing at one record (the first of its kind).
fn at_record(level: Level, reason: String, seq: u64, what: impl Into<String>) -> Eval {
    (level, reason, vec![record_pointer(seq, what)])
}

/// A result pointing at a count over the range.
fn counted(level: Level, reason: String, what: String, f: &Facts) -> Eval {
    (level, reason, vec![count_pointer(what, span(f))])
}

/// The range as an evidence pointer.
fn range_pointer(f: &Facts, what: &str) -> Vec<Evidence> {
    match (f.first_seq, f.last_seq) {
        (Some(a), Some(b)) => vec![Evidence {
            kind: "ledger-range".into(),
            description: format!("{what}: records {a}..{b} ({} records)", f.records),
            seqs: Some((a, b)),
            hash: f.tip.clone(),
            check: "patchwork-gateway verify && patchwork-gateway log --json".into(),
        }],
        _ => Vec::new(),
    }
}

fn record_pointer(seq: u64, what: impl Into<String>) -> Evidence {
    Evidence {
        kind: "record".into(),
        description: what.into(),
        seqs: Some((seq, seq)),
        hash: None,
        check: format!("patchwork-gateway prove {seq}"),
    }
}

fn count_pointer(what: String, seqs: Option<(u64, u64)>) -> Evidence {
    Evidence {
        kind: "count".into(),
        description: what,
        seqs,
        hash: None,
        check: "patchwork-gateway log --json".into(),
    }
}

fn span(f: &Facts) -> Option<(u64, u64)> {
    f.first_seq.zip(f.last_seq)
}

fn verified(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(d) = i.damage {
        return at_record(
            Level::Fails,
            format!(
                "ledger verification fails at seq {} ({}): {}",
                d.seq,
                d.kind.as_str(),
                d.detail
            ),
            d.seq,
            format!("first bad record: seq {}", d.seq),
        );
    }
    let Some(b) = f.last_seq else {
        return bare(
            Level::Partial,
            "the range holds no records, so there is nothing to verify",
        );
    };
    (
        Level::Holds,
        format!(
            "every record from the genesis record to seq {b} re-hashes and links ({} verified)",
            i.verified_records
        ),
        range_pointer(f, "hash chain verified"),
    )
}

/// The newest valid seal covering the range end.
fn covering_seal<'a>(i: &Inputs<'a>) -> Option<&'a Seal> {
    let b = i.facts.last_seq?;
    i.seals
        .iter()
        .filter(|s| s.count > b)
        .min_by_key(|s| s.count)
}

fn seal_pointer(s: &Seal) -> Evidence {
    Evidence {
        kind: "seal".into(),
        description: format!(
            "HMAC seal over {} records (key {}, {})",
            s.count, s.key_id, s.mac
        ),
        seqs: Some((0, s.count.saturating_sub(1))),
        hash: Some(s.tip.clone()),
        check: "patchwork-gateway verify".into(),
    }
}

fn checkpoint_pointer(c: &CheckpointRef) -> Evidence {
    let (cosigned, check) = if c.anchored() {
        (
            format!(", cosigned by {}", c.witnesses.join(", ")),
            "patchwork-gateway verify --witness SOCKET|DIR --pubkey KEY",
        )
    } else {
        (String::new(), "patchwork-gateway verify --pubkey KEY")
    };
    Evidence {
        kind: "checkpoint".into(),
        description: format!(
            "Ed25519-signed checkpoint {} of {} records (note {}){cosigned}",
            c.file, c.size, c.note_sha256
        ),
        seqs: Some((0, c.size.saturating_sub(1))),
        hash: Some(c.root.clone()),
        check: check.into(),
    }
}

fn signed(i: &Inputs<'_>) -> Eval {
    let Some(b) = i.facts.last_seq else {
        return bare(Level::Fails, "the range holds no records");
    };
    let valid = || i.checkpoints.iter().filter(|c| c.signed_ok);
    if let Some(c) = valid().filter(|c| c.reaches(b)).min_by_key(|c| c.size) {
        return (
            Level::Holds,
            format!(
                "an Ed25519-signed checkpoint of {} records, whose root the log still has, covers the range end (seq {b})",
                c.size
            ),
            vec![checkpoint_pointer(c)],
        );
    }
    if let Some(c) = valid().max_by_key(|c| c.size) {
        return (
            Level::Partial,
            format!(
                "the newest signed checkpoint covers {} records; the {} records after it up to seq {b} are not signed yet (run `patchwork-gateway checkpoint`)",
                c.size,
                b - c.size
            ),
            vec![checkpoint_pointer(c)],
        );
    }
    match covering_seal(i) {
        Some(s) => (
            Level::Partial,
            format!(
                "HMAC_ONLY: seal of {} records covers seq {b}, but no Ed25519-signed checkpoint does (the HMAC key sits beside the ledger)",
                s.count
            ),
            vec![seal_pointer(s)],
        ),
        None => bare(
            Level::Fails,
            format!("no valid seal or signed checkpoint covers the range end (seq {b})"),
        ),
    }
}

fn anchored(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    let (Some(b), Some(end_ts)) = (f.last_seq, f.last_ts) else {
        return bare(Level::Fails, "the range holds no records");
    };
    let anchored = || i.checkpoints.iter().filter(|c| c.anchored());
    if let Some(c) = anchored().filter(|c| c.reaches(b)).min_by_key(|c| c.size) {
        return (
            Level::Holds,
            format!(
                "a checkpoint of {} records covering the range end (seq {b}) is cosigned by a witness outside the agent's reach",
                c.size
            ),
            vec![checkpoint_pointer(c)],
        );
    }
    let Some(c) = anchored().max_by_key(|c| c.size) else {
        return bare(
            Level::Fails,
            format!(
                "no checkpoint is cosigned by a witness outside the agent's reach, so nothing anchors seq {b}"
            ),
        );
    };
    let lag = end_ts.saturating_sub(c.time);
    let tail = format!(
        "the newest witnessed checkpoint covers {} records; the {} records after it up to seq {b} span {:.1} h",
        c.size,
        b - c.size,
        lag as f64 / 3_600_000_000.0
    );
    if lag <= ANCHOR_LAG_US {
        (
            Level::Holds,
            format!("{tail}, within the 24 h anchoring lag"),
            vec![checkpoint_pointer(c)],
        )
    } else {
        (
            Level::Partial,
            format!("{tail}, more than the 24 h anchoring lag"),
            vec![checkpoint_pointer(c)],
        )
    }
}

/// The loaded policy, when it is the one stamped on every decision of the range.
fn policy_in_force<'a>(i: &Inputs<'a>) -> Result<&'a Policy, String> {
    let Some(p) = i.policy else {
        return Err("no policy could be loaded for inspection".into());
    };
    let f = i.facts;
    if f.policies.is_empty() || (f.policies.len() == 1 && f.policies.contains_key(p.hash())) {
        Ok(p)
    } else {
        Err(format!(
            "the loaded policy {} ({}) is not the only policy stamped in the range ({} hashes); pass the policy in force with --policy to inspect its rules",
            p.name,
            p.hash(),
            f.policies.len()
        ))
    }
}

fn policy_pointer(p: &Policy) -> Evidence {
    Evidence {
        kind: "policy".into(),
        description: format!("policy `{}` ({})", p.name, p.source()),
        seqs: None,
        hash: Some(p.hash().to_string()),
        check: "patchwork-gateway policy show".into(),
    }
}

fn stamped_pointers(f: &Facts) -> Vec<Evidence> {
    f.policies
        .iter()
        .map(|(h, s)| Evidence {
            kind: "policy".into(),
            description: format!(
                "policy hash stamped on {} decisions, seq {}..{}",
                s.decisions, s.first_seq, s.last_seq
            ),
            seqs: Some((s.first_seq, s.last_seq)),
            hash: Some(h.clone()),
            check: "patchwork-gateway log --json".into(),
        })
        .collect()
}

fn policy(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(seq) = f.unstamped.first() {
        return at_record(
            Level::Fails,
            format!(
                "{} decisions carry no policy hash, the first at seq {seq}",
                f.unstamped.count
            ),
            seq,
            "decision without a policy hash",
        );
    }
    if f.decisions == 0 {
        return bare(
            Level::Partial,
            "no decision in the range shows which policy was in force",
        );
    }
    let ev = stamped_pointers(f);
    match policy_in_force(i) {
        Ok(p) if p.rules().is_empty() && p.default_effect() == Effect::Allow => (
            Level::Fails,
            format!(
                "the policy in force ({}) has no rules and allows by default",
                p.hash()
            ),
            ev,
        ),
        Ok(p) => (
            Level::Holds,
            format!(
                "policy `{}` with {} rules is stamped on all {} decisions",
                p.name,
                p.rules().len(),
                f.decisions
            ),
            ev,
        ),
        Err(why) => (
            Level::Holds,
            format!(
                "a policy hash is stamped on all {} decisions ({} distinct); {why}",
                f.decisions,
                f.policies.len()
            ),
            ev,
        ),
    }
}

fn tested(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if f.event_count("policy.test") == 0 {
        return not_evidenced(
            "no policy.test event is recorded: `policy test` results are not written to the ledger yet",
        );
    }
    let untested: Vec<&String> = f
        .policies
        .keys()
        .filter(|h| !f.tested_policies.contains(*h))
        .collect();
    match untested.first() {
        None => (
            Level::Holds,
            format!(
                "a passing policy test is recorded for all {} policy hashes",
                f.policies.len()
            ),
            stamped_pointers(f),
        ),
        Some(h) => (
            Level::Partial,
            format!(
                "{} policy hashes in force have no passing test, e.g. {h}",
                untested.len()
            ),
            stamped_pointers(f),
        ),
    }
}

fn enforced(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    match f.audit_windows.first() {
        None if f.decisions == 0 => bare(
            Level::Partial,
            "no decision in the range shows the engine mode",
        ),
        None => (
            Level::Holds,
            format!(
                "all {} decisions were enforced (no audit-mode verdicts)",
                f.decisions
            ),
            range_pointer(f, "enforced decisions"),
        ),
        Some((a, b)) => (
            Level::Partial,
            format!(
                "{} decisions were made in audit mode (verdict recorded, call allowed), first window seq {a}..{b}{}",
                f.audited.count,
                if f.event_count("mode.change") == 0 {
                    ", with no recorded mode.change"
                } else {
                    ""
                }
            ),
            f.audit_windows
                .iter()
                .map(|(a, b)| {
                    count_pointer(format!("audit-mode window seq {a}..{b}"), Some((*a, *b)))
                })
                .collect(),
        ),
    }
}

fn covered(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(seq) = f.gaps.first() {
        return (
            Level::Fails,
            format!(
                "{} enforcement gaps (a call ran without a decision, or despite a denial), the first recorded at seq {seq}",
                f.gaps.count
            ),
            f.gaps
                .examples
                .iter()
                .map(|s| record_pointer(*s, "enforcement.gap"))
                .collect(),
        );
    }
    if let Some(seq) = f.ran_after_deny.first() {
        return at_record(
            Level::Fails,
            format!(
                "{} outcomes follow a denied decision, the first at seq {seq}",
                f.ran_after_deny.count
            ),
            seq,
            "outcome of a denied call",
        );
    }
    if f.decisions == 0 {
        return bare(
            Level::Partial,
            "no tool call was decided in the range, so coverage cannot be shown",
        );
    }
    counted(
        Level::Holds,
        format!(
            "{} decisions and {} outcomes with no enforcement gap and no outcome of a denied call",
            f.decisions, f.outcomes
        ),
        format!(
            "{} decisions, {} outcomes, 0 enforcement.gap",
            f.decisions, f.outcomes
        ),
        f,
    )
}

fn identified(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    let total = f.identified + f.unidentified.count;
    if total == 0 {
        return bare(Level::Fails, "no agent activity in the range");
    }
    if f.identified == 0 {
        return bare(
            Level::Fails,
            "no activity record carries both an agent and a session id",
        );
    }
    if let Some(seq) = f.unidentified.first() {
        return at_record(
            Level::Partial,
            format!(
                "{} of {total} activity records lack an agent or session id, the first at seq {seq}",
                f.unidentified.count
            ),
            seq,
            "record without agent or session",
        );
    }
    let ev = vec![count_pointer(
        format!(
            "{total} activity records with agent and session id ({} sessions)",
            f.sessions.len()
        ),
        span(f),
    )];
    if f.with_os_user < total {
        return (
            Level::Partial,
            format!(
                "all {total} activity records carry an agent and session id, but {} are not bound to a person or service (no OS user or org identity)",
                total - f.with_os_user
            ),
            ev,
        );
    }
    (
        Level::Holds,
        format!("all {total} activity records carry agent, session and user identity"),
        ev,
    )
}

fn clock(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if f.records == 0 {
        return bare(Level::Fails, "no records in the range");
    }
    if let Some(seq) = f.ts_backwards.first() {
        return at_record(
            Level::Partial,
            format!(
                "timestamps go backwards {} times, the first at seq {seq}; no clock-status field bounds the skew",
                f.ts_backwards.count
            ),
            seq,
            "timestamp earlier than its predecessor",
        );
    }
    if f.with_clock < f.records {
        return (
            Level::Partial,
            "every record has a UTC timestamp in order, but no clock-status field bounds the host clock's skew".into(),
            range_pointer(f, "timestamps in order"),
        );
    }
    (
        Level::Holds,
        "every record has a UTC timestamp in order and a clock-status field".into(),
        range_pointer(f, "timestamps with clock status"),
    )
}

fn reviewed(i: &Inputs<'_>, cadence: &str) -> Eval {
    let f = i.facts;
    if f.review_days.is_empty() {
        return not_evidenced(
            "no review.signoff event is recorded; the gateway has no sign-off command yet",
        );
    }
    let max_gap = match cadence {
        "daily" => 1,
        "weekly" => 7,
        _ => 31,
    };
    let days: Vec<i64> = f.review_days.iter().copied().collect();
    let widest = days.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let ev = vec![count_pointer(
        format!("{} review sign-off days", days.len()),
        span(f),
    )];
    if widest > max_gap {
        (
            Level::Partial,
            format!(
                "reviews are irregular: {widest} days between two sign-offs ({cadence} expected)"
            ),
            ev,
        )
    } else {
        (
            Level::Holds,
            format!("review sign-offs recorded {cadence}"),
            ev,
        )
    }
}

fn triaged(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    let triage = f.event_count("triage") + f.event_count("incident");
    if f.incidents.count == 0 {
        return counted(
            Level::Holds,
            "no triage-worthy event (high-risk denial or enforcement gap) in the range".into(),
            "0 high-risk denials, 0 enforcement gaps".into(),
            f,
        );
    }
    let ev: Vec<Evidence> = f
        .incidents
        .examples
        .iter()
        .map(|s| record_pointer(*s, "triage-worthy event"))
        .collect();
    if triage == 0 {
        return (
            Level::NotEvidenced,
            format!(
                "{} triage-worthy events (first at seq {}) and no triage or incident record: the gateway records no triage yet",
                f.incidents.count,
                f.incidents.first().unwrap_or_default()
            ),
            ev,
        );
    }
    let level = if triage >= f.incidents.count {
        Level::Holds
    } else {
        Level::Partial
    };
    (
        level,
        format!(
            "{triage} triage or incident records for {} triage-worthy events",
            f.incidents.count
        ),
        ev,
    )
}

fn approvals(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    let ask_rules = i
        .policy
        .map(|p| p.rules().iter().filter(|r| r.effect == Effect::Ask).count())
        .unwrap_or(0);
    if f.asked == 0 {
        return if ask_rules > 0 {
            bare(
                Level::Partial,
                format!(
                    "the policy has {ask_rules} ask rules but no call in the range was asked about, so no approval is evidenced"
                ),
            )
        } else {
            bare(
                Level::Fails,
                "no ask path: the policy has no ask rule and no call was asked about",
            )
        };
    }
    counted(
        Level::Partial,
        format!(
            "{} calls were asked about and {} of them ran after the user's approval in the agent, but the approver's identity and latency are not recorded",
            f.asked, f.asks_resolved
        ),
        format!(
            "{} ask decisions, {} approved and run",
            f.asked, f.asks_resolved
        ),
        f,
    )
}

fn redacted(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(seq) = f.secrets_found.first() {
        return at_record(
            Level::Fails,
            format!(
                "{} decision targets still contain a secret the redactor recognises, the first at seq {seq}",
                f.secrets_found.count
            ),
            seq,
            "unredacted secret",
        );
    }
    (
        Level::Holds,
        format!(
            "redaction runs on every append, and a re-scan of the targets of {} decisions finds no secret",
            f.decisions
        ),
        range_pointer(f, "targets re-scanned for secrets"),
    )
}

fn retained(i: &Inputs<'_>, days: i64) -> Eval {
    let f = i.facts;
    let (Some(genesis), Some(end)) = (i.genesis_ts, f.last_ts) else {
        return bare(
            Level::Fails,
            "the genesis record is missing or unverified: history may have been pruned",
        );
    };
    let age = (end - genesis).div_euclid(DAY_US);
    let ev = vec![record_pointer(
        0,
        format!("genesis record, {age} days before the range end"),
    )];
    if age >= days {
        (
            Level::Holds,
            format!(
                "nothing is pruned since the genesis record, {age} days before the range end (≥ {days} days)"
            ),
            ev,
        )
    } else {
        (
            Level::Partial,
            format!(
                "nothing is pruned, but the ledger's history is {age} days long, less than {days} days; no retention is configured"
            ),
            ev,
        )
    }
}

fn inventory(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if f.agents.is_empty() && f.tools.is_empty() {
        return bare(Level::Fails, "no agent or tool is seen in the range");
    }
    let pins = f.event_count("pin.approve") + f.event_count("pin.changed");
    let ev = vec![count_pointer(
        format!(
            "agents [{}], MCP servers [{}], {} tools",
            f.agents.iter().cloned().collect::<Vec<_>>().join(", "),
            f.servers.iter().cloned().collect::<Vec<_>>().join(", "),
            f.tools.len()
        ),
        span(f),
    )];
    if pins > 0 {
        return (
            Level::Holds,
            format!(
                "{} agents, {} MCP servers and {} tools seen, with {pins} pin events",
                f.agents.len(),
                f.servers.len(),
                f.tools.len()
            ),
            ev,
        );
    }
    (
        Level::Partial,
        format!(
            "{} agents, {} MCP servers and {} tools seen, but no pinned tool fingerprints are recorded",
            f.agents.len(),
            f.servers.len(),
            f.tools.len()
        ),
        ev,
    )
}

/// The flags a rule category matches on.
fn category_flags(cat: &str) -> &'static [Flag] {
    match cat {
        "secrets" => &[Flag::SecretRead, Flag::SensitivePath],
        "privileged" => &[Flag::Privilege],
        "egress" => &[Flag::NetworkEgress, Flag::RemoteShell],
        "exfil" => &[Flag::Exfiltration, Flag::EnvDump],
        "install" => &[Flag::PipeToShell],
        "destructive" => &[Flag::Destructive, Flag::SystemDestruction, Flag::GitHistory],
        "self_protect" => &[Flag::SelfProtection],
        _ => &[],
    }
}

fn rules(i: &Inputs<'_>, cat: &str) -> Eval {
    if matches!(cat, "phi" | "cde") {
        return bare(
            Level::Partial,
            format!(
                "the gateway has no {} tagging of paths or hosts, so rules cannot be scoped to them",
                if cat == "phi" {
                    "ePHI"
                } else {
                    "cardholder-data (CDE)"
                }
            ),
        );
    }
    let p = match policy_in_force(i) {
        Ok(p) => p,
        Err(why) => return bare(Level::Partial, why),
    };
    let flags = category_flags(cat);
    let hits: Vec<&str> = p
        .rules()
        .iter()
        .filter(|r| matches!(r.effect, Effect::Deny | Effect::Ask))
        .filter(|r| r.flag_matchers().iter().any(|f| flags.contains(f)))
        .map(|r| r.id.as_str())
        .collect();
    let protect = cat == "self_protect" && !p.protected_paths().is_empty();
    if hits.is_empty() && !protect {
        // Egress rules may only flag: that is detection, not restriction.
        let flagging = p.rules().iter().any(|r| {
            r.effect == Effect::Flag && r.flag_matchers().iter().any(|f| flags.contains(f))
        });
        return if flagging {
            (
                Level::Partial,
                format!(
                    "policy `{}` only flags {cat} calls (detection, no restriction)",
                    p.name
                ),
                vec![policy_pointer(p)],
            )
        } else {
            (
                Level::Fails,
                format!("policy `{}` has no deny or ask rule for {cat}", p.name),
                vec![policy_pointer(p)],
            )
        };
    }
    let mut what = hits.join(", ");
    if protect {
        if !what.is_empty() {
            what.push_str(" and ");
        }
        what.push_str(&format!("protect ({} paths)", p.protected_paths().len()));
    }
    if p.mode == Mode::Audit {
        return (
            Level::Partial,
            format!(
                "policy `{}` has {cat} rules ({what}) but runs in audit mode (shadow only)",
                p.name
            ),
            vec![policy_pointer(p)],
        );
    }
    (
        Level::Holds,
        format!("policy `{}` enforces {cat} rules: {what}", p.name),
        vec![policy_pointer(p)],
    )
}

fn changes(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(s) = f.unrecorded_switches().next() {
        return at_record(
            Level::Fails,
            format!(
                "the policy hash changed at seq {} ({} → {}) with no policy.change event",
                s.seq, s.from, s.to
            ),
            s.seq,
            "first decision under the new policy",
        );
    }
    if f.decisions == 0 {
        return bare(
            Level::Partial,
            "no decision in the range shows which policy was in force",
        );
    }
    (
        Level::Holds,
        if f.switch_count == 0 {
            format!(
                "one policy hash was in force for all {} decisions",
                f.decisions
            )
        } else {
            format!(
                "all {} policy changes are recorded as policy.change events",
                f.switch_count
            )
        },
        stamped_pointers(f),
    )
}

fn changes_approved(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if f.switch_count == 0 {
        return bare(
            Level::Partial,
            "no policy change in the range, so no approval is evidenced",
        );
    }
    match f.switches.iter().find(|s| !s.approved) {
        Some(s) => at_record(
            Level::Fails,
            format!(
                "the policy change at seq {} has no approver other than the agent",
                s.seq
            ),
            s.seq,
            "unapproved policy change",
        ),
        None => (
            Level::Holds,
            format!(
                "all {} policy changes name an approver other than the agent",
                f.switch_count
            ),
            stamped_pointers(f),
        ),
    }
}

fn decisions(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if f.decisions == 0 {
        return bare(Level::Fails, "no decision is recorded in the range");
    }
    if let Some(seq) = f.unexplained.first() {
        return at_record(
            Level::Partial,
            format!(
                "{} decisions lack a verdict, rule id or reason, the first at seq {seq}",
                f.unexplained.count
            ),
            seq,
            "decision without rule or reason",
        );
    }
    counted(
        Level::Holds,
        format!(
            "{} decisions recorded ({} denied, {} asked, {} flagged), each refusal with its rule ids and reason",
            f.decisions, f.denied, f.asked, f.flagged
        ),
        format!("{} decisions, {} denials", f.decisions, f.denied),
        f,
    )
}

fn outcomes(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    let ran = f.allowed + f.flagged;
    if f.outcomes == 0 {
        return if ran == 0 {
            bare(Level::Partial, "no call ran in the range")
        } else {
            bare(
                Level::Fails,
                format!("{ran} calls were allowed but no outcome is recorded"),
            )
        };
    }
    counted(
        Level::Holds,
        format!("{} outcome records for {ran} allowed calls", f.outcomes),
        format!("{} outcomes", f.outcomes),
        f,
    )
}

fn sessions(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if f.sessions.is_empty() {
        return bare(Level::Fails, "no session is seen in the range");
    }
    let unstarted = f
        .sessions
        .iter()
        .filter(|s| !f.sessions_started.contains(*s))
        .count();
    let ev = vec![count_pointer(
        format!(
            "{} sessions, {} with a start record, {} with an end record",
            f.sessions.len(),
            f.sessions_started.len(),
            f.sessions_ended.len()
        ),
        span(f),
    )];
    if unstarted > 0 || f.sessions_ended.is_empty() {
        return (
            Level::Partial,
            format!(
                "{unstarted} of {} sessions have no start record (MCP sessions have none, or the session began before the range) and {} have an end record",
                f.sessions.len(),
                f.sessions_ended.len()
            ),
            ev,
        );
    }
    (
        Level::Holds,
        format!("all {} sessions have start records", f.sessions.len()),
        ev,
    )
}

fn fields(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if f.decisions == 0 {
        return bare(Level::Fails, "no decision is recorded in the range");
    }
    if let Some(seq) = f.incomplete.first().or(f.unidentified.first()) {
        return at_record(
            Level::Partial,
            format!(
                "{} records lack a core field (action, target, origin, agent or session), the first at seq {seq}",
                f.incomplete.count + f.unidentified.count
            ),
            seq,
            "record with missing fields",
        );
    }
    counted(
        Level::Partial,
        format!(
            "all {} decisions carry type, time, session, agent, verdict, origin and affected resource; the user (OS user or org identity) is not recorded",
            f.decisions
        ),
        format!("{} complete decisions", f.decisions),
        f,
    )
}

fn fail_closed(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(seq) = f.fail_open_errors.first() {
        return at_record(
            Level::Fails,
            format!(
                "{} internal errors were answered fail-open (audit mode), the first at seq {seq}",
                f.fail_open_errors.count
            ),
            seq,
            "fail-open hook error",
        );
    }
    let Some(p) = i.policy else {
        return bare(Level::Partial, "no policy could be loaded to read on_error");
    };
    if p.on_error() == Effect::Allow {
        return (
            Level::Partial,
            format!("policy `{}` says on_error: allow (fail open)", p.name),
            vec![policy_pointer(p)],
        );
    }
    (
        Level::Holds,
        format!(
            "policy `{}` fails closed on internal errors; {} internal errors were recorded and denied",
            p.name, f.hook_errors.count
        ),
        vec![policy_pointer(p)],
    )
}

fn armed(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(seq) = f.not_armed.first() {
        return at_record(
            Level::Fails,
            format!(
                "{} session starts found the gateway not armed, the first at seq {seq}",
                f.not_armed.count
            ),
            seq,
            "session start, not armed",
        );
    }
    if f.sessions_started.is_empty() {
        return bare(
            Level::Partial,
            "no session start is recorded in the range, so no self-test is evidenced",
        );
    }
    counted(
        Level::Holds,
        format!(
            "the gateway's self-test reported it armed at all {} session starts",
            f.event_count("session.start")
        ),
        format!(
            "{} session.start records, all armed",
            f.event_count("session.start")
        ),
        f,
    )
}

fn alerts(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    if let Some(seq) = f.alerts_undelivered.first() {
        return at_record(
            Level::Partial,
            format!(
                "{} alerts could not be delivered, the first recorded at seq {seq}",
                f.alerts_undelivered.count
            ),
            seq,
            "undelivered alert",
        );
    }
    not_evidenced(
        "delivered alerts are not recorded in the ledger (only failed deliveries are), so alerting cannot be shown",
    )
}

fn unknown_tools(i: &Inputs<'_>) -> Eval {
    let p = match policy_in_force(i) {
        Ok(p) => p,
        Err(why) => return bare(Level::Partial, why),
    };
    let guarded = p.rules().iter().any(|r| {
        matches!(r.effect, Effect::Deny | Effect::Ask)
            && r.flag_matchers().contains(&Flag::UnknownTool)
    }) || matches!(p.default_effect(), Effect::Deny | Effect::Ask);
    if guarded {
        (
            Level::Holds,
            format!("policy `{}` asks or denies for unknown tools", p.name),
            vec![policy_pointer(p)],
        )
    } else {
        (
            Level::Fails,
            format!("policy `{}` allows unknown tools by default", p.name),
            vec![policy_pointer(p)],
        )
    }
}

fn policy_exportable(i: &Inputs<'_>) -> Eval {
    match policy_in_force(i) {
        Ok(p) if !i.facts.policies.is_empty() => (
            Level::Holds,
            format!(
                "the policy in force is reproducible: `policy show` prints the text whose hash {} is stamped on every decision",
                p.hash()
            ),
            vec![policy_pointer(p)],
        ),
        Ok(_) => bare(
            Level::Partial,
            "no decision in the range shows which policy was in force",
        ),
        Err(why) => (Level::Partial, why, stamped_pointers(i.facts)),
    }
}

fn commitments(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    match f.raw_payloads.first() {
        Some(seq) => at_record(
            Level::Fails,
            format!(
                "{} records hold raw tool input or output instead of a commitment, the first at seq {seq}",
                f.raw_payloads.count
            ),
            seq,
            "raw payload in the chain",
        ),
        None => (
            Level::Holds,
            format!(
                "tool inputs and outputs are stored only as SHA-256 commitments ({} decisions, {} outcomes)",
                f.decisions, f.outcomes
            ),
            range_pointer(f, "records with commitments only"),
        ),
    }
}

fn lifecycle(i: &Inputs<'_>) -> Eval {
    let f = i.facts;
    let mut ev = Vec::new();
    if i.genesis_ts.is_some() {
        ev.push(record_pointer(0, "genesis record"));
    }
    ev.extend(
        f.recoveries
            .examples
            .iter()
            .map(|s| record_pointer(*s, "ledger recovery record")),
    );
    if !f.audit_windows.is_empty() && f.event_count("mode.change") == 0 {
        let (a, b) = f.audit_windows[0];
        return (
            Level::Partial,
            format!(
                "audit-mode (log-only) decisions at seq {a}..{b} are not announced by a mode.change record; {} recoveries recorded",
                f.recoveries.count
            ),
            ev,
        );
    }
    (
        Level::Holds,
        format!(
            "genesis, {} recovery records and {} session starts/ends are recorded; no unannounced log-only window",
            f.recoveries.count,
            f.event_count("session.start") + f.event_count("session.end")
        ),
        ev,
    )
}

/// Events the gateway does not write itself yet: evidenced only when present.
fn recorded_events(i: &Inputs<'_>, names: &[&str], absent: &str) -> Eval {
    let f = i.facts;
    let n: u64 = names.iter().map(|e| f.event_count(e)).sum();
    if n == 0 {
        return not_evidenced(absent);
    }
    let first = names
        .iter()
        .filter_map(|e| f.events.get(*e).and_then(|s| s.first()))
        .min();
    (
        Level::Holds,
        format!("{n} {} events recorded", names.join("/")),
        first
            .map(|s| {
                vec![record_pointer(
                    s,
                    format!("first {} event", names.join("/")),
                )]
            })
            .unwrap_or_default(),
    )
}
