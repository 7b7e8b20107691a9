//! The session index: a small sidecar that makes `log --session X`, `replay X` and the
//! dashboard fast on a large ledger. It is a cache, never the truth: it is rebuilt from the
//! ledger whenever it does not match it (missing, shrunk log, a different record where it
//! expects one, saved files that fail their checks), and extended with the records appended
//! since it was last brought up to date. Building it reads the log on every core without JSON
//! trees ([`build`]).
//!
//! Files in the index folder (`$PATCHWORK_HOME/state/views/`):
//! - `sessions.txt`: the session ids, one per line, in order of first appearance;
//! - `actions.txt`: the action (or event) names, likewise;
//! - `records.bin`: 32 bytes per record, little-endian — offset in the log (u64), seq (u64),
//!   ts (i64), session number (u32, `u32::MAX` for none), action number (u16), verdict slot
//!   (u8, [`VERDICTS`]), risk slot (u8, [`RISKS`]); the last four let the dashboard count and
//!   filter without reading the log;
//! - `meta.json`: how much of the log is covered, the digest of the last covered record's line
//!   and a checksum of each file; written last, so an interrupted update is ignored and redone.
//!
//! Lines that are not records (not JSON, no `seq`/`ts`) are skipped and counted. Exactness:
//! every line the views' own parse reads as a record is indexed with the same seq, time and
//! session (see [`super::members`]), so looking a session up through the index finds what a
//! scan of the whole log finds (a property test checks this).

mod build;

use super::filter::SessionSel;
use crate::ledger::files::MAX_LINE;
use anyhow::{Context, Result, bail};
use build::{Names, Part};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 3;
const ENTRY: usize = 32;
/// The session number of records without a session.
pub const NO_SESSION: u32 = u32::MAX;
/// The highest action number (later new names share it).
const MAX_ACTION: usize = u16::MAX as usize;

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
    /// Session number ([`SessionIndex::sessions`]), [`NO_SESSION`] for none.
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

/// Running checksums of the saved files, item by item (so an update only adds what it
/// appends). They catch a damaged, truncated or swapped file, not an attacker: whoever can
/// write the index can write the ledger too, whose chain `verify` checks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct Sums {
    sessions: u64,
    actions: u64,
    records: u64,
}

impl Default for Sums {
    fn default() -> Sums {
        Sums {
            sessions: SUM_SEED,
            actions: SUM_SEED,
            records: SUM_SEED,
        }
    }
}

const SUM_SEED: u64 = 0x6a09_e667_f3bc_c908;

/// Folds `bytes` (one item) into `sum`.
fn fold(sum: &mut u64, bytes: &[u8]) {
    for c in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        *sum = (sum.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    *sum = (sum.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
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
    /// SHA-256 (hex) of the last covered record's line, and where it starts: the log is still
    /// the one indexed when that line is still there (its `hash` chains it to all before).
    last_line: String,
    last_offset: u64,
    last_len: u64,
    /// Checksums of the saved files (meaningful once saved).
    sums: Sums,
}

/// Session ids, action names and what the index keeps of every record, in memory.
#[derive(Debug, Default)]
pub struct SessionIndex {
    dir: PathBuf,
    log: PathBuf,
    sessions: Names,
    actions: Names,
    /// One entry per record, in log order.
    records: Vec<Indexed>,
    /// What is covered (in memory; on disk once saved).
    covered: Meta,
    /// What the saved files hold: counts and checksums.
    saved: Meta,
    /// Whether something is not saved yet.
    dirty: bool,
    /// Threads a large span is read on, and from what size a span counts as large.
    workers: usize,
    parallel_from: u64,
}

impl SessionIndex {
    /// Loads the index of `log` from `dir`, rebuilding or extending it as needed, and saves it
    /// back when the folder is writable (a read-only home still gets a correct, in-memory index).
    pub fn load(log: &Path, dir: &Path) -> Result<SessionIndex> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        SessionIndex::load_on(log, dir, workers, build::PARALLEL_FROM)
    }

    /// [`SessionIndex::load`] reading spans of `parallel_from` bytes or more on `workers`
    /// threads.
    fn load_on(log: &Path, dir: &Path, workers: usize, parallel_from: u64) -> Result<SessionIndex> {
        let _lock = lock(dir);
        let mut idx = SessionIndex {
            dir: dir.to_path_buf(),
            log: log.to_path_buf(),
            dirty: true,
            workers,
            parallel_from,
            ..SessionIndex::default()
        };
        let log_len = log_len(log)?;
        let meta = read_meta(dir)
            .filter(|m| m.format == FORMAT && m.log_len <= log_len)
            .filter(|m| still_matches(log, m));
        if let Some(m) = meta {
            if idx.read_files(&m).is_ok() {
                idx.covered = m.clone();
                idx.saved = m;
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
        &self.sessions.list
    }

    /// Every action (or event) name, in order of first appearance.
    pub fn actions(&self) -> &[String] {
        &self.actions.list
    }

    /// What the index keeps of every record, in log order.
    pub fn records(&self) -> &[Indexed] {
        &self.records
    }

    /// The number of session `id`, if the ledger has it.
    pub fn session_number(&self, id: &str) -> Option<u32> {
        self.sessions.ids.get(id).copied()
    }

    /// The number of action `name`, if the ledger has it.
    pub fn action_number(&self, name: &str) -> Option<u16> {
        self.actions.ids.get(name).map(|&n| n as u16)
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
        match self.session_number(session) {
            Some(n) => self
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
                .find(|r| r.session != NO_SESSION)
                .map(|r| self.sessions.list[r.session as usize].clone())
                .context("no record has a session yet"),
            SessionSel::Id(id) => {
                if self.sessions.ids.contains_key(id) {
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

    /// Forgets everything (the next save rewrites the files whole).
    fn clear(&mut self) {
        self.sessions = Names::default();
        self.actions = Names::default();
        self.records = Vec::new();
        self.covered = Meta::default();
        self.saved = Meta::default();
        self.dirty = true;
    }

    /// Reads the saved files `m` describes, checking them against their checksums and the
    /// log's shape (offsets rising within the covered bytes, numbers naming known names).
    fn read_files(&mut self, m: &Meta) -> Result<()> {
        let mut sums = Sums::default();
        self.sessions = read_names(
            &self.dir.join("sessions.txt"),
            m.sessions,
            &mut sums.sessions,
        )?;
        self.actions = read_names(&self.dir.join("actions.txt"), m.actions, &mut sums.actions)?;
        if self.actions.list.len() > MAX_ACTION + 1 {
            bail!("too many actions");
        }
        let mut file = File::open(self.dir.join("records.bin"))?;
        let total = usize::try_from(m.records)?;
        if file.metadata()?.len() < m.records.saturating_mul(ENTRY as u64) {
            bail!("records.bin is short");
        }
        self.records = Vec::with_capacity(total);
        // In steps, so the bytes and the entries are not both held whole.
        let mut chunk = vec![0u8; ENTRY * 32_768];
        let (sessions, actions) = (self.sessions.list.len(), self.actions.list.len());
        let mut next_offset = 0u64;
        while self.records.len() < total {
            let n = (total - self.records.len()).min(32_768) * ENTRY;
            file.read_exact(&mut chunk[..n])?;
            for c in chunk[..n].chunks_exact(ENTRY) {
                fold(&mut sums.records, c);
                let r = Indexed::from_bytes(c);
                let known = (r.session == NO_SESSION || (r.session as usize) < sessions)
                    && (r.action as usize) < actions
                    && r.verdict <= NO_VERDICT
                    && r.risk <= NO_RISK;
                if !known || r.offset < next_offset || r.offset >= m.log_len {
                    bail!("records.bin does not describe the log");
                }
                next_offset = r.offset + 1;
                self.records.push(r);
            }
        }
        if sums != m.sums || (total > 0 && Some(next_offset) != m.last_offset.checked_add(1)) {
            bail!("the saved index fails its checks");
        }
        Ok(())
    }

    /// Indexes the log from where the index stopped.
    fn extend(&mut self) -> Result<()> {
        let file = match File::open(&self.log) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e).context("cannot open the ledger"),
        };
        if let Some(file) = file {
            let len = file.metadata().context("cannot open the ledger")?.len();
            let from = self.covered.log_len;
            if len > from {
                let workers = if len - from >= self.parallel_from {
                    self.workers
                } else {
                    1
                };
                let mut last = None;
                for part in build::read_span(&file, from, len, workers)? {
                    // A stretch ended early (the log was cut while being read): the next
                    // refresh goes on from there.
                    if part.start != self.covered.log_len {
                        break;
                    }
                    last = part.last.or(last);
                    self.merge(part);
                }
                if let Some((offset, len)) = last {
                    let mut line = vec![0u8; len];
                    file.read_exact_at(&mut line, offset)
                        .context("cannot read the ledger")?;
                    self.covered.last_offset = offset;
                    self.covered.last_len = len as u64;
                    self.covered.last_line = hex::encode(Sha256::digest(&line));
                }
            }
        }
        let c = &mut self.covered;
        if c.format != FORMAT {
            self.dirty = true;
        }
        c.format = FORMAT;
        c.records = self.records.len() as u64;
        c.sessions = self.sessions.list.len() as u64;
        c.actions = self.actions.list.len() as u64;
        Ok(())
    }

    /// Appends a stretch read from the log, renumbering its sessions and actions (numbered on
    /// their own) into the index's, so the numbers stay in order of first appearance.
    fn merge(&mut self, part: Part) {
        let c = &mut self.covered;
        if part.end != c.log_len {
            self.dirty = true;
        }
        c.log_len = part.end;
        c.unreadable += part.unreadable;
        if self.records.is_empty() && self.sessions.list.is_empty() && self.actions.list.is_empty()
        {
            self.records = part.entries;
            self.sessions = part.sessions;
            self.actions = part.actions;
            return;
        }
        let sessions: Vec<u32> = part
            .sessions
            .list
            .iter()
            .map(|s| self.sessions.number(s, NO_SESSION as usize - 1))
            .collect();
        let actions: Vec<u16> = part
            .actions
            .list
            .iter()
            .map(|a| self.actions.number(a, MAX_ACTION) as u16)
            .collect();
        self.records.reserve(part.entries.len());
        self.records.extend(part.entries.into_iter().map(|mut e| {
            if e.session != NO_SESSION {
                e.session = sessions[e.session as usize];
            }
            e.action = actions[e.action as usize];
            e
        }));
    }

    /// Writes what is new since the last save, then the meta file (the caller holds the lock).
    fn save_locked(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let disk = read_meta(&self.dir);
        // Another process saved a longer index of this log since: leave it.
        if let Some(d) = &disk
            && d.format == FORMAT
            && d.log_len > self.covered.log_len
            && still_matches(&self.log, d)
        {
            return Ok(());
        }
        crate::home::create_private_dir(&self.dir)?;
        let meta = self.dir.join("meta.json");
        let _ = std::fs::remove_file(&meta);
        // Only what is new is appended when the files are the ones last saved; else all.
        let base = match disk {
            Some(d) if d == self.saved && d.format == FORMAT => d,
            _ => Meta::default(),
        };
        let mut sums = base.sums;
        let (s0, a0, r0) = (
            base.sessions as usize,
            base.actions as usize,
            base.records as usize,
        );
        append_names(
            &self.dir.join("sessions.txt"),
            &self.sessions.list,
            s0,
            &mut sums.sessions,
        )?;
        append_names(
            &self.dir.join("actions.txt"),
            &self.actions.list,
            a0,
            &mut sums.actions,
        )?;
        let mut recs = BufWriter::with_capacity(
            1 << 20,
            open_at(&self.dir.join("records.bin"), (r0 * ENTRY) as u64)?,
        );
        for r in &self.records[r0..] {
            let b = r.to_bytes();
            fold(&mut sums.records, &b);
            recs.write_all(&b)?;
        }
        recs.flush()?;
        self.covered.sums = sums;
        let tmp = self.dir.join("meta.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.covered)?)?;
        std::fs::rename(&tmp, &meta)?;
        self.saved = self.covered.clone();
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

/// Keeps the first `known` names of the file and appends the rest of `names`, folding what
/// it appends into `sum`.
fn append_names(path: &Path, names: &[String], known: usize, sum: &mut u64) -> Result<()> {
    let keep = names[..known]
        .iter()
        .map(|s| escape(s).len() as u64 + 1)
        .sum();
    let mut out = BufWriter::new(open_at(path, keep)?);
    for s in &names[known..] {
        let line = escape(s);
        fold(sum, line.as_bytes());
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// The first `count` names of a names file, folded into `sum`; an error when the file is short
/// or lists a name twice.
fn read_names(path: &Path, count: u64, sum: &mut u64) -> Result<Names> {
    let mut names = Vec::new();
    if count > 0 {
        for line in BufReader::new(File::open(path)?)
            .lines()
            .take(count as usize)
        {
            let line = line?;
            fold(sum, line.as_bytes());
            names.push(unescape(&line));
        }
    }
    if names.len() as u64 != count {
        bail!("short names file {}", path.display());
    }
    Names::from_list(names).with_context(|| format!("a name is listed twice in {}", path.display()))
}

/// Session ids are untrusted text: one per line, with `\` and newlines escaped.
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

fn read_meta(dir: &Path) -> Option<Meta> {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()
}

/// Whether the record the index ended on is still where it was, byte for byte.
fn still_matches(log: &Path, m: &Meta) -> bool {
    if m.records == 0 {
        return m.log_len == 0;
    }
    let Ok(f) = File::open(log) else {
        return false;
    };
    if m.last_len > MAX_LINE as u64
        || m.last_offset
            .checked_add(m.last_len + 1)
            .is_none_or(|end| end > m.log_len)
    {
        return false;
    }
    let mut buf = vec![0u8; m.last_len as usize + 1];
    if f.read_exact_at(&mut buf, m.last_offset).is_err() || buf.pop() != Some(b'\n') {
        return false;
    }
    hex::encode(Sha256::digest(&buf)) == m.last_line
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::entry::Entry;
    use crate::views::source::read_line_at;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Members a line is made of: usual ones, and every form that trips a reader up (types the
    /// views refuse, escapes, repeats, decoys inside values, numbers JSON does not allow).
    const MEMBERS: &[(&str, &str)] = &[
        (r#""seq""#, "7"),
        (r#""seq""#, "0"),
        (r#""seq""#, "-0"),
        (r#""seq""#, r#""7""#),
        (r#""seq""#, "7.0"),
        (r#""seq""#, "-1"),
        (r#""seq""#, "+7"),
        (r#""seq""#, "007"),
        (r#""seq""#, "18446744073709551615"),
        (r#""ts""#, "5"),
        (r#""ts""#, "-5"),
        (r#""ts""#, "1e3"),
        (r#""session""#, r#""s1""#),
        (r#""session""#, r#""s2""#),
        (r#""session""#, r#""s\u0031""#),
        (r#""session""#, r#""s\"3\n""#),
        (r#""session""#, "null"),
        (r#""session""#, "5"),
        (r#""session""#, r#"{"effect":"s1"}"#),
        (r#""sessio\u006e""#, r#""s2""#),
        (r#""verdict""#, r#""deny""#),
        (r#""verdict""#, r#"{"effect":"allow"}"#),
        (r#""verdict""#, r#""bogus""#),
        (r#""risk""#, r#""high""#),
        (r#""risk""#, "3"),
        (r#""action""#, r#""file_read""#),
        (r#""event""#, r#""decision""#),
        (r#""event""#, r#""outcome""#),
        (r#""data""#, r#"{"session":"s2","seq":9,"x":["}","{"]}"#),
        (r#""reason""#, r#""\"session\":\"s2\"""#),
        (r#""armed""#, r#""yes""#),
        (r#""hash""#, r#""sha256:ab""#),
        (r#""target""#, r#"["a",{"b":[1,2]}]"#),
    ];

    const GARBAGE: &[&str] = &["", "not json", "{", "[1]", r#"{"seq":1,"ts":2"#, "  "];

    fn arb_line() -> impl Strategy<Value = String> {
        let record = (
            Just(vec![0usize, 9, 12]),
            prop::collection::vec(0..MEMBERS.len(), 0..7),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(usual, extra, keep_usual, spaced)| {
                let picked: Vec<usize> = if keep_usual {
                    usual.into_iter().chain(extra).collect()
                } else {
                    extra
                };
                let sep = if spaced { " , " } else { "," };
                let colon = if spaced { " : " } else { ":" };
                let body: Vec<String> = picked
                    .iter()
                    .map(|&i| format!("{}{colon}{}", MEMBERS[i].0, MEMBERS[i].1))
                    .collect();
                format!("{{{}}}", body.join(sep))
            });
        prop_oneof![
            8 => record,
            1 => prop::sample::select(GARBAGE).prop_map(str::to_string),
        ]
    }

    fn write_log(dir: &Path, lines: &[String]) -> PathBuf {
        let log = dir.join("ledger.jsonl");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&log, text).unwrap();
        log
    }

    /// The slow path's answer: each session's records, by parsing every line as the views do.
    fn by_scan(log: &Path) -> BTreeMap<String, Vec<(u64, u64, i64)>> {
        let text = std::fs::read(log).unwrap();
        let mut out: BTreeMap<String, Vec<(u64, u64, i64)>> = BTreeMap::new();
        let mut offset = 0u64;
        for line in text.split_inclusive(|&b| b == b'\n') {
            if let Ok(e) = Entry::parse(&line[..line.len() - 1])
                && let Some(s) = e.session
            {
                out.entry(s).or_default().push((offset, e.seq, e.ts));
            }
            offset += line.len() as u64;
        }
        out
    }

    /// The index's answer, as `Source::session_records` gives it: the lines it points at that
    /// parse as records of the session.
    fn by_index(idx: &SessionIndex, log: &Path) -> BTreeMap<String, Vec<(u64, u64, i64)>> {
        let f = File::open(log).unwrap();
        let mut out = BTreeMap::new();
        let mut line = Vec::new();
        for s in idx.sessions() {
            let mut found = Vec::new();
            for off in idx.offsets(s) {
                read_line_at(&f, off, &mut line).unwrap();
                if let Ok(e) = Entry::parse(&line) {
                    assert_eq!(e.session.as_deref(), Some(s.as_str()), "index mislabels");
                    found.push((off, e.seq, e.ts));
                }
            }
            if !found.is_empty() {
                out.insert(s.clone(), found);
            }
        }
        out
    }

    fn same(a: &SessionIndex, b: &SessionIndex) {
        assert_eq!(a.records(), b.records());
        assert_eq!(a.sessions(), b.sessions());
        assert_eq!(a.actions(), b.actions());
        assert_eq!(a.unreadable(), b.unreadable());
        assert_eq!(a.covered_bytes(), b.covered_bytes());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn index_answers_as_a_full_scan(lines in prop::collection::vec(arb_line(), 0..40),
                                        cut in any::<prop::sample::Index>()) {
            let tmp = tempfile::tempdir().unwrap();
            let log = write_log(tmp.path(), &lines);
            let one = SessionIndex::load_on(&log, &tmp.path().join("one"), 1, 0).unwrap();
            prop_assert_eq!(by_index(&one, &log), by_scan(&log));
            // On several threads (every span split), the same index.
            let many = SessionIndex::load_on(&log, &tmp.path().join("many"), 3, 0).unwrap();
            same(&one, &many);
            // Saved and loaded back, the same index.
            let again = SessionIndex::load_on(&log, &tmp.path().join("many"), 3, 0).unwrap();
            same(&one, &again);
            // Built on a prefix, then extended with the rest: the same index.
            let k = cut.index(lines.len() + 1);
            write_log(tmp.path(), &lines[..k]);
            let mut grown = SessionIndex::load_on(&log, &tmp.path().join("grown"), 2, 0).unwrap();
            write_log(tmp.path(), &lines);
            // Extended in place (rebuilt only when the prefix had no record to anchor it).
            let anchored = !grown.is_empty();
            let extended = grown.refresh().unwrap().is_some();
            prop_assert!(extended || !anchored);
            same(&one, &grown);
            grown.save().unwrap();
            let reloaded = SessionIndex::load_on(&log, &tmp.path().join("grown"), 1, 0).unwrap();
            same(&one, &reloaded);
        }
    }

    fn ledger_lines(sessions: &[&str], n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"action":"file_read","event":"decision","hash":"sha256:{i:064x}","risk":"low","seq":{i},"session":"{}","ts":{},"verdict":"allow"}}"#,
                    sessions[i % sessions.len()],
                    1000 + i
                )
            })
            .collect()
    }

    #[test]
    fn a_damaged_or_foreign_index_is_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let log = write_log(tmp.path(), &ledger_lines(&["a", "b", "c"], 30));
        let dir = tmp.path().join("index");
        let fresh = SessionIndex::load_on(&log, &dir, 2, 0).unwrap();
        // One entry says it belongs to another known session: shape checks pass, the
        // checksum does not.
        let bin = dir.join("records.bin");
        let mut bytes = std::fs::read(&bin).unwrap();
        bytes[ENTRY * 4 + 24] ^= 1;
        std::fs::write(&bin, &bytes).unwrap();
        let loaded = SessionIndex::load_on(&log, &dir, 2, 0).unwrap();
        same(&fresh, &loaded);
        assert_eq!(
            std::fs::read(&bin).unwrap()[ENTRY * 4 + 24],
            bytes[ENTRY * 4 + 24] ^ 1
        );
        // A names file listing a name twice.
        std::fs::write(dir.join("sessions.txt"), "a\na\nc\n").unwrap();
        same(&fresh, &SessionIndex::load_on(&log, &dir, 1, 0).unwrap());
        // The index of another ledger whose last record sits at the same place.
        let other_tmp = tempfile::tempdir().unwrap();
        let other = write_log(other_tmp.path(), &ledger_lines(&["x", "y", "z"], 30));
        let foreign = tmp.path().join("foreign");
        SessionIndex::load_on(&other, &foreign, 1, 0).unwrap();
        let loaded = SessionIndex::load_on(&log, &foreign, 1, 0).unwrap();
        same(&fresh, &loaded);
        assert_eq!(loaded.session_number("x"), None);
        // A meta file that is not ours at all.
        std::fs::write(dir.join("meta.json"), b"{\"format\":3}").unwrap();
        same(&fresh, &SessionIndex::load_on(&log, &dir, 1, 0).unwrap());
    }

    #[test]
    fn appended_records_extend_the_saved_files() {
        let tmp = tempfile::tempdir().unwrap();
        let all = ledger_lines(&["a", "b"], 20);
        let log = write_log(tmp.path(), &all[..12]);
        let dir = tmp.path().join("index");
        SessionIndex::load_on(&log, &dir, 1, 0).unwrap();
        let before = std::fs::read(dir.join("records.bin")).unwrap();
        write_log(tmp.path(), &all);
        let grown = SessionIndex::load_on(&log, &dir, 1, 0).unwrap();
        let after = std::fs::read(dir.join("records.bin")).unwrap();
        assert_eq!(grown.len(), 20);
        assert_eq!(
            &after[..before.len()],
            &before[..],
            "appended, not rewritten"
        );
        let fresh = SessionIndex::load_on(&log, &tmp.path().join("fresh"), 1, 0).unwrap();
        same(&fresh, &grown);
        assert_eq!(read_meta(&dir).unwrap().records, 20);
    }
}
