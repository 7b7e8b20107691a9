//! One pass over the records of a range: the counts and pointers the predicates need.
//! Memory stays bounded: per-record data is kept only for what must be matched later
//! (denied decisions, unanswered asks), and lists of examples are capped.

use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// How many example seqs a list keeps.
const EXAMPLES: usize = 20;

/// The members of a record the compliance evaluators read (everything else is skipped).
#[derive(Debug, Default, Deserialize)]
pub struct Rec<'a> {
    pub seq: u64,
    pub ts: i64,
    #[serde(borrow, default)]
    pub hash: Cow<'a, str>,
    #[serde(borrow, default)]
    pub event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub session: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub door: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tool: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tool_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub server: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tool_use_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub verdict: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub would_be: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub risk: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub policy: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub cwd: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub rules: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    pub flags: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    pub target: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    pub input_sha256: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub approver: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub os_user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub policy_mode: Option<Cow<'a, str>>,
    #[serde(default)]
    pub decision_seq: Option<u64>,
    #[serde(default)]
    pub armed: Option<bool>,
    #[serde(default)]
    pub passed: Option<bool>,
    /// Raw (uncommitted) tool input or output: must never be in the chain.
    #[serde(default)]
    pub input: Option<IgnoredAny>,
    #[serde(default)]
    pub output: Option<IgnoredAny>,
    #[serde(default)]
    pub clock: Option<IgnoredAny>,
}

/// Seqs of the first few examples and the total.
#[derive(Debug, Clone, Default)]
pub struct Seqs {
    pub count: u64,
    pub examples: Vec<u64>,
}

impl Seqs {
    fn add(&mut self, seq: u64) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(seq);
        }
    }

    /// The first seq, if any.
    pub fn first(&self) -> Option<u64> {
        self.examples.first().copied()
    }
}

/// A policy-hash switch between two consecutive decisions.
#[derive(Debug, Clone)]
pub struct Switch {
    pub seq: u64,
    pub from: String,
    pub to: String,
    /// A `policy.change` event lies between the two decisions.
    pub recorded: bool,
    /// That event names an approver other than the agent's session.
    pub approved: bool,
}

/// Where a policy hash was seen.
#[derive(Debug, Clone)]
pub struct Seen {
    pub decisions: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// The facts of one range (or one trend window).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// Hash of the last record.
    pub tip: Option<String>,
    /// Events by name.
    pub events: BTreeMap<String, Seqs>,

    pub decisions: u64,
    pub allowed: u64,
    pub flagged: u64,
    pub asked: u64,
    pub denied: u64,
    /// Decisions without a policy hash.
    pub unstamped: Seqs,
    /// Decisions without a verdict, rule ids or reason (a deny must name its rule and reason).
    pub unexplained: Seqs,
    pub policies: BTreeMap<String, Seen>,
    pub switches: Vec<Switch>,
    pub switch_count: u64,
    last_policy: Option<String>,
    change_since: Option<bool>,

    /// Decisions made in audit mode (verdict recorded, call allowed).
    pub audited: Seqs,
    /// Audit-mode windows (first, last seq of consecutive audited decisions).
    pub audit_windows: Vec<(u64, u64)>,
    in_audit: bool,
    tracking: bool,

    /// `enforcement.gap` events and outcomes of denied calls.
    pub gaps: Seqs,
    pub ran_after_deny: Seqs,
    denied_seqs: HashSet<u64>,
    pub outcomes: u64,

    pub sessions: BTreeSet<String>,
    pub sessions_started: BTreeSet<String>,
    pub sessions_ended: BTreeSet<String>,
    pub not_armed: Seqs,
    /// Records of agent activity without an agent or session id.
    pub unidentified: Seqs,
    pub identified: u64,
    pub with_os_user: u64,
    pub with_clock: u64,
    pub ts_backwards: Seqs,
    /// Activity records missing a core field (what, where, outcome).
    pub incomplete: Seqs,

    pub hook_errors: Seqs,
    pub fail_open_errors: Seqs,
    pub recoveries: Seqs,
    pub alerts_undelivered: Seqs,

    pub agents: BTreeSet<String>,
    pub servers: BTreeSet<String>,
    pub tools: BTreeMap<String, u64>,
    pub network: Seqs,
    pub privileged: Seqs,
    /// Denials at high/critical risk and enforcement gaps: events worth triage.
    pub incidents: Seqs,
    pending_asks: HashSet<String>,
    pub asks_resolved: u64,
    pub secrets_found: Seqs,
    pub raw_payloads: Seqs,
    pub tested_policies: BTreeSet<String>,
    pub review_days: BTreeSet<i64>,
}

/// Microseconds per day.
pub const DAY_US: i64 = 86_400_000_000;

impl Facts {
    /// Takes the next record of the range, in seq order.
    pub fn add(&mut self, r: &Rec<'_>) {
        self.records += 1;
        self.first_seq.get_or_insert(r.seq);
        self.first_ts.get_or_insert(r.ts);
        if self.last_ts.is_some_and(|t| r.ts < t) {
            self.ts_backwards.add(r.seq);
        }
        self.last_seq = Some(r.seq);
        self.last_ts = Some(r.ts);
        self.tip = Some(r.hash.to_string());
        if r.clock.is_some() {
            self.with_clock += 1;
        }
        let event = r.event.as_deref().unwrap_or("");
        self.events.entry(event.to_string()).or_default().add(r.seq);
        let activity = matches!(
            event,
            "decision"
                | "outcome"
                | "tool.post"
                | "session.start"
                | "session.end"
                | "prompt.submit"
        );
        if activity {
            self.identity(r);
        }
        if let Some(a) = &r.agent
            && !self.agents.contains(a.as_ref())
        {
            self.agents.insert(a.to_string());
        }
        if r.input.is_some() || r.output.is_some() {
            self.raw_payloads.add(r.seq);
        }
        match event {
            "decision" => self.decision(r),
            "outcome" | "tool.post" => self.outcome(r),
            "session.start" => {
                if let Some(s) = &r.session {
                    self.sessions_started.insert(s.to_string());
                }
                if r.armed == Some(false) {
                    self.not_armed.add(r.seq);
                }
            }
            "session.end" => {
                if let Some(s) = &r.session {
                    self.sessions_ended.insert(s.to_string());
                }
            }
            "enforcement.gap" => {
                self.gaps.add(r.seq);
                self.incidents.add(r.seq);
            }
            "hook.error" => {
                self.hook_errors.add(r.seq);
                if r.policy_mode.as_deref() == Some("audit") {
                    self.fail_open_errors.add(r.seq);
                }
            }
            "ledger_recovery" => self.recoveries.add(r.seq),
            "alert.failed" | "alert.dropped" => self.alerts_undelivered.add(r.seq),
            "policy.change" => {
                let approved = r
                    .approver
                    .as_deref()
                    .is_some_and(|a| !a.is_empty() && Some(a) != r.session.as_deref());
                // Several changes between two decisions: all must be approved.
                self.change_since = Some(self.change_since.unwrap_or(true) && approved);
            }
            "policy.test" => {
                if r.passed == Some(true)
                    && let Some(p) = &r.policy
                {
                    self.tested_policies.insert(p.to_string());
                }
            }
            "review.signoff" => {
                self.review_days.insert(r.ts.div_euclid(DAY_US));
            }
            _ => {}
        }
    }

    fn identity(&mut self, r: &Rec<'_>) {
        let present = |s: &Option<Cow<'_, str>>| s.as_deref().is_some_and(|s| !s.is_empty());
        if present(&r.session) && present(&r.agent) {
            self.identified += 1;
            if let Some(s) = &r.session
                && !self.sessions.contains(s.as_ref())
            {
                self.sessions.insert(s.to_string());
            }
        } else {
            self.unidentified.add(r.seq);
        }
        if present(&r.os_user) {
            self.with_os_user += 1;
        }
    }

    fn decision(&mut self, r: &Rec<'_>) {
        self.decisions += 1;
        let verdict = r.verdict.as_deref().unwrap_or("");
        match verdict {
            "allow" => self.allowed += 1,
            "flag" => self.flagged += 1,
            "ask" => {
                self.asked += 1;
                if let Some(id) = &r.tool_use_id {
                    self.pending_asks.insert(id.to_string());
                }
            }
            "deny" => {
                self.denied += 1;
                self.denied_seqs.insert(r.seq);
                if matches!(r.risk.as_deref(), Some("high" | "critical")) {
                    self.incidents.add(r.seq);
                }
            }
            _ => {}
        }
        let has_rules = r.rules.as_ref().is_some_and(|v| !v.is_empty());
        let has_reason = r.reason.as_deref().is_some_and(|s| !s.is_empty());
        if verdict.is_empty() || (verdict != "allow" && !(has_rules && has_reason)) {
            self.unexplained.add(r.seq);
        }
        if r.target.is_none() || r.cwd.is_none() || r.door.is_none() || r.action.is_none() {
            self.incomplete.add(r.seq);
        }
        if r.input_sha256.is_none() {
            self.raw_payloads.add(r.seq);
        }
        self.audit(r);
        self.stamp(r);
        let tool = r.tool.as_deref().unwrap_or("?");
        match self.tools.get_mut(tool) {
            Some(n) => *n += 1,
            None => {
                self.tools.insert(tool.to_string(), 1);
            }
        }
        if let Some(s) = &r.server
            && !self.servers.contains(s.as_ref())
        {
            self.servers.insert(s.to_string());
        }
        let flags = r.flags.as_deref().unwrap_or_default();
        let has = |f: &str| flags.iter().any(|x| x == f);
        if has("network_egress")
            || has("remote_shell")
            || has("exfiltration")
            || matches!(r.action.as_deref(), Some("web_fetch" | "web_search"))
        {
            self.network.add(r.seq);
        }
        if has("privilege") {
            self.privileged.add(r.seq);
        }
        for t in r.target.iter().flatten() {
            if crate::ledger::redact::redact_str(t) != *t {
                self.secrets_found.add(r.seq);
                break;
            }
        }
    }

    fn audit(&mut self, r: &Rec<'_>) {
        if r.would_be.is_some() {
            self.audited.add(r.seq);
            if !self.in_audit {
                // A new window; past the cap, windows are counted in `audited` only.
                self.tracking = self.audit_windows.len() < EXAMPLES;
                if self.tracking {
                    self.audit_windows.push((r.seq, r.seq));
                }
            } else if self.tracking
                && let Some(w) = self.audit_windows.last_mut()
            {
                w.1 = r.seq;
            }
            self.in_audit = true;
        } else {
            self.in_audit = false;
        }
    }

    fn stamp(&mut self, r: &Rec<'_>) {
        let Some(p) = r.policy.as_deref().filter(|p| !p.is_empty()) else {
            self.unstamped.add(r.seq);
            return;
        };
        match self.policies.get_mut(p) {
            Some(s) => {
                s.decisions += 1;
                s.last_seq = r.seq;
            }
            None => {
                self.policies.insert(
                    p.to_string(),
                    Seen {
                        decisions: 1,
                        first_seq: r.seq,
                        last_seq: r.seq,
                    },
                );
            }
        }
        if let Some(last) = &self.last_policy
            && last != p
        {
            self.switch_count += 1;
            if self.switches.len() < EXAMPLES {
                self.switches.push(Switch {
                    seq: r.seq,
                    from: last.clone(),
                    to: p.to_string(),
                    recorded: self.change_since.is_some(),
                    approved: self.change_since == Some(true),
                });
            }
        }
        if self.last_policy.as_deref() != Some(p) {
            self.last_policy = Some(p.to_string());
        }
        self.change_since = None;
    }

    fn outcome(&mut self, r: &Rec<'_>) {
        self.outcomes += 1;
        if r.decision_seq
            .is_some_and(|d| self.denied_seqs.contains(&d))
        {
            self.ran_after_deny.add(r.seq);
        }
        if let Some(id) = &r.tool_use_id
            && self.pending_asks.remove(id.as_ref())
        {
            self.asks_resolved += 1;
        }
    }

    /// Count of an event kind.
    pub fn event_count(&self, name: &str) -> u64 {
        self.events.get(name).map_or(0, |s| s.count)
    }

    /// Policy switches not explained by a recorded `policy.change`.
    pub fn unrecorded_switches(&self) -> impl Iterator<Item = &Switch> {
        self.switches.iter().filter(|s| !s.recorded)
    }
}
