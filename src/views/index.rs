//! The session index: a small sidecar that makes `log --session X` and `replay X` fast on a
//! large ledger. It is a cache, never the truth: it is rebuilt from the ledger whenever it does
//! not match it (missing, shrunk log, a different record where it expects one), and extended
//! with the records appended since it was last brought up to date.
//!
//! Files in the index folder (`$PATCHWORK_HOME/state/views/`):
//! - `sessions.txt`: the session ids, one per line, in order of first appearance;
//! - `actions.txt`: the action (or event) names, likewise;
//! - `records.bin`: 32 bytes per record, little-endian — offset in the log (u64), seq (u64),
//!   ts (i64), session number (u32, `u32::MAX` for none), action number (u16), verdict slot
//!   (u8, [`VERDICTS`]), risk slot (u8, [`RISKS`]); the last four let the dashboard count and
//!   filter without reading the log;
//! - `meta.json`: how much of the log is covered and the hash of the last covered record;
//!   written last, so an interrupted update is ignored and redone.
//!
//! Lines that are not records (not JSON, no `seq`/`ts`) are skipped and counted.

use super::filter::SessionSel;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 2;
const ENTRY: usize = 32;
const NONE: u32 = u32::MAX;

/// Verdict slots: allow, flag, ask, deny, then records without a verdict.
pub const VERDICTS: [&str; 5] = ["allow", "flag", "ask", "deny", "none"];
/// Risk slots, lowest first, then records without a risk.
pub const RISKS: [&str; 6] = ["none", "low", "medium", "high", "critical", "unknown"];
/// The verdict slot of records without a verdict.
pub const NO_VERDICT: u8 = 4;
/// The risk slot of records without a (known) risk.
pub const NO_RISK: u8 = 5;

/// What the index keeps of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indexed {
    /// Byte offset of the record's line in the log.
    pub offset: u64,
    pub seq: u64,
    /// Microseconds since the epoch.
    pub ts: i64,
    /// Session number ([`SessionIndex::sessions`]), `u32::MAX` for none.
    pub session: u32,
    /// Action number ([`SessionIndex::actions`]): the `action`, else the `event`.
    pub action: u16,
    /// Slot in [`VERDICTS`].
    pub verdict: u8,
    /// Slot in [`RISKS`].
    pub risk: u8,
}

impl Indexed {
    /// True when the call was refused (deny) or held for a human (ask).
    pub fn refused(&self) -> bool {
        self.verdict == 2 || self.verdict == 3
    }

    fn to_bytes(self) -> [u8; ENTRY] {
        let mut b = [0u8; ENTRY];
        b[0..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.ts.to_le_bytes());
        b[24..28].copy_from_slice(&self.session.to_le_bytes());
        b[28..30].copy_from_slice(&self.action.to_le_bytes());
        b[30] = self.verdict;
        b[31] = self.risk;
        b
    }

    fn from_bytes(c: &[u8]) -> Indexed {
        let u64_at = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().expect("8 bytes"));
        Indexed {
            offset: u64_at(0),
            seq: u64_at(8),
            ts: u64_at(16) as i64,
            session: u32::from_le_bytes(c[24..28].try_into().expect("4 bytes")),
            action: u16::from_le_bytes(c[28..30].try_into().expect("2 bytes")),
            verdict: c[30],
            risk: c[31],
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    /// Bytes of the log covered.
    log_len: u64,
    records: u64,
    sessions: u64,
    actions: u64,
    /// Lines skipped because they are not records.
    unreadable: u64,
    /// `hash` of the last covered record (checks the log is still the one indexed).
    last_hash: String,
    last_offset: u64,
}

/// Session ids, action names and what the index keeps of every record, in memory.
#[derive(Debug, Default)]
pub struct SessionIndex {
    dir: PathBuf,
    log: PathBuf,
    sessions: Vec<String>,
    numbers: HashMap<String, u32>,
    actions: Vec<String>,
    action_numbers: HashMap<String, u16>,
    /// One entry per record, in log order.
    records: Vec<Indexed>,
    /// What is covered (in memory; on disk once saved).
    covered: Meta,
    /// (sessions, actions, records) as last saved.
    saved: (usize, usize, usize),
    /// Whether something is not saved yet.
    dirty: bool,
}

#[derive(Deserialize)]
struct Key<'a> {
    seq: u64,
    ts: i64,
    #[serde(borrow, default)]
    session: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hash: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    verdict: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    risk: Option<Cow<'a, str>>,
}

impl Key<'_> {
    /// The key of a line whose members are not all plain strings (a verdict object, say).
    fn of_value(line: &[u8]) -> Option<Key<'static>> {
        let m: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(line).ok()?;
        let text = |k: &str| match m.get(k) {
            Some(serde_json::Value::String(s)) => Some(Cow::Owned(s.clone())),
            Some(serde_json::Value::Object(o)) => o
                .get("effect")
                .and_then(serde_json::Value::as_str)
                .map(|s| Cow::Owned(s.to_string())),
            _ => None,
        };
        Some(Key {
            seq: m.get("seq")?.as_u64()?,
            ts: m.get("ts")?.as_i64()?,
            session: text("session"),
            hash: text("hash"),
            action: text("action"),
            event: text("event"),
            verdict: text("verdict"),
            risk: text("risk"),
        })
    }
}

impl SessionIndex {
    /// Loads the index of `log` from `dir`, rebuilding or extending it as needed, and saves it
    /// back when the folder is writable (a read-only home still gets a correct, in-memory index).
    pub fn load(log: &Path, dir: &Path) -> Result<SessionIndex> {
        let _lock = lock(dir);
        let mut idx = SessionIndex {
            dir: dir.to_path_buf(),
            log: log.to_path_buf(),
            dirty: true,
            ..SessionIndex::default()
        };
        let log_len = log_len(log)?;
        let meta = read_meta(dir)
            .filter(|m| m.format == FORMAT && m.log_len <= log_len)
            .filter(|m| still_matches(log, m));
        if let Some(m) = meta {
            if idx.read_files(&m).is_ok() {
                idx.covered = m;
                idx.saved = (idx.sessions.len(), idx.actions.len(), idx.records.len());
                idx.dirty = false;
            } else {
                idx.clear();
            }
        }
        idx.extend()?;
        // Best effort: the index is a cache.
        let _ = idx.save_locked();
        Ok(idx)
    }

    /// Reads the records appended to the log since the index was last brought up to date and
    /// returns how many were added; `None` when the log shrank or was replaced, so the index
    /// was rebuilt from the start.
    pub fn refresh(&mut self) -> Result<Option<usize>> {
        let len = log_len(&self.log)?;
        if len < self.covered.log_len || !still_matches(&self.log, &self.covered) {
            self.clear();
            self.extend()?;
            return Ok(None);
        }
        let before = self.records.len();
        if len > self.covered.log_len {
            self.extend()?;
        }
        Ok(Some(self.records.len() - before))
    }

    /// Writes what is new since the last save to the index folder, under its lock.
    /// Skipped (and tried again on the next call) while another process updates the folder.
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        match try_lock(&self.dir) {
            Some(_lock) => self.save_locked(),
            None => Ok(()),
        }
    }

    /// Deletes the saved index (it did not match the ledger); the next load rebuilds it.
    pub fn discard(&self) {
        let _ = std::fs::remove_file(self.dir.join("meta.json"));
    }

    /// Every session id, in order of first appearance.
    pub fn sessions(&self) -> &[String] {
        &self.sessions
    }

    /// Every action (or event) name, in order of first appearance.
    pub fn actions(&self) -> &[String] {
        &self.actions
    }

    /// What the index keeps of every record, in log order.
    pub fn records(&self) -> &[Indexed] {
        &self.records
    }

    /// The number of session `id`, if the ledger has it.
    pub fn session_number(&self, id: &str) -> Option<u32> {
        self.numbers.get(id).copied()
    }

    /// The number of action `name`, if the ledger has it.
    pub fn action_number(&self, name: &str) -> Option<u16> {
        self.action_numbers.get(name).copied()
    }

    /// Lines of the log that are not records (skipped).
    pub fn unreadable(&self) -> u64 {
        self.covered.unreadable
    }

    /// Bytes of the log covered.
    pub fn covered_bytes(&self) -> u64 {
        self.covered.log_len
    }

    /// Offsets of the records of `session`.
    pub fn offsets(&self, session: &str) -> Vec<u64> {
        match self.numbers.get(session) {
            Some(&n) => self
                .records
                .iter()
                .filter(|r| r.session == n)
                .map(|r| r.offset)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Number of records indexed.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Resolves `latest` (the session of the newest record that has one) or an id prefix.
    pub fn resolve(&self, sel: &SessionSel) -> Result<String> {
        match sel {
            SessionSel::Latest => self
                .records
                .iter()
                .rev()
                .find(|r| r.session != NONE)
                .map(|r| self.sessions[r.session as usize].clone())
                .context("no record has a session yet"),
            SessionSel::Id(id) => {
                if self.numbers.contains_key(id) {
                    return Ok(id.clone());
                }
                let hits: Vec<&String> = self
                    .sessions
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

    fn clear(&mut self) {
        self.sessions.clear();
        self.numbers.clear();
        self.actions.clear();
        self.action_numbers.clear();
        self.records.clear();
        self.covered = Meta::default();
        self.saved = (0, 0, 0);
        self.dirty = true;
    }

    fn read_files(&mut self, m: &Meta) -> Result<()> {
        self.sessions = read_names(&self.dir.join("sessions.txt"), m.sessions)?;
        self.numbers = (0..)
            .zip(&self.sessions)
            .map(|(i, s)| (s.clone(), i))
            .collect();
        self.actions = read_names(&self.dir.join("actions.txt"), m.actions)?;
        if self.actions.len() > u16::MAX as usize + 1 {
            bail!("too many actions");
        }
        self.action_numbers = (0..)
            .zip(&self.actions)
            .map(|(i, s)| (s.clone(), i))
            .collect();
        let mut file = File::open(self.dir.join("records.bin"))?;
        let total = m.records as usize;
        self.records = Vec::with_capacity(total);
        // In steps, so the bytes and the entries are not both held whole.
        let mut chunk = vec![0u8; ENTRY * 32_768];
        while self.records.len() < total {
            let n = (total - self.records.len()).min(32_768) * ENTRY;
            file.read_exact(&mut chunk[..n])?;
            self.records
                .extend(chunk[..n].chunks_exact(ENTRY).map(Indexed::from_bytes));
        }
        let (sessions, actions) = (self.sessions.len(), self.actions.len());
        if self.records.iter().any(|r| {
            (r.session != NONE && r.session as usize >= sessions)
                || r.action as usize >= actions
                || r.verdict > NO_VERDICT
                || r.risk > NO_RISK
        }) {
            bail!("index names an unknown session or action");
        }
        Ok(())
    }

    /// Indexes the log from where the index stopped.
    fn extend(&mut self) -> Result<()> {
        let source =
            super::source::Source::new(self.log.parent().unwrap_or(Path::new(".")), &self.dir);
        let mut scan = source.scan_from(self.covered.log_len)?;
        while let Some(line) = scan.next_line() {
            let (offset, bytes) = line?;
            // The members are read without building a JSON tree (the first build of a large
            // ledger's index reads every line); odd lines go through a full parse.
            let fast = super::members::read(bytes).and_then(|m| {
                (!m.odd).then_some(())?;
                Some(Key {
                    seq: m.seq?,
                    ts: m.ts?,
                    session: m.session,
                    hash: m.hash,
                    action: m.action,
                    event: m.event,
                    verdict: m.verdict,
                    risk: m.risk,
                })
            });
            let key = match fast.ok_or(()) {
                Ok(k) => k,
                Err(()) => match Key::of_value(bytes) {
                    Some(k) => k,
                    None => {
                        self.covered.unreadable += 1;
                        continue;
                    }
                },
            };
            let session = match key.session.as_deref() {
                Some(s) => self.session_slot(s),
                None => NONE,
            };
            let action = self.action_slot(
                key.action
                    .as_deref()
                    .or(key.event.as_deref())
                    .unwrap_or("-"),
            );
            let verdict = key
                .verdict
                .as_deref()
                .and_then(|v| VERDICTS[..4].iter().position(|x| *x == v))
                .map_or(NO_VERDICT, |p| p as u8);
            let risk = key
                .risk
                .as_deref()
                .and_then(|v| RISKS[..5].iter().position(|x| *x == v))
                .map_or(NO_RISK, |p| p as u8);
            self.records.push(Indexed {
                offset,
                seq: key.seq,
                ts: key.ts,
                session,
                action,
                verdict,
                risk,
            });
            self.covered.last_hash = key.hash.map(|h| h.into_owned()).unwrap_or_default();
            self.covered.last_offset = offset;
        }
        let c = &mut self.covered;
        if scan.offset != c.log_len || c.format != FORMAT {
            self.dirty = true;
        }
        c.format = FORMAT;
        c.log_len = scan.offset;
        c.records = self.records.len() as u64;
        c.sessions = self.sessions.len() as u64;
        c.actions = self.actions.len() as u64;
        Ok(())
    }

    fn session_slot(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.numbers.get(id) {
            return n;
        }
        let n = self.sessions.len() as u32;
        self.numbers.insert(id.to_string(), n);
        self.sessions.push(id.to_string());
        n
    }

    fn action_slot(&mut self, name: &str) -> u16 {
        if let Some(&n) = self.action_numbers.get(name) {
            return n;
        }
        // Actions are a short vocabulary; past u16 (a flood of invented names) they share a slot.
        let n = self.actions.len().min(u16::MAX as usize) as u16;
        if n as usize == self.actions.len() {
            self.actions.push(name.to_string());
            self.action_numbers.insert(name.to_string(), n);
        }
        n
    }

    /// Writes what is new since the last save, then the meta file (the caller holds the lock).
    fn save_locked(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        crate::home::create_private_dir(&self.dir)?;
        let (s0, a0, r0) = self.saved;
        append_names(&self.dir.join("sessions.txt"), &self.sessions, s0)?;
        append_names(&self.dir.join("actions.txt"), &self.actions, a0)?;
        let mut recs = BufWriter::new(open_at(&self.dir.join("records.bin"), (r0 * ENTRY) as u64)?);
        for r in &self.records[r0..] {
            recs.write_all(&r.to_bytes())?;
        }
        recs.flush()?;
        let tmp = self.dir.join("meta.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.covered)?)?;
        std::fs::rename(&tmp, self.dir.join("meta.json"))?;
        self.saved = (self.sessions.len(), self.actions.len(), self.records.len());
        self.dirty = false;
        Ok(())
    }
}

/// Size of the log (0 while it does not exist).
fn log_len(log: &Path) -> Result<u64> {
    match std::fs::metadata(log) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).context("cannot open the ledger"),
    }
}

/// Opens `path` for writing, cut to `keep` bytes, positioned at its end.
fn open_at(path: &Path, keep: u64) -> Result<File> {
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    f.set_len(keep)?;
    f.seek(SeekFrom::End(0))?;
    Ok(f)
}

/// Keeps the first `known` names of the file and appends the rest of `names`.
fn append_names(path: &Path, names: &[String], known: usize) -> Result<()> {
    let keep = names[..known]
        .iter()
        .map(|s| escape(s).len() as u64 + 1)
        .sum();
    let mut out = BufWriter::new(open_at(path, keep)?);
    for s in &names[known..] {
        writeln!(out, "{}", escape(s))?;
    }
    out.flush()?;
    Ok(())
}

/// The first `count` names of a names file.
fn read_names(path: &Path, count: u64) -> Result<Vec<String>> {
    let mut names = Vec::new();
    if count > 0 {
        for line in BufReader::new(File::open(path)?)
            .lines()
            .take(count as usize)
        {
            names.push(unescape(&line?));
        }
    }
    if names.len() as u64 != count {
        bail!("short names file {}", path.display());
    }
    Ok(names)
}

/// Session ids are untrusted text: one per line, with `\` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
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

fn read_meta(dir: &Path) -> Option<Meta> {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()
}

/// Whether the record the index ended on is still where it was, with the same hash.
fn still_matches(log: &Path, m: &Meta) -> bool {
    if m.records == 0 {
        return m.log_len == 0;
    }
    let Ok(f) = File::open(log) else {
        return false;
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut at = m.last_offset;
    use std::os::unix::fs::FileExt;
    while at < m.log_len {
        let Ok(n) = f.read_at(&mut chunk, at) else {
            return false;
        };
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
    buf.truncate((m.log_len - m.last_offset) as usize);
    // The last record's line, then possibly lines that are not records.
    if buf.last() != Some(&b'\n') {
        return false;
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice::<HashOf<'_>>(line)
        .ok()
        .and_then(|k| k.hash.map(|h| h.into_owned()))
        .is_some_and(|h| h == m.last_hash)
}

#[derive(Deserialize)]
struct HashOf<'a> {
    #[serde(borrow, default)]
    hash: Option<Cow<'a, str>>,
}

/// The lock of [`lock`] if it is free now.
fn try_lock(dir: &Path) -> Option<File> {
    let f = OpenOptions::new()
        .append(true)
        .open(dir.join("lock"))
        .ok()?;
    // SAFETY: flock on a descriptor we own; released when `f` is dropped.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(f)
}

/// An exclusive lock on the index folder while it is brought up to date (none when the
/// folder cannot be created: the index then stays in memory).
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
