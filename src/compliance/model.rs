//! The report model: plain serde structs, rendered by `report` (HTML, JSON, Markdown, OSCAL)
//! and by the dashboard.

use serde::Serialize;

/// What every report says first.
pub const DISCLAIMER: &str = "This report is evidence, not certification. patchwork-gateway \
supplies machine-generated evidence for a subset of controls over AI-agent tool use; an auditor \
or assessor decides conformity, and most controls also need people, process and documents the \
gateway never sees. Engineering mapping, not legal advice.";

/// The status of one control over the report range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Satisfied,
    PartiallySatisfied,
    NotSatisfied,
    NotApplicable,
    NotEvidenced,
}

impl Status {
    /// The words used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Status::Satisfied => "satisfied",
            Status::PartiallySatisfied => "partially satisfied",
            Status::NotSatisfied => "not satisfied",
            Status::NotApplicable => "not applicable",
            Status::NotEvidenced => "not evidenced by this tool",
        }
    }

    /// The snake_case name (also the CSS class of the HTML report).
    pub fn class(self) -> &'static str {
        match self {
            Status::Satisfied => "satisfied",
            Status::PartiallySatisfied => "partially_satisfied",
            Status::NotSatisfied => "not_satisfied",
            Status::NotApplicable => "not_applicable",
            Status::NotEvidenced => "not_evidenced",
        }
    }

    /// Every status, in report order.
    pub const ALL: [Status; 5] = [
        Status::Satisfied,
        Status::PartiallySatisfied,
        Status::NotSatisfied,
        Status::NotApplicable,
        Status::NotEvidenced,
    ];
}

/// How far one evidence predicate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Holds,
    Partial,
    Fails,
    /// The gateway has no mechanism (yet) that would produce this evidence.
    NotEvidenced,
}

/// A pointer an auditor can re-check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// `ledger-range`, `record`, `seal`, `checkpoint`, `policy`, `count`.
    pub kind: String,
    pub description: String,
    /// First and last seq the pointer covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seqs: Option<(u64, u64)>,
    /// `sha256:<hex>` of the record, seal tip, checkpoint root or policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The command that re-checks it.
    pub check: String,
}

/// The result of one predicate.
#[derive(Debug, Clone, Serialize)]
pub struct PredicateResult {
    /// As written in the catalogue: `VERIFIED`, `RULES(exfil)`, …
    pub name: String,
    pub level: Level,
    pub reason: String,
    pub evidence: Vec<Evidence>,
}

/// One control's result.
#[derive(Debug, Clone, Serialize)]
pub struct ControlResult {
    pub framework: String,
    pub id: String,
    pub title: String,
    pub status: Status,
    /// One sentence.
    pub reason: String,
    pub evidence: Vec<Evidence>,
    pub predicates: Vec<PredicateResult>,
    /// What the gateway can evidence for this control.
    pub gateway_evidences: String,
    /// What it cannot.
    pub cannot_evidence: String,
}

/// One framework's section.
#[derive(Debug, Clone, Serialize)]
pub struct FrameworkResult {
    pub id: String,
    pub name: String,
    /// `benchmark`, `in scope`, `out of scope (declared)` or `customer environment`.
    pub scope: String,
    pub scope_note: String,
    pub controls: Vec<ControlResult>,
}

/// The range the report covers.
#[derive(Debug, Clone, Serialize)]
pub struct Range {
    /// First and last seq in the range (none when the range is empty).
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Microseconds since the epoch, UTC.
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub records: u64,
    /// Hash of the last record of the range.
    pub tip: Option<String>,
    /// How the range was chosen (`all`, `--range 3..9`, `--since …`).
    pub selection: String,
}

/// What `verify` found over the whole ledger.
#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    /// True when no damage lies at or before the range end.
    pub verified: bool,
    pub records: u64,
    pub verified_records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damage: Option<String>,
    pub seals: u64,
    pub seals_ok: u64,
    pub sealed: u64,
    /// Checkpoints whose signature and root verify.
    pub checkpoints: u64,
}

/// A policy hash seen on decisions in the range.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInRange {
    pub hash: String,
    pub decisions: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// A control that is not satisfied, and how to close the gap.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub framework: String,
    pub control: String,
    pub status: Status,
    pub predicate: String,
    pub problem: String,
    /// The exact command or configuration that closes it.
    pub fix: String,
    /// `low` (minutes), `medium` (hours), `high` (days), or `gateway feature` (not possible yet).
    pub effort: String,
}

/// One window of `--by day|week|month`.
#[derive(Debug, Clone, Serialize)]
pub struct TrendWindow {
    /// `2026-12-07`, `2026-W49`, `2026-12`.
    pub window: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub records: u64,
    pub decisions: u64,
    pub denied: u64,
    pub asked: u64,
    /// Satisfied controls / evaluated controls (not applicable and not evidenced left out).
    pub satisfied: u64,
    pub evaluated: u64,
    pub satisfied_share: f64,
}

/// One framework's scope line.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub framework: String,
    /// `benchmark`, `in scope`, `out of scope (declared)`, `customer environment`, `voluntary framework`.
    pub scope: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub disclaimer: String,
    /// The scope of each framework, first so that every format shows it on its first page.
    pub scopes: Vec<Scope>,
    pub tool: String,
    pub version: String,
    /// The range end's time (RFC 3339): reports on the same range are identical.
    pub as_of: String,
    pub range: Range,
    pub integrity: Integrity,
    pub policies: Vec<PolicyInRange>,
    /// The policy loaded for this report (name and hash), whose rules are inspected.
    pub loaded_policy: Option<(String, String)>,
    pub frameworks: Vec<FrameworkResult>,
    /// Count per status label.
    pub summary: Vec<(String, u64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gaps: Option<Vec<Gap>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trends: Option<Vec<TrendWindow>>,
}

impl Report {
    /// Every control result, framework by framework.
    pub fn controls(&self) -> impl Iterator<Item = &ControlResult> {
        self.frameworks.iter().flat_map(|f| f.controls.iter())
    }
}
