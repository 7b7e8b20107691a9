//! The ledger index: one compact entry per record (where its line is, when, which session,
//! action, verdict and risk), so that `log --session X`, `replay X` and the dashboard answer on a
//! million-record ledger without reading it all. It is a cache, never the truth: it is rebuilt
//! from the ledger whenever it does not match it (a shrunk log, a different record where it
//! expects one) and extended with the lines appended since it was last brought up to date.
//!
//! Building it reads each line's top-level members with [`super::members`] (no JSON tree), on
//! every core for a large span, so even the first query on a million records takes well under a
//! second. It is saved in `$PATCHWORK_HOME/state/views/` (any process may rebuild it):
//! - `records.bin`: [`ENTRY_BYTES`] per record — offset (u64), seq (u64), ts (i64), line length
//!   (u32), session number (u32, `u32::MAX` for none), action number (u16), verdict slot (u8),
//!   risk slot (u8), all little-endian;
//! - `sessions.txt`, `actions.txt`: the names behind the numbers, one per line (escaped);
//! - `meta.json`: how much of the log is covered and the SHA-256 of the last indexed line;
//!   written last, so an interrupted update is ignored and redone.

use super::filter::SessionSel;
use super::members::{self, Members};
use crate::ledger::LOG_FILE;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Verdict slots: allow, flag, ask, deny, then records without a verdict.
pub const VERDICTS: [&str; 5] = ["allow", "flag", "ask", "deny", "none"];
/// Risk slots, lowest first, then records without a risk.
pub const RISKS: [&str; 6] = ["none", "low", "medium", "high", "critical", "unknown"];
/// The verdict slot of a record without a verdict.
pub const NO_VERDICT: u8 = 4;
/// The risk slot of a record without a risk.
pub const NO_RISK: u8 = 5;
/// The session number of a record without a session.
pub const NO_SESSION: u32 = u32::MAX;
/// Bytes per record in `records.bin`.
pub const ENTRY_BYTES: usize = 36;

const FORMAT: u32 = 2;
/// Bytes read per step.
const READ_CHUNK: usize = 4 << 20;
/// Spans larger than this are indexed on several threads.
const PARALLEL_FROM: u64 = 32 << 20;

/// What the index keeps of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Byte offset of the record's line in the log.
    pub offset: u64,
    pub seq: u64,
    /// Microseconds since the epoch.
    pub ts: i64,
    /// Length of the line without its newline.
    pub len: u32,
    /// Number of the session ([`LedgerIndex::sessions`]), or [`NO_SESSION`].
    pub session: u32,
    /// Number of the action ([`LedgerIndex::actions`]): the `action` member, else the `event`.
    pub action: u16,
    /// Slot in [`VERDICTS`].
    pub verdict: u8,
    /// Slot in [`RISKS`].
    pub risk: u8,
}

impl IndexEntry {
    /// A refused call: denied, or held for a human (ask).
    pub fn refused(&self) -> bool {
        self.verdict == 2 || self.verdict == 3
    }

    fn to_bytes(self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        b[0..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.ts.to_le_bytes());
        b[24..28].copy_from_slice(&self.len.to_le_bytes());
        b[28..32].copy_from_slice(&self.session.to_le_bytes());
        b[32..34].copy_from_slice(&self.action.to_le_bytes());
        b[34] = self.verdict;
        b[35] = self.risk;
        b
    }

    fn from_bytes(b: &[u8; ENTRY_BYTES]) -> IndexEntry {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        IndexEntry {
            offset: u64_at(0),
            seq: u64_at(8),
            ts: u64_at(16) as i64,
            len: u32_at(24),
            session: u32_at(28),
            action: u16::from_le_bytes([b[32], b[33]]),
            verdict: b[34],
            risk: b[35],
        }
    }
}

/// What `meta.json` says about the saved files.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    /// Bytes of the log covered.
    log_len: u64,
    records: u64,
    sessions: u64,
    actions: u64,
    unreadable: u64,
    /// SHA-256 of the last indexed line (checks the log is still the one indexed).
    last_line: String,
}

/// A list of names and their numbers (sessions, actions).
#[derive(Debug, Default, Clone)]
struct Names {
    list: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(name.to_string());
        self.ids.insert(name.to_string(), i);
        i
    }
}

/// The index of one ledger log, in memory.
#[derive(Debug)]
pub struct LedgerIndex {
    log: PathBuf,
    /// Where it is saved (`None`: memory only).
    dir: Option<PathBuf>,
    /// Bytes of the log indexed (always at a line boundary).
    end: u64,
    /// SHA-256 (hex) of the last indexed line.
    last_line: String,
    entries: Vec<IndexEntry>,
    sessions: Names,
    actions: Names,
    unreadable: u64,
    generation: u64,
    /// What the saved files hold (to append only what is new).
    saved: Meta,
}

impl LedgerIndex {
    /// An empty index of the ledger in `ledger_dir`, saved in `dir` when given. Call
    /// [`LedgerIndex::catch_up`] to fill it.
    pub fn new(ledger_dir: &Path, dir: Option<&Path>) -> LedgerIndex {
        LedgerIndex {
            log: ledger_dir.join(LOG_FILE),
            dir: dir.map(Path::to_path_buf),
            end: 0,
            last_line: String::new(),
            entries: Vec::new(),
            sessions: Names::default(),
            actions: Names::default(),
            unreadable: 0,
            generation: 0,
            saved: Meta::default(),
        }
    }

    /// The index of the ledger in `ledger_dir`, up to date: the saved one from `dir` when it
    /// still matches the log, extended with what was appended since, and saved back (best
    /// effort: a read-only home still gets a correct index in memory).
    pub fn open(ledger_dir: &Path, dir: &Path) -> Result<LedgerIndex> {
        let _lock = lock(dir);
        let mut idx = LedgerIndex::new(ledger_dir, Some(dir));
        if idx.read_saved().is_err() {
            idx = LedgerIndex::new(ledger_dir, Some(dir));
        }
        idx.catch_up()?;
        let _ = idx.save_locked();
        Ok(idx)
    }

    /// Indexes the complete lines appended since the last call; returns how many records were
    /// added. A log that shrank (a repaired tail) or was replaced is indexed again from the
    /// start (and [`LedgerIndex::generation`] goes up).
    pub fn catch_up(&mut self) -> Result<usize> {
        let file = match File::open(&self.log) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if self.end > 0 {
                    self.reset();
                }
                return Ok(0);
            }
            Err(e) => return Err(e).context("cannot open the ledger"),
        };
        let len = file.metadata().context("cannot stat the ledger")?.len();
        if len < self.end || !self.still_same(&file) {
            self.reset();
        }
        if len == self.end {
            return Ok(0);
        }
        let before = self.entries.len();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8)) as u64;
        let parts = split(&file, self.end, len, PARALLEL_FROM, cores)?;
        let read: Vec<Result<Part>> = if parts.len() == 1 {
            vec![Part::read(&file, parts[0].0, parts[0].1)]
        } else {
            let file = &file;
            std::thread::scope(|s| {
                let handles: Vec<_> = parts
                    .iter()
                    .map(|&(a, b)| s.spawn(move || Part::read(file, a, b)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| bail!("index thread failed")))
                    .collect()
            })
        };
        for part in read {
            self.merge(part?);
        }
        self.last_line = self
            .entries
            .last()
            .and_then(|e| line_digest(&file, e))
            .unwrap_or_default();
        Ok(self.entries.len() - before)
    }

    /// Saves what is new to the index folder (best effort; nothing when memory only).
    pub fn save(&mut self) -> Result<()> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let _lock = lock(&dir);
        self.save_locked()
    }

    /// Deletes the saved index (it did not match the ledger); the next open rebuilds it.
    pub fn discard(&self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join("meta.json"));
        }
    }

    /// Every record indexed, in log order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Session ids, numbered in order of first appearance.
    pub fn sessions(&self) -> &[String] {
        &self.sessions.list
    }

    /// Action names (or event names of records without an action), numbered.
    pub fn actions(&self) -> &[String] {
        &self.actions.list
    }

    /// The number of session `id`, if the ledger has it.
    pub fn session(&self, id: &str) -> Option<u32> {
        self.sessions.ids.get(id).copied()
    }

    /// The number of action `name`, if the ledger has it.
    pub fn action(&self, name: &str) -> Option<u16> {
        self.actions.ids.get(name).map(|&i| i as u16)
    }

    /// The session id of `e`, if it has one.
    pub fn session_name(&self, e: &IndexEntry) -> Option<&str> {
        self.sessions
            .list
            .get(e.session as usize)
            .map(String::as_str)
    }

    /// The action name of `e`.
    pub fn action_name(&self, e: &IndexEntry) -> &str {
        self.actions
            .list
            .get(e.action as usize)
            .map_or("-", String::as_str)
    }

    /// The entry of record `seq` (binary search: seqs grow along the log).
    pub fn by_seq(&self, seq: u64) -> Option<&IndexEntry> {
        let i = self.entries.partition_point(|e| e.seq < seq);
        self.entries.get(i).filter(|e| e.seq == seq)
    }

    /// The entries of session `id`, in log order.
    pub fn of_session(&self, id: &str) -> Vec<IndexEntry> {
        match self.session(id) {
            Some(n) => self
                .entries
                .iter()
                .filter(|e| e.session == n)
                .copied()
                .collect(),
            None => Vec::new(),
        }
    }

    /// Number of records indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the log indexed.
    pub fn indexed_bytes(&self) -> u64 {
        self.end
    }

    /// Lines that could not be read as records.
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// Goes up each time the log shrank or was replaced and the index started again.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Resolves `latest` (the session of the newest record that has one) or an id prefix.
    pub fn resolve(&self, sel: &SessionSel) -> Result<String> {
        match sel {
            SessionSel::Latest => self
                .entries
                .iter()
                .rev()
                .find_map(|e| self.session_name(e))
                .map(str::to_string)
                .context("no record has a session yet"),
            SessionSel::Id(id) => {
                if self.session(id).is_some() {
                    return Ok(id.clone());
                }
                let hits: Vec<&String> = self
                    .sessions
                    .list
                    .iter()
                    .filter(|s| s.starts_with(id.as_str()))
                    .collect();
                match hits.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => bail!(
                        "no session `{id}` in the ledger (`patchwork-gateway log` lists them)"
                    ),
                    many => bail!(
                        "`{id}` matches {} sessions ({}…): give more of the id",
                        many.len(),
                        many.iter()
                            .take(3)
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
        }
    }

    /// Forgets everything indexed (the next save rewrites the files whole).
    fn reset(&mut self) {
        let generation = self.generation + 1;
        *self = LedgerIndex::new(
            self.log.parent().unwrap_or(Path::new(".")),
            self.dir.as_deref(),
        );
        self.generation = generation;
    }

    /// Whether the indexed prefix is still there: the last indexed line is where it was, byte
    /// for byte (a replaced log of the same or greater length is caught here).
    fn still_same(&self, file: &File) -> bool {
        match self.entries.last() {
            Some(last) => line_digest(file, last).is_some_and(|d| d == self.last_line),
            None => self.end == 0,
        }
    }

    /// Adds a part read from the log (its session and action numbers are its own).
    fn merge(&mut self, part: Part) {
        self.unreadable += part.unreadable;
        self.end = part.end;
        if self.entries.is_empty() && self.sessions.list.is_empty() && self.actions.list.is_empty()
        {
            // The first part's numbers are already the index's.
            self.entries = part.entries;
            self.sessions = part.sessions;
            self.actions = part.actions;
            return;
        }
        let sessions: Vec<u32> = part
            .sessions
            .list
            .iter()
            .map(|s| self.sessions.id(s))
            .collect();
        let actions: Vec<u16> = part
            .actions
            .list
            .iter()
            .map(|a| action_number(&mut self.actions, a))
            .collect();
        self.entries.reserve(part.entries.len());
        for mut e in part.entries {
            if e.session != NO_SESSION {
                e.session = sessions[e.session as usize];
            }
            e.action = actions[e.action as usize];
            self.entries.push(e);
        }
    }

    fn meta(&self) -> Meta {
        Meta {
            format: FORMAT,
            log_len: self.end,
            records: self.entries.len() as u64,
            sessions: self.sessions.list.len() as u64,
            actions: self.actions.list.len() as u64,
            unreadable: self.unreadable,
            last_line: self.last_line.clone(),
        }
    }

    /// Loads the saved index when it still matches the log.
    fn read_saved(&mut self) -> Result<()> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let Some(m) = read_meta(&dir) else {
            return Ok(());
        };
        if m.format != FORMAT {
            return Ok(());
        }
        self.sessions = read_names(&dir.join("sessions.txt"), m.sessions)?;
        self.actions = read_names(&dir.join("actions.txt"), m.actions)?;
        let mut records = BufReader::with_capacity(1 << 20, File::open(dir.join("records.bin"))?);
        self.entries = Vec::with_capacity(m.records as usize);
        let mut b = [0u8; ENTRY_BYTES];
        for _ in 0..m.records {
            records.read_exact(&mut b)?;
            let e = IndexEntry::from_bytes(&b);
            let known_session =
                e.session == NO_SESSION || (e.session as usize) < self.sessions.list.len();
            if !known_session || e.action as usize >= self.actions.list.len() {
                bail!("the saved index names an unknown session or action");
            }
            self.entries.push(e);
        }
        self.end = m.log_len;
        self.last_line = m.last_line.clone();
        self.unreadable = m.unreadable;
        self.saved = m;
        Ok(())
    }

    /// Writes what is new since the last save (everything when the saved files are not the
    /// ones this index came from), then the meta file. The caller holds the folder's lock.
    fn save_locked(&mut self) -> Result<()> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let now = self.meta();
        let on_disk = read_meta(&dir).unwrap_or_default();
        if on_disk == now {
            self.saved = now;
            return Ok(());
        }
        // Another process saved a longer index (of the log as it grew since): leave it.
        if on_disk.format == FORMAT && on_disk.log_len > now.log_len {
            return Ok(());
        }
        crate::home::create_private_dir(&dir)?;
        let base = if on_disk == self.saved && self.saved.format == FORMAT {
            self.saved.clone()
        } else {
            Meta::default()
        };
        let _ = std::fs::remove_file(dir.join("meta.json"));
        let (s0, a0, r0) = (
            base.sessions as usize,
            base.actions as usize,
            base.records as usize,
        );
        append_names(&dir.join("sessions.txt"), &self.sessions.list, s0)?;
        append_names(&dir.join("actions.txt"), &self.actions.list, a0)?;
        let mut recs = BufWriter::with_capacity(
            1 << 20,
            open_at(&dir.join("records.bin"), (r0 * ENTRY_BYTES) as u64)?,
        );
        for e in &self.entries[r0..] {
            recs.write_all(&e.to_bytes())?;
        }
        recs.flush()?;
        let tmp = dir.join("meta.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&now)?)?;
        std::fs::rename(&tmp, dir.join("meta.json"))?;
        self.saved = now;
        Ok(())
    }
}

/// The action number of `name`; past u16 (a flood of invented names) they share the last slot.
fn action_number(actions: &mut Names, name: &str) -> u16 {
    if let Some(&i) = actions.ids.get(name) {
        return i as u16;
    }
    if actions.list.len() > u16::MAX as usize {
        return u16::MAX;
    }
    actions.id(name) as u16
}

/// Records read from one stretch of the log, numbered on their own.
struct Part {
    entries: Vec<IndexEntry>,
    sessions: Names,
    actions: Names,
    unreadable: u64,
    /// Offset just after the last complete line.
    end: u64,
}

impl Part {
    /// Indexes the complete lines in `[from, to)`.
    fn read(file: &File, from: u64, to: u64) -> Result<Part> {
        let mut part = Part {
            entries: Vec::with_capacity(((to - from) / 512) as usize),
            sessions: Names::default(),
            actions: Names::default(),
            unreadable: 0,
            end: from,
        };
        let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
        let mut at = from;
        while at < to {
            let want = READ_CHUNK.min((to - at) as usize);
            let old = buf.len();
            buf.resize(old + want, 0);
            let n = match file.read_at(&mut buf[old..], at) {
                Ok(0) => {
                    buf.truncate(old);
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {
                    buf.truncate(old);
                    continue;
                }
                Err(e) => return Err(e).context("cannot read the ledger"),
            };
            buf.truncate(old + n);
            at += n as u64;
            let Some(last) = memchr::memrchr(b'\n', &buf) else {
                continue;
            };
            let mut start = 0;
            while start <= last {
                let nl = start + memchr::memchr(b'\n', &buf[start..=last]).unwrap_or(last - start);
                part.add(part.end, &buf[start..nl]);
                part.end += (nl - start + 1) as u64;
                start = nl + 1;
            }
            buf.drain(..=last);
        }
        Ok(part)
    }

    fn add(&mut self, offset: u64, line: &[u8]) {
        let m = match members::read(line) {
            Some(m) if !m.odd => m,
            _ => match members_of_value(line) {
                Some(m) => m,
                None => {
                    self.unreadable += 1;
                    return;
                }
            },
        };
        let (Some(seq), Some(ts)) = (m.seq, m.ts) else {
            self.unreadable += 1;
            return;
        };
        let slot = |v: Option<&str>, names: &[&str], none: u8| {
            v.and_then(|v| names[..none as usize].iter().position(|x| *x == v))
                .map_or(none, |p| p as u8)
        };
        let action = m.action.as_deref().or(m.event.as_deref()).unwrap_or("-");
        self.entries.push(IndexEntry {
            offset,
            seq,
            ts,
            len: line.len().min(u32::MAX as usize) as u32,
            session: m
                .session
                .as_deref()
                .map_or(NO_SESSION, |s| self.sessions.id(s)),
            action: action_number(&mut self.actions, action),
            verdict: slot(m.verdict.as_deref(), &VERDICTS, NO_VERDICT),
            risk: slot(m.risk.as_deref(), &RISKS, NO_RISK),
        });
    }
}

/// The members of a line whose members have unusual types (a verdict object with an `effect`),
/// or that the fast reader refused, through a full parse.
fn members_of_value(line: &[u8]) -> Option<Members<'static>> {
    let m: Map<String, Value> = serde_json::from_slice(line).ok()?;
    let text = |k: &str| match m.get(k) {
        Some(Value::String(s)) => Some(Cow::Owned(s.clone())),
        Some(Value::Object(o)) => o
            .get("effect")
            .and_then(Value::as_str)
            .map(|s| Cow::Owned(s.to_string())),
        _ => None,
    };
    Some(Members {
        seq: m.get("seq").and_then(Value::as_u64),
        ts: m.get("ts").and_then(Value::as_i64),
        session: text("session"),
        agent: text("agent"),
        action: text("action"),
        event: text("event"),
        verdict: text("verdict"),
        risk: text("risk"),
        odd: false,
    })
}

/// SHA-256 (hex) of the line of `e`, if it still ends where the index says.
fn line_digest(file: &File, e: &IndexEntry) -> Option<String> {
    let mut line = vec![0u8; e.len as usize + 1];
    file.read_exact_at(&mut line, e.offset).ok()?;
    (line.pop() == Some(b'\n')).then(|| hex::encode(Sha256::digest(&line)))
}

/// Splits `[from, to)` at line boundaries into one stretch per core when the span is at least
/// `min_span` bytes.
fn split(file: &File, from: u64, to: u64, min_span: u64, cores: u64) -> Result<Vec<(u64, u64)>> {
    if to - from < min_span || cores < 2 {
        return Ok(vec![(from, to)]);
    }
    let mut cuts = vec![from];
    let mut probe = vec![0u8; 64 * 1024];
    for k in 1..cores {
        let guess = from + (to - from) * k / cores;
        let mut at = guess.max(*cuts.last().expect("one cut"));
        // The stretch starts after the first newline at or past the guess.
        loop {
            let n = file.read_at(&mut probe, at)?;
            if n == 0 {
                at = to;
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &probe[..n]) {
                at += i as u64 + 1;
                break;
            }
            at += n as u64;
        }
        cuts.push(at.min(to));
    }
    cuts.push(to);
    Ok(cuts
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| (w[0], w[1]))
        .collect())
}

/// Names are untrusted text: one per line, with `\` and newlines escaped.
fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['\\', '\n', '\r']) {
        return s.into();
    }
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .into()
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn read_names(path: &Path, count: u64) -> Result<Names> {
    let mut names = Names::default();
    let file = BufReader::new(File::open(path)?);
    for line in file.lines().take(count as usize) {
        let name = unescape(&line?);
        if names.ids.contains_key(&name) {
            bail!("a name is listed twice in {}", path.display());
        }
        names.id(&name);
    }
    if names.list.len() as u64 != count {
        bail!("{} is short", path.display());
    }
    Ok(names)
}

/// Keeps the first `keep` names of the file and appends the rest of `list`.
fn append_names(path: &Path, list: &[String], keep: usize) -> Result<()> {
    let keep_bytes: u64 = list[..keep]
        .iter()
        .map(|s| escape(s).len() as u64 + 1)
        .sum();
    let mut out = BufWriter::new(open_at(path, keep_bytes)?);
    for s in &list[keep..] {
        out.write_all(escape(s).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Opens `path` for writing, cut to `keep` bytes, positioned at its end.
fn open_at(path: &Path, keep: u64) -> Result<File> {
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.set_len(keep)?;
    f.seek(SeekFrom::End(0))?;
    Ok(f)
}

fn read_meta(dir: &Path) -> Option<Meta> {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()
}

/// An exclusive lock on the index folder while it is read or written (none when the folder
/// cannot be created: the index then stays in memory).
fn lock(dir: &Path) -> Option<File> {
    crate::home::create_private_dir(dir).ok()?;
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("lock"))
        .ok()?;
    // SAFETY: flock on a descriptor we own; released when `f` is dropped.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    (rc == 0).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use serde_json::json;

    fn record(session: &str, verdict: &str, risk: &str) -> Map<String, Value> {
        json!({"event": "decision", "session": session, "action": "command_execute",
               "verdict": verdict, "risk": risk, "target": ["command_execute:ls"],
               "diff": {"session": "nested-is-not-the-session", "risk": "critical"}})
        .as_object()
        .unwrap()
        .clone()
    }

    fn setup() -> (tempfile::TempDir, Ledger, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        let idx_dir = dir.path().join("state/views");
        (dir, ledger, idx_dir)
    }

    #[test]
    fn indexes_top_level_members_and_saves_what_is_new() {
        let (_d, ledger, idx_dir) = setup();
        let hostile = "s\nwith\\newline\r";
        ledger.append(record("a", "allow", "low")).unwrap();
        ledger.append(record(hostile, "deny", "high")).unwrap();
        let mut ev = Map::new();
        ev.insert("event".into(), json!("session.end"));
        ev.insert("session".into(), json!("a"));
        ledger.append(ev).unwrap();
        let idx = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.sessions(), ["a", hostile]);
        let e = idx.entries()[1];
        assert_eq!((e.seq, e.verdict, e.risk), (1, 3, 3));
        assert!(e.refused());
        assert_eq!(idx.action_name(&idx.entries()[2]), "session.end");
        assert_eq!(idx.entries()[2].verdict, NO_VERDICT);
        assert_eq!(idx.of_session("a").len(), 2);
        assert_eq!(idx.by_seq(2).map(|e| e.seq), Some(2));
        assert_eq!(idx.resolve(&SessionSel::Latest).unwrap(), "a");
        assert_eq!(idx.resolve(&SessionSel::Id("s\n".into())).unwrap(), hostile);
        assert!(idx.resolve(&SessionSel::Id("zz".into())).is_err());

        // Reopened: read back from the files, the same index.
        let again = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!(again.entries(), idx.entries());
        assert_eq!(again.sessions(), idx.sessions());
        assert_eq!(again.actions(), idx.actions());

        // Appends since: only they are read and saved.
        ledger.append(record("b", "ask", "medium")).unwrap();
        let size = std::fs::metadata(idx_dir.join("records.bin"))
            .unwrap()
            .len();
        assert_eq!(size, 3 * ENTRY_BYTES as u64);
        let grown = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!(grown.len(), 4);
        assert_eq!(&grown.entries()[..3], idx.entries());
        assert_eq!(grown.sessions(), ["a", hostile, "b"]);
        let size = std::fs::metadata(idx_dir.join("records.bin"))
            .unwrap()
            .len();
        assert_eq!(size, 4 * ENTRY_BYTES as u64);
    }

    #[test]
    fn a_saved_index_that_no_longer_matches_is_rebuilt() {
        let (_d, ledger, idx_dir) = setup();
        for s in ["a", "b", "c"] {
            ledger.append(record(s, "allow", "none")).unwrap();
        }
        LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        // The log replaced by another one of the same length: the last line differs.
        let log = ledger.dir().join(LOG_FILE);
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::write(&log, text.replace("\"session\":\"c\"", "\"session\":\"d\"")).unwrap();
        let idx = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!(idx.sessions(), ["a", "b", "d"]);
        // Shrunk (a repaired tail): rebuilt, and the files rewritten whole.
        let first = text.lines().next().unwrap();
        std::fs::write(&log, format!("{first}\n")).unwrap();
        let idx = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!((idx.len(), idx.sessions().len()), (1, 1));
        let again = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!(again.entries(), idx.entries());
        // Damaged files: ignored and rebuilt.
        std::fs::write(idx_dir.join("records.bin"), b"short").unwrap();
        std::fs::write(&log, &text).unwrap();
        let idx = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!(idx.len(), 3);
    }

    #[test]
    fn a_torn_line_waits_and_bad_lines_are_counted() {
        let (_d, ledger, idx_dir) = setup();
        ledger.append(record("a", "deny", "critical")).unwrap();
        let log = ledger.dir().join(LOG_FILE);
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"not json\n{\"seq\":\"x\"}\n").unwrap();
        f.write_all(
            br#"{"seq":7,"ts":3,"verdict":{"effect":"deny"},"risk":"bogus","session":"v"}"#,
        )
        .unwrap();
        f.write_all(b"\n{\"seq\":8,").unwrap();
        let mut idx = LedgerIndex::open(ledger.dir(), &idx_dir).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.unreadable(), 2);
        let odd = idx.entries()[1];
        assert_eq!((odd.verdict, odd.risk), (3, NO_RISK));
        let len = std::fs::metadata(&log).unwrap().len();
        assert_eq!(
            idx.indexed_bytes(),
            len - 9,
            "the torn line is left for later"
        );
        f.write_all(b"\"ts\":9}\n").unwrap();
        assert_eq!(idx.catch_up().unwrap(), 1);
    }

    #[test]
    fn parts_read_on_several_threads_merge_into_the_same_index() {
        let (_d, ledger, _idx_dir) = setup();
        for i in 0..200 {
            let s = format!("s{}", (i * 7) % 13);
            ledger.append(record(&s, "allow", "low")).unwrap();
        }
        let log = ledger.dir().join(LOG_FILE);
        let file = File::open(&log).unwrap();
        let len = file.metadata().unwrap().len();
        let mut whole = LedgerIndex::new(ledger.dir(), None);
        whole.catch_up().unwrap();
        let parts = split(&file, 0, len, 0, 5).unwrap();
        assert_eq!(parts.len(), 5);
        let mut merged = LedgerIndex::new(ledger.dir(), None);
        for (a, b) in parts
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            merged.merge(Part::read(&file, a, b).unwrap());
        }
        assert_eq!(merged.entries(), whole.entries());
        assert_eq!(merged.sessions(), whole.sessions());
        assert_eq!(merged.indexed_bytes(), len);
    }
}
