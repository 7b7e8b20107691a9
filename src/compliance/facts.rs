//! One pass over the records of a range: the counts and pointers the predicates need.
//! Memory stays bounded: per-record data is kept only for what must be matched later
//! (denied decisions, unanswered asks), and lists of examples are capped.

use crate::ledger::pass::LineView;
use crate::ledger::record::LineFault;
use crate::ledger::scan::Scanned;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

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
    /// Whether a `target` holds text that redaction would change, when the scan workers
    /// already found out (see [`Located`]).
    #[serde(skip)]
    pub secret_target: Option<bool>,
}

/// The members of [`Rec`], as the scanner names them.
#[derive(Debug, Clone, Copy)]
enum Field {
    Hash,
    Event,
    Session,
    Agent,
    Door,
    Tool,
    ToolName,
    Server,
    ToolUseId,
    Verdict,
    WouldBe,
    Risk,
    Reason,
    Policy,
    Cwd,
    Action,
    Rules,
    Flags,
    Target,
    InputSha256,
    Approver,
    OsUser,
    PolicyMode,
    DecisionSeq,
    Armed,
    Passed,
    Input,
    Output,
    Clock,
}

/// Number of [`Field`]s.
const FIELDS: usize = Field::Clock as usize + 1;

impl Field {
    fn of(key: &str) -> Option<Field> {
        Some(match key {
            "hash" => Field::Hash,
            "event" => Field::Event,
            "session" => Field::Session,
            "agent" => Field::Agent,
            "door" => Field::Door,
            "tool" => Field::Tool,
            "tool_name" => Field::ToolName,
            "server" => Field::Server,
            "tool_use_id" => Field::ToolUseId,
            "verdict" => Field::Verdict,
            "would_be" => Field::WouldBe,
            "risk" => Field::Risk,
            "reason" => Field::Reason,
            "policy" => Field::Policy,
            "cwd" => Field::Cwd,
            "action" => Field::Action,
            "rules" => Field::Rules,
            "flags" => Field::Flags,
            "target" => Field::Target,
            "input_sha256" => Field::InputSha256,
            "approver" => Field::Approver,
            "os_user" => Field::OsUser,
            "policy_mode" => Field::PolicyMode,
            "decision_seq" => Field::DecisionSeq,
            "armed" => Field::Armed,
            "passed" => Field::Passed,
            "input" => Field::Input,
            "output" => Field::Output,
            "clock" => Field::Clock,
            _ => return None,
        })
    }
}

/// Where the members of a [`Rec`] lie in a stored line, found by the ledger's scanner on its
/// worker threads (the line is parsed once, in parallel with the others); the reader then
/// builds the [`Rec`] from these byte ranges in order.
#[derive(Debug, Default)]
pub struct Located {
    /// Byte range of each field's raw value; `(0, 0)` when absent (no value is empty).
    spans: [(u32, u32); FIELDS],
    /// `seq` and `ts` of a line the scanner accepted as a record.
    record: Option<(u64, i64)>,
    /// Whether the `target` of a decision holds text redaction would change.
    secret_target: Option<bool>,
}

impl LineView for Located {
    fn member(&mut self, key: &str, value: Range<usize>) {
        if let Some(f) = Field::of(key)
            && let (Ok(a), Ok(b)) = (u32::try_from(value.start), u32::try_from(value.end))
        {
            self.spans[f as usize] = (a, b);
        }
    }

    fn scanned(&mut self, line: &[u8], scanned: &Result<Scanned<'_>, LineFault>) {
        let Ok(s) = scanned else {
            return;
        };
        self.record = Some((s.seq, s.ts));
        // The secret check of a decision's targets is the costly part of reading it: done here.
        if self.raw(line, Field::Event) == Some(&b"\"decision\""[..])
            && let Ok(target) = strings(self.raw(line, Field::Target))
        {
            self.secret_target = Some(secret_in(&target));
        }
    }
}

impl Located {
    fn raw<'a>(&self, line: &'a [u8], f: Field) -> Option<&'a [u8]> {
        let (a, b) = self.spans[f as usize];
        (b > a).then(|| &line[a as usize..b as usize])
    }
}

impl<'a> Rec<'a> {
    /// The record on `line` (`None` when it is not one), from where the scanner located its
    /// members: the same as parsing the whole line, without parsing it again.
    pub fn from_located(line: &'a [u8], at: &Located) -> Option<Rec<'a>> {
        let Some((seq, ts)) = at.record else {
            // Not a valid record: the scanner stopped early, so parse it in full.
            return serde_json::from_slice(line).ok();
        };
        let raw = |f| at.raw(line, f);
        let text = |f| string(raw(f));
        Some(Rec {
            seq,
            ts,
            hash: text(Field::Hash).ok()?.unwrap_or_default(),
            event: text(Field::Event).ok()?,
            session: text(Field::Session).ok()?,
            agent: text(Field::Agent).ok()?,
            door: text(Field::Door).ok()?,
            tool: text(Field::Tool).ok()?,
            tool_name: text(Field::ToolName).ok()?,
            server: text(Field::Server).ok()?,
            tool_use_id: text(Field::ToolUseId).ok()?,
            verdict: text(Field::Verdict).ok()?,
            would_be: text(Field::WouldBe).ok()?,
            risk: text(Field::Risk).ok()?,
            reason: text(Field::Reason).ok()?,
            policy: text(Field::Policy).ok()?,
            cwd: text(Field::Cwd).ok()?,
            action: text(Field::Action).ok()?,
            rules: strings(raw(Field::Rules)).ok()?,
            flags: strings(raw(Field::Flags)).ok()?,
            target: strings(raw(Field::Target)).ok()?,
            input_sha256: text(Field::InputSha256).ok()?,
            approver: text(Field::Approver).ok()?,
            os_user: text(Field::OsUser).ok()?,
            policy_mode: text(Field::PolicyMode).ok()?,
            decision_seq: typed(raw(Field::DecisionSeq)).ok()?,
            armed: typed(raw(Field::Armed)).ok()?,
            passed: typed(raw(Field::Passed)).ok()?,
            input: typed(raw(Field::Input)).ok()?,
            output: typed(raw(Field::Output)).ok()?,
            clock: typed(raw(Field::Clock)).ok()?,
            secret_target: at.secret_target,
        })
    }
}

/// An optional member of type `T` from its raw JSON value, as serde reads it in a whole record.
fn typed<'a, T: Deserialize<'a>>(raw: Option<&'a [u8]>) -> serde_json::Result<Option<T>> {
    raw.map_or(Ok(None), serde_json::from_slice)
}

/// An optional string member: borrowed when it has no escapes (the usual case), else decoded.
fn string(raw: Option<&[u8]>) -> serde_json::Result<Option<Cow<'_, str>>> {
    if let Some([b'"', inner @ .., b'"']) = raw
        && !inner.contains(&b'\\')
        && let Ok(s) = std::str::from_utf8(inner)
    {
        return Ok(Some(Cow::Borrowed(s)));
    }
    typed(raw)
}

/// An optional list of strings: borrowed when none has escapes (the usual case), else decoded.
fn strings(raw: Option<&[u8]>) -> serde_json::Result<Option<Vec<Cow<'_, str>>>> {
    match raw {
        Some(b"[]") => Ok(Some(Vec::new())),
        // Without backslashes no string holds a quote, so `","` separates exactly the elements
        // of a list of strings, and an element with a quote means a value of another kind.
        Some([b'[', b'"', inner @ .., b'"', b']']) if !inner.contains(&b'\\') => {
            let mut items = Vec::new();
            let mut rest = inner;
            loop {
                let (item, next) = match memchr::memmem::find(rest, b"\",\"") {
                    Some(i) => (&rest[..i], Some(&rest[i + 3..])),
                    None => (rest, None),
                };
                match std::str::from_utf8(item) {
                    Ok(s) if !item.contains(&b'"') => items.push(Cow::Borrowed(s)),
                    _ => return typed(raw),
                }
                match next {
                    Some(n) => rest = n,
                    None => return Ok(Some(items)),
                }
            }
        }
        _ => typed(raw),
    }
}

/// Whether any of `target` holds text that redaction would change (a secret).
fn secret_in(target: &Option<Vec<Cow<'_, str>>>) -> bool {
    target
        .iter()
        .flatten()
        .any(|t| crate::ledger::redact::redact_str(t) != *t)
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
    denied_seqs: BTreeSet<u64>,
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
    pending_asks: BTreeSet<String>,
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
        let tip = self.tip.get_or_insert_with(String::new);
        tip.clear();
        tip.push_str(&r.hash);
        if r.clock.is_some() {
            self.with_clock += 1;
        }
        let event = r.event.as_deref().unwrap_or("");
        match self.events.get_mut(event) {
            Some(s) => s.add(r.seq),
            None => self.events.entry(event.to_string()).or_default().add(r.seq),
        }
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
        if r.secret_target.unwrap_or_else(|| secret_in(&r.target)) {
            self.secrets_found.add(r.seq);
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
