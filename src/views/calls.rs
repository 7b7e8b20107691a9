//! The call model: a decision joined with what belongs to it (its outcome, the permission
//! request, the MCP door's decision of the same call, an enforcement gap), and [`Joiner`], which
//! does the joining over a stream of records in bounded memory.
//!
//! Links, in order of preference: an outcome's or gap's `decision_seq`; the `tool_use_id`
//! within a session; the digest of the canonical input within a session. The hook's decision on
//! `mcp__<server>__<tool>` and the MCP door's decision on `<tool>` with the same input digest in
//! the same session are one call with two verdicts.

use super::entry::Entry;
use serde::Serialize;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};

/// One tool call: its first decision and everything linked to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// The first decision (usually the hook's, or the MCP door's when only it saw the call).
    pub decision: Entry,
    /// Other doors' decisions of the same call (the MCP door's decision of a hook `mcp__` call).
    pub linked: Vec<Entry>,
    /// Outcome records (one per door that ran or saw the call run).
    pub outcomes: Vec<Entry>,
    /// Permission requests answered for this call.
    pub permissions: Vec<Entry>,
    /// Enforcement gaps: the call ran although it was denied.
    pub gaps: Vec<Entry>,
}

impl Call {
    fn new(decision: Entry) -> Call {
        Call {
            decision,
            linked: Vec::new(),
            outcomes: Vec::new(),
            permissions: Vec::new(),
            gaps: Vec::new(),
        }
    }

    /// The outcome the deciding door recorded (else any), if the call ran.
    pub fn outcome(&self) -> Option<&Entry> {
        self.outcomes
            .iter()
            .find(|o| o.door == self.decision.door)
            .or(self.outcomes.first())
    }

    /// Outcome status (`ok`, `completed`, `error`, …), `refused` when a door refused it and it
    /// did not run, or `-`.
    pub fn status(&self) -> &str {
        match self.outcome().and_then(|o| o.outcome.as_ref()) {
            Some(o) => &o.status,
            None if self.refused() => "refused",
            None => "-",
        }
    }

    /// Duration of the run in ms, when known.
    pub fn duration_ms(&self) -> Option<u64> {
        self.outcome()
            .and_then(|o| o.outcome.as_ref())
            .and_then(|o| o.duration_ms)
    }

    /// Whether any door refused (deny or ask) the call.
    pub fn refused(&self) -> bool {
        self.decision.refused() || self.linked.iter().any(Entry::refused)
    }

    /// The most restrictive verdict across doors.
    pub fn verdict(&self) -> &str {
        let rank = |v: &str| {
            ["allow", "flag", "ask", "deny"]
                .iter()
                .position(|x| *x == v)
        };
        std::iter::once(&self.decision)
            .chain(&self.linked)
            .map(Entry::verdict)
            .max_by_key(|v| rank(v))
            .unwrap_or("")
    }
}

/// A joined view item: a call, or any other record (session start, prompt, recovery, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item", rename_all = "lowercase")]
pub enum Item {
    Call(Box<Call>),
    Event(Box<Entry>),
}

impl Item {
    /// One record on its own: a decision as a call with nothing joined yet, anything else as
    /// an event.
    pub fn single(e: Entry) -> Item {
        if e.is_decision() {
            Item::Call(Box::new(Call::new(e)))
        } else {
            Item::Event(Box::new(e))
        }
    }

    /// The record that stands for the item (a call's first decision).
    pub fn head(&self) -> &Entry {
        match self {
            Item::Call(c) => &c.decision,
            Item::Event(e) => e.as_ref(),
        }
    }

    /// Every record of the item.
    pub fn entries(&self) -> Box<dyn Iterator<Item = &Entry> + '_> {
        match self {
            Item::Call(c) => Box::new(
                std::iter::once(&c.decision)
                    .chain(&c.linked)
                    .chain(&c.outcomes)
                    .chain(&c.permissions)
                    .chain(&c.gaps),
            ),
            Item::Event(e) => Box::new(std::iter::once(e.as_ref())),
        }
    }
}

/// How long after the hook's decision of an `mcp__` call the MCP door's decision of the same
/// call may come (Claude Code runs the tool right after PreToolUse answers).
pub const LINK_WINDOW_US: i64 = 120_000_000;

/// Records held back waiting for their links, by default (outcomes follow their decision
/// within a few records; a longer-running call's outcome may come later).
pub const DEFAULT_HOLD: usize = 4096;

/// Joins a stream of records into [`Item`]s, in the order of their first record. A call is held
/// until `hold` newer items have started (then emitted with what was found), so memory stays
/// bounded on any ledger; a record arriving later for an emitted call becomes its own event.
pub struct Joiner {
    hold: usize,
    /// Position of `queue[0]` in the input.
    base: u64,
    next: u64,
    queue: VecDeque<Option<Item>>,
    by_seq: HashMap<u64, u64>,
    /// Held calls by a hash of (session, tool-use id) and of (session, input digest); a hit is
    /// checked against the call itself, so a collision never joins the wrong records.
    by_use_id: HashMap<u64, u64>,
    by_input: HashMap<u64, u64>,
    keys: RandomState,
}

impl Joiner {
    /// A joiner holding calls back for at most `hold` records (0: emit at once, no joining of
    /// later records, as `log --follow` needs).
    pub fn new(hold: usize) -> Joiner {
        Joiner {
            hold,
            base: 0,
            next: 0,
            queue: VecDeque::new(),
            by_seq: HashMap::new(),
            by_use_id: HashMap::new(),
            by_input: HashMap::new(),
            keys: RandomState::new(),
        }
    }

    /// Feeds one record; returns the items that are ready, in order.
    pub fn push(&mut self, e: Entry) -> Vec<Item> {
        if let Some(pos) = self.find(&e)
            && let Some(Some(Item::Call(call))) = self.queue.get_mut((pos - self.base) as usize)
        {
            match e.event.as_str() {
                "decision" => {
                    self.by_seq.insert(e.seq, pos);
                    call.linked.push(e);
                }
                "outcome" => call.outcomes.push(e),
                "permission.request" => call.permissions.push(e),
                _ => call.gaps.push(e),
            }
        } else {
            let pos = self.next;
            let item = if e.is_decision() {
                self.index(&e, pos);
                Item::Call(Box::new(Call::new(e)))
            } else {
                Item::Event(Box::new(e))
            };
            self.queue.push_back(Some(item));
            self.next += 1;
        }
        self.drain(false)
    }

    /// Ends the input; returns every item still held.
    pub fn finish(&mut self) -> Vec<Item> {
        self.drain(true)
    }

    /// The held call a record belongs to.
    fn find(&self, e: &Entry) -> Option<u64> {
        match e.event.as_str() {
            "decision" => {
                // The MCP door's decision of a call the hook decided as `mcp__<server>__<tool>`.
                if e.door.as_deref() != Some("mcp") {
                    return None;
                }
                let digest = e.input_sha256.as_ref()?.as_str();
                let pos = *self.by_input.get(&self.key(e, digest))?;
                let held = self.held(pos)?;
                let tool = held.decision.tool();
                let same_tool = tool.len() >= e.tool().len() + 2
                    && tool.ends_with(e.tool())
                    && tool[..tool.len() - e.tool().len()].ends_with("__");
                (same_tool
                    && same_input(&held.decision, e)
                    && (0..=LINK_WINDOW_US).contains(&(e.ts - held.decision.ts))
                    && held.decision.door.as_deref() == Some("hook")
                    && held.linked.is_empty())
                .then_some(pos)
            }
            "outcome" | "permission.request" | "enforcement.gap" => {
                let by_seq = e.decision_seq.and_then(|s| self.by_seq.get(&s).copied());
                let by_id = || {
                    let id = e.tool_use_id.as_deref()?;
                    let pos = *self.by_use_id.get(&self.key(e, id))?;
                    let d = &self.held(pos)?.decision;
                    (d.session == e.session && d.tool_use_id.as_deref() == Some(id)).then_some(pos)
                };
                let by_input = || {
                    let digest = e.input_sha256.as_ref()?.as_str();
                    let pos = *self.by_input.get(&self.key(e, digest))?;
                    same_input(&self.held(pos)?.decision, e).then_some(pos)
                };
                by_seq
                    .or_else(by_id)
                    .or_else(by_input)
                    .filter(|p| self.held(*p).is_some())
            }
            _ => None,
        }
    }

    /// The hash of (the record's session, `what`).
    fn key(&self, e: &Entry, what: &str) -> u64 {
        let mut h = self.keys.build_hasher();
        e.session.as_deref().unwrap_or("").hash(&mut h);
        what.hash(&mut h);
        h.finish()
    }

    fn held(&self, pos: u64) -> Option<&Call> {
        let i = pos.checked_sub(self.base)? as usize;
        match self.queue.get(i)? {
            Some(Item::Call(c)) => Some(c),
            _ => None,
        }
    }

    fn index(&mut self, e: &Entry, pos: u64) {
        self.by_seq.insert(e.seq, pos);
        if let Some(id) = &e.tool_use_id {
            self.by_use_id.insert(self.key(e, id), pos);
        }
        if let Some(d) = &e.input_sha256 {
            self.by_input.insert(self.key(e, d.as_str()), pos);
        }
    }

    fn drain(&mut self, all: bool) -> Vec<Item> {
        let mut out = Vec::new();
        while let Some(front) = self.queue.front() {
            let age = self.next - self.base;
            let ready = all || age > self.hold as u64 || matches!(front, Some(Item::Event(_)));
            if !ready {
                break;
            }
            if let Some(item) = self.queue.pop_front().flatten() {
                if let Item::Call(c) = &item {
                    self.forget(c);
                }
                out.push(item);
            }
            self.base += 1;
        }
        out
    }

    fn forget(&mut self, c: &Call) {
        let pos = self.base;
        for seq in std::iter::once(&c.decision).chain(&c.linked).map(|d| d.seq) {
            if self.by_seq.get(&seq) == Some(&pos) {
                self.by_seq.remove(&seq);
            }
        }
        let d = &c.decision;
        if let Some(id) = &d.tool_use_id {
            let key = self.key(d, id);
            if self.by_use_id.get(&key) == Some(&pos) {
                self.by_use_id.remove(&key);
            }
        }
        if let Some(digest) = &d.input_sha256 {
            let key = self.key(d, digest.as_str());
            if self.by_input.get(&key) == Some(&pos) {
                self.by_input.remove(&key);
            }
        }
    }
}

/// The same session and input digest.
fn same_input(a: &Entry, b: &Entry) -> bool {
    a.session == b.session && a.input_sha256.is_some() && a.input_sha256 == b.input_sha256
}

/// Joins a whole sequence of records (for views that need them all, such as `replay`).
pub fn join(entries: impl IntoIterator<Item = Entry>) -> Vec<Item> {
    let mut j = Joiner::new(usize::MAX);
    let mut out = Vec::new();
    for e in entries {
        out.extend(j.push(e));
    }
    out.extend(j.finish());
    out
}
