//! The dashboard's incremental index of the ledger: one compact entry per record (where its line
//! is, when, which session, action, verdict and risk) and running totals, kept current by reading
//! only the bytes appended since the last look. Pages filter and count over the entries and read
//! full records back by offset, so a million-record ledger costs tens of megabytes, not its size.

use crate::call::{Effect, Risk};
use crate::ledger::record::into_record;
use crate::ledger::{LOG_FILE, Record};
use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes read per step while catching up.
const READ_CHUNK: usize = 4 << 20;
/// Width of one bucket of the activity chart, in microseconds (one hour).
pub const BUCKET_MICROS: i64 = 3_600_000_000;
/// Verdict slots: allow, flag, ask, deny, none (records without a verdict).
pub const VERDICTS: [&str; 5] = ["allow", "flag", "ask", "deny", "none"];
/// Risk slots, lowest first, then records without a risk.
pub const RISKS: [&str; 6] = ["none", "low", "medium", "high", "critical", "unknown"];
const NO_VERDICT: u8 = 4;
const NO_RISK: u8 = 5;

/// What the index keeps of one record.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Byte offset of the record's line in the log.
    pub offset: u64,
    pub seq: u64,
    /// Microseconds since the epoch.
    pub ts: i64,
    /// Length of the line without its newline.
    pub len: u32,
    /// Index into [`Index::sessions`], or `u32::MAX` for records without a session.
    pub session: u32,
    /// Index into [`Index::actions`] (the `action`, else the `event`).
    pub action: u16,
    /// Slot in [`VERDICTS`].
    pub verdict: u8,
    /// Slot in [`RISKS`].
    pub risk: u8,
}

impl Entry {
    /// True when the call was refused (deny) or held for a human (ask).
    pub fn refused(&self) -> bool {
        self.verdict == 2 || self.verdict == 3
    }

    /// The risk, if the record has one.
    pub fn risk(&self) -> Option<Risk> {
        risk_of_slot(self.risk)
    }
}

/// What the index knows about one session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub agent: Option<String>,
    pub first_ts: i64,
    pub last_ts: i64,
    pub records: u64,
    pub refusals: u64,
    /// Highest risk slot seen (in [`RISKS`] order; `NO_RISK` when none).
    pub worst: u8,
}

/// Calls and refusals in one activity bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    pub calls: u64,
    pub refusals: u64,
}

/// The index of one ledger log.
#[derive(Debug)]
pub struct Index {
    path: PathBuf,
    /// Bytes of the log indexed so far (always at a line boundary).
    end: u64,
    pub entries: Vec<Entry>,
    pub sessions: Vec<SessionInfo>,
    session_ids: HashMap<String, u32>,
    pub actions: Vec<String>,
    action_ids: HashMap<String, u16>,
    pub by_verdict: [u64; 5],
    pub by_risk: [u64; 6],
    /// Decision records (those with a verdict): the calls.
    pub calls: u64,
    pub activity: BTreeMap<i64, Bucket>,
    /// Positions in `entries` of refused calls, oldest first.
    pub refusals: Vec<u32>,
    /// Lines that could not be read as records (shown on the integrity page).
    pub unreadable: u64,
    /// Bumped when the log shrank or was replaced and the index was rebuilt.
    pub generation: u64,
}

/// The members of a record the index keeps, borrowed from the line.
#[derive(Deserialize)]
struct Lite<'a> {
    seq: u64,
    ts: i64,
    #[serde(borrow, default)]
    session: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    verdict: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    risk: Option<Cow<'a, str>>,
}

impl Index {
    /// An empty index of the ledger in `ledger_dir` (call [`Index::catch_up`] to fill it).
    pub fn new(ledger_dir: &Path) -> Index {
        Index {
            path: ledger_dir.join(LOG_FILE),
            end: 0,
            entries: Vec::new(),
            sessions: Vec::new(),
            session_ids: HashMap::new(),
            actions: Vec::new(),
            action_ids: HashMap::new(),
            by_verdict: [0; 5],
            by_risk: [0; 6],
            calls: 0,
            activity: BTreeMap::new(),
            refusals: Vec::new(),
            unreadable: 0,
            generation: 0,
        }
    }

    /// Reads the complete lines appended since the last call and returns how many entries were
    /// added. A log that shrank (a repaired tail) or was replaced is indexed again from the start.
    pub fn catch_up(&mut self) -> Result<usize> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e).context("cannot open the ledger"),
        };
        let len = file.metadata()?.len();
        if len < self.end || !self.still_same(&file)? {
            let generation = self.generation + 1;
            *self = Index::new(self.path.parent().unwrap_or(Path::new(".")));
            self.generation = generation;
        }
        if len == self.end {
            return Ok(0);
        }
        let before = self.entries.len();
        // Room for the new lines up front (estimated from the average line so far): growing by
        // doubling would briefly hold two copies of a large index.
        let avg = match self.entries.len() {
            0 => 256,
            n => (self.end / n as u64).max(64),
        };
        self.entries.reserve(((len - self.end) / avg) as usize + 16);
        file.seek(SeekFrom::Start(self.end))?;
        let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK.min((len - self.end) as usize + 1));
        let mut chunk = vec![0u8; READ_CHUNK.min((len - self.end) as usize + 1)];
        let mut base = self.end;
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("cannot read the ledger"),
            };
            buf.extend_from_slice(&chunk[..n]);
            let Some(last) = buf.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let mut start = 0;
            for line in buf[..last].split(|&b| b == b'\n') {
                self.add_line(base + start as u64, line);
                start += line.len() + 1;
            }
            base += (last + 1) as u64;
            buf.drain(..=last);
        }
        // An incomplete last line stays unindexed until its writer finishes it.
        self.end = base;
        Ok(self.entries.len() - before)
    }

    /// Whether the indexed prefix still ends where it did: the byte before `end` is a newline
    /// and the last entry's line still holds its record (a replaced log of the same or greater
    /// length is caught here).
    fn still_same(&self, file: &File) -> Result<bool> {
        let Some(last) = self.entries.last() else {
            return Ok(true);
        };
        let mut line = vec![0u8; last.len as usize + 1];
        if file.read_exact_at(&mut line, last.offset).is_err() {
            return Ok(false);
        }
        let Some(b'\n') = line.pop() else {
            return Ok(false);
        };
        Ok(serde_json::from_slice::<Lite<'_>>(&line).is_ok_and(|l| l.seq == last.seq))
    }

    fn add_line(&mut self, offset: u64, line: &[u8]) {
        match serde_json::from_slice::<Lite<'_>>(line) {
            Ok(lite) => self.add(offset, line.len(), &lite),
            // A record whose members have unusual types (a verdict object, say).
            Err(_) => match lite_of_value(line) {
                Some(lite) => self.add(offset, line.len(), &lite),
                None => self.unreadable += 1,
            },
        }
    }

    fn add(&mut self, offset: u64, len: usize, r: &Lite<'_>) {
        let verdict = r
            .verdict
            .as_deref()
            .and_then(|v| VERDICTS[..4].iter().position(|x| *x == v))
            .map_or(NO_VERDICT, |p| p as u8);
        let risk = r
            .risk
            .as_deref()
            .and_then(|v| RISKS[..5].iter().position(|x| *x == v))
            .map_or(NO_RISK, |p| p as u8);
        let action_name = r.action.as_deref().or(r.event.as_deref()).unwrap_or("-");
        let action = self.action_id(action_name);
        let pos = self.entries.len() as u32;
        let session = match r.session.as_deref() {
            Some(s) => self.session_id(s, r.agent.as_deref(), r.ts),
            None => u32::MAX,
        };
        let entry = Entry {
            offset,
            seq: r.seq,
            ts: r.ts,
            len: len.min(u32::MAX as usize) as u32,
            session,
            action,
            verdict,
            risk,
        };
        self.by_verdict[verdict as usize] += 1;
        self.by_risk[risk as usize] += 1;
        if verdict != NO_VERDICT {
            self.calls += 1;
            let b = self
                .activity
                .entry(r.ts.div_euclid(BUCKET_MICROS))
                .or_default();
            b.calls += 1;
            if entry.refused() {
                b.refusals += 1;
                self.refusals.push(pos);
            }
        }
        if let Some(s) = self.sessions.get_mut(session as usize) {
            s.records += 1;
            s.first_ts = s.first_ts.min(r.ts);
            s.last_ts = s.last_ts.max(r.ts);
            if entry.refused() {
                s.refusals += 1;
            }
            if risk != NO_RISK && (s.worst == NO_RISK || risk > s.worst) {
                s.worst = risk;
            }
        }
        self.entries.push(entry);
    }

    fn session_id(&mut self, id: &str, agent: Option<&str>, ts: i64) -> u32 {
        if let Some(&i) = self.session_ids.get(id) {
            if self.sessions[i as usize].agent.is_none() {
                self.sessions[i as usize].agent = agent.map(str::to_string);
            }
            return i;
        }
        let i = self.sessions.len() as u32;
        self.sessions.push(SessionInfo {
            id: id.to_string(),
            agent: agent.map(str::to_string),
            first_ts: ts,
            last_ts: ts,
            records: 0,
            refusals: 0,
            worst: NO_RISK,
        });
        self.session_ids.insert(id.to_string(), i);
        i
    }

    fn action_id(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.action_ids.get(name) {
            return i;
        }
        // Actions are a short vocabulary; past u16 (a flood of invented names) they share a slot.
        let i = self.actions.len().min(u16::MAX as usize) as u16;
        if (i as usize) == self.actions.len() {
            self.actions.push(name.to_string());
            self.action_ids.insert(name.to_string(), i);
        }
        i
    }

    /// The session slot of `id`, if the ledger has it.
    pub fn session(&self, id: &str) -> Option<u32> {
        self.session_ids.get(id).copied()
    }

    /// The action slot of `name`, if the ledger has it.
    pub fn action(&self, name: &str) -> Option<u16> {
        self.action_ids.get(name).copied()
    }

    /// The id of the session of `e`, if it has one.
    pub fn session_name(&self, e: &Entry) -> Option<&str> {
        self.sessions.get(e.session as usize).map(|s| s.id.as_str())
    }

    /// The entry of record `seq` (binary search: seqs only grow).
    pub fn by_seq(&self, seq: u64) -> Option<&Entry> {
        let i = self.entries.partition_point(|e| e.seq < seq);
        self.entries.get(i).filter(|e| e.seq == seq)
    }

    /// Bytes of the log indexed.
    pub fn indexed_bytes(&self) -> u64 {
        self.end
    }
}

/// Reads the stored line of `e` (without its newline) back from the log.
pub fn read_line(ledger_dir: &Path, e: &Entry) -> Result<Vec<u8>> {
    let file = File::open(ledger_dir.join(LOG_FILE)).context("cannot open the ledger")?;
    let mut line = vec![0u8; e.len as usize];
    file.read_exact_at(&mut line, e.offset)
        .context("cannot read a ledger record")?;
    Ok(line)
}

/// Reads the full record of `e` back from the log.
pub fn read_record(ledger_dir: &Path, e: &Entry) -> Result<Record> {
    let line = read_line(ledger_dir, e)?;
    let m: Map<String, Value> = serde_json::from_slice(&line)
        .with_context(|| format!("ledger record {} is not JSON", e.seq))?;
    into_record(m).map_err(|f| anyhow!("ledger record {}: {f}", e.seq))
}

/// The slot of `r` in [`RISKS`] order as a [`Risk`].
pub fn risk_of_slot(slot: u8) -> Option<Risk> {
    [
        Risk::None,
        Risk::Low,
        Risk::Medium,
        Risk::High,
        Risk::Critical,
    ]
    .get(slot as usize)
    .copied()
}

/// The slot of `effect` in [`VERDICTS`].
pub fn verdict_slot(effect: Effect) -> u8 {
    match effect {
        Effect::Allow => 0,
        Effect::Flag => 1,
        Effect::Ask => 2,
        Effect::Deny => 3,
    }
}

/// The indexed members of a record whose members are not all plain strings.
fn lite_of_value(line: &[u8]) -> Option<Lite<'static>> {
    let m: Map<String, Value> = serde_json::from_slice(line).ok()?;
    let text = |k: &str| match m.get(k) {
        Some(Value::String(s)) => Some(Cow::Owned(s.clone())),
        Some(Value::Object(o)) => o
            .get("effect")
            .and_then(Value::as_str)
            .map(|s| Cow::Owned(s.to_string())),
        _ => None,
    };
    Some(Lite {
        seq: m.get("seq")?.as_u64()?,
        ts: m.get("ts")?.as_i64()?,
        session: text("session"),
        agent: text("agent"),
        action: text("action"),
        event: text("event"),
        verdict: text("verdict"),
        risk: text("risk"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use serde_json::json;
    use std::io::Write;

    fn decision(session: &str, verdict: &str, risk: &str) -> Map<String, Value> {
        json!({"event": "decision", "session": session, "action": "command_execute",
               "verdict": verdict, "risk": risk, "target": ["command_execute:ls"]})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn catches_up_incrementally_and_waits_for_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        let mut idx = Index::new(ledger.dir());
        assert_eq!(idx.catch_up().unwrap(), 0, "no log yet");
        ledger.append(decision("a", "allow", "none")).unwrap();
        ledger.append(decision("a", "deny", "critical")).unwrap();
        assert_eq!(idx.catch_up().unwrap(), 2);
        ledger.append(decision("b", "ask", "high")).unwrap();
        assert_eq!(idx.catch_up().unwrap(), 1, "only the new line is read");
        assert_eq!((idx.calls, idx.by_verdict[3], idx.by_verdict[2]), (3, 1, 1));
        assert_eq!(idx.refusals.len(), 2);
        assert_eq!(idx.sessions.len(), 2);
        assert_eq!(idx.sessions[0].refusals, 1);
        assert_eq!(idx.by_seq(2).map(|e| e.risk()), Some(Some(Risk::High)));
        let r = read_record(ledger.dir(), idx.by_seq(1).unwrap()).unwrap();
        assert_eq!(r.str("verdict"), Some("deny"));

        // A writer caught mid-line: nothing is indexed until the line is complete.
        let log = ledger.dir().join(LOG_FILE);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"seq\":3,").unwrap();
        assert_eq!(idx.catch_up().unwrap(), 0);
        assert_eq!(
            idx.indexed_bytes(),
            std::fs::metadata(&log).unwrap().len() - 9
        );
    }

    #[test]
    fn a_shrunk_or_replaced_log_is_indexed_again() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        for _ in 0..3 {
            ledger.append(decision("a", "deny", "high")).unwrap();
        }
        let mut idx = Index::new(ledger.dir());
        idx.catch_up().unwrap();
        let log = ledger.dir().join(LOG_FILE);
        let text = std::fs::read_to_string(&log).unwrap();
        let first = text.lines().next().unwrap();
        std::fs::write(&log, format!("{first}\n")).unwrap();
        idx.catch_up().unwrap();
        assert_eq!((idx.entries.len(), idx.generation), (1, 1));
        assert_eq!(idx.by_verdict[3], 1, "totals rebuilt, not added to");
        // Same length, other content: the last indexed line no longer holds its record.
        let other = first.replace("\"seq\":0", "\"seq\":9");
        std::fs::write(&log, format!("{other}\n")).unwrap();
        idx.catch_up().unwrap();
        assert_eq!(idx.generation, 2);
        assert_eq!(idx.entries[0].seq, 9);
    }

    #[test]
    fn odd_lines_are_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let ledger_dir = dir.path().join("ledger");
        std::fs::create_dir_all(&ledger_dir).unwrap();
        let lines = [
            r#"{"seq":0,"ts":1,"verdict":{"effect":"deny"},"risk":"high","session":"s"}"#,
            "not json",
            r#"{"seq":"x"}"#,
            r#"{"seq":2,"ts":3,"risk":"bogus","action":"<b>x</b>"}"#,
        ];
        std::fs::write(ledger_dir.join(LOG_FILE), lines.join("\n") + "\n").unwrap();
        let mut idx = Index::new(&ledger_dir);
        assert_eq!(idx.catch_up().unwrap(), 2);
        assert_eq!(idx.unreadable, 2);
        assert_eq!(
            idx.by_verdict[3], 1,
            "a verdict object is read by its effect"
        );
        assert_eq!(
            idx.by_risk[NO_RISK as usize], 1,
            "an unknown risk is not a risk"
        );
        assert!(idx.action("<b>x</b>").is_some());
    }
}
