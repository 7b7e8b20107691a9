//! The session index: a small sidecar that makes `log --session X` and `replay X` fast on a
//! large ledger. It is a cache, never the truth: it is rebuilt from the ledger whenever it does
//! not match it (missing, shrunk log, a different record where it expects one), and extended
//! with the records appended since it was last brought up to date.
//!
//! Files in the index folder (`$PATCHWORK_HOME/state/views/`):
//! - `sessions.txt`: the session ids, one per line, in order of first appearance;
//! - `records.bin`: 16 bytes per record — offset in the log (u64 LE), session number
//!   (u32 LE, `u32::MAX` for none), reserved (u32);
//! - `meta.json`: how much of the log is covered and the hash of the last covered record;
//!   written last, so an interrupted update is ignored and redone.

use super::filter::SessionSel;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

const FORMAT: u32 = 1;
const ENTRY: usize = 16;
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    /// Bytes of the log covered.
    log_len: u64,
    records: u64,
    sessions: u64,
    /// `hash` of the last covered record (checks the log is still the one indexed).
    last_hash: String,
    last_offset: u64,
}

/// Session ids and the offsets of every record, in memory.
#[derive(Debug, Default)]
pub struct SessionIndex {
    dir: PathBuf,
    sessions: Vec<String>,
    numbers: HashMap<String, u32>,
    /// (offset, session number) per record, in log order.
    records: Vec<(u64, u32)>,
}

#[derive(Deserialize)]
struct Key<'a> {
    #[serde(borrow, default)]
    session: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    hash: Option<std::borrow::Cow<'a, str>>,
}

impl SessionIndex {
    /// Loads the index of `log` from `dir`, rebuilding or extending it as needed, and saves it
    /// back when the folder is writable (a read-only home still gets a correct, in-memory index).
    pub fn load(log: &Path, dir: &Path) -> Result<SessionIndex> {
        let _lock = lock(dir);
        let log_len = match std::fs::metadata(log) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => 0,
            Err(e) => return Err(e).context("cannot open the ledger"),
        };
        let mut idx = SessionIndex {
            dir: dir.to_path_buf(),
            ..SessionIndex::default()
        };
        let meta = read_meta(dir)
            .filter(|m| m.format == FORMAT && m.log_len <= log_len)
            .filter(|m| still_matches(log, m));
        let from = match meta.and_then(|m| idx.read_files(&m).ok().map(|()| m)) {
            Some(m) => m,
            None => {
                idx.sessions.clear();
                idx.numbers.clear();
                idx.records.clear();
                Meta::default()
            }
        };
        let known = (idx.sessions.len(), idx.records.len());
        let covered = idx.extend(log, &from)?;
        if covered.log_len != from.log_len || from.format != FORMAT {
            // Best effort: the index is a cache.
            let _ = idx.save(&covered, if from.format == FORMAT { known } else { (0, 0) });
        }
        Ok(idx)
    }

    /// Deletes the saved index (it did not match the ledger); the next load rebuilds it.
    pub fn discard(&self) {
        let _ = std::fs::remove_file(self.dir.join("meta.json"));
    }

    /// Every session id, in order of first appearance.
    pub fn sessions(&self) -> &[String] {
        &self.sessions
    }

    /// Offsets of the records of `session`.
    pub fn offsets(&self, session: &str) -> Vec<u64> {
        match self.numbers.get(session) {
            Some(&n) => self
                .records
                .iter()
                .filter(|(_, s)| *s == n)
                .map(|(o, _)| *o)
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
                .find(|(_, s)| *s != NONE)
                .map(|(_, s)| self.sessions[*s as usize].clone())
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

    fn read_files(&mut self, m: &Meta) -> Result<()> {
        let names = BufReader::new(File::open(self.dir.join("sessions.txt"))?);
        for line in names.lines().take(m.sessions as usize) {
            let id = unescape(&line?);
            self.numbers.insert(id.clone(), self.sessions.len() as u32);
            self.sessions.push(id);
        }
        if self.sessions.len() as u64 != m.sessions {
            bail!("short sessions file");
        }
        let mut bytes = vec![0u8; m.records as usize * ENTRY];
        File::open(self.dir.join("records.bin"))?.read_exact(&mut bytes)?;
        self.records = bytes
            .chunks_exact(ENTRY)
            .map(|c| {
                let off = u64::from_le_bytes(c[0..8].try_into().expect("8 bytes"));
                let s = u32::from_le_bytes(c[8..12].try_into().expect("4 bytes"));
                (off, s)
            })
            .collect();
        if self
            .records
            .iter()
            .any(|(_, s)| *s != NONE && *s as usize >= self.sessions.len())
        {
            bail!("index names an unknown session");
        }
        Ok(())
    }

    /// Indexes the log from where `from` stopped; returns what is covered now.
    fn extend(&mut self, log: &Path, from: &Meta) -> Result<Meta> {
        let mut covered = from.clone();
        covered.format = FORMAT;
        let source = super::source::Source::new(log.parent().unwrap_or(Path::new(".")), &self.dir);
        let mut scan = source.scan_from(from.log_len)?;
        while let Some(line) = scan.next_line() {
            let (offset, bytes) = line?;
            let key: Key<'_> = serde_json::from_slice(bytes)
                .with_context(|| format!("ledger record at byte {offset} is not JSON"))?;
            let n = match key.session.as_deref() {
                Some(s) => match self.numbers.get(s) {
                    Some(&n) => n,
                    None => {
                        let n = self.sessions.len() as u32;
                        self.numbers.insert(s.to_string(), n);
                        self.sessions.push(s.to_string());
                        n
                    }
                },
                None => NONE,
            };
            self.records.push((offset, n));
            covered.last_hash = key.hash.map(|h| h.into_owned()).unwrap_or_default();
            covered.last_offset = offset;
        }
        covered.log_len = scan.offset;
        covered.records = self.records.len() as u64;
        covered.sessions = self.sessions.len() as u64;
        Ok(covered)
    }

    /// Writes what is new since `known` (sessions, records) and then the meta file.
    fn save(&self, m: &Meta, known: (usize, usize)) -> Result<()> {
        crate::home::create_private_dir(&self.dir)?;
        let (s0, r0) = known;
        let open = |name: &str, keep: u64| -> Result<File> {
            let mut f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(self.dir.join(name))?;
            f.set_len(keep)?;
            f.seek(SeekFrom::End(0))?;
            Ok(f)
        };
        let names_len = if s0 == 0 {
            0
        } else {
            self.sessions[..s0]
                .iter()
                .map(|s| escape(s).len() as u64 + 1)
                .sum()
        };
        let mut names = BufWriter::new(open("sessions.txt", names_len)?);
        for s in &self.sessions[s0..] {
            writeln!(names, "{}", escape(s))?;
        }
        names.flush()?;
        let mut recs = BufWriter::new(open("records.bin", (r0 * ENTRY) as u64)?);
        for (off, s) in &self.records[r0..] {
            recs.write_all(&off.to_le_bytes())?;
            recs.write_all(&s.to_le_bytes())?;
            recs.write_all(&0u32.to_le_bytes())?;
        }
        recs.flush()?;
        let tmp = self.dir.join("meta.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(m)?)?;
        std::fs::rename(&tmp, self.dir.join("meta.json"))?;
        Ok(())
    }
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
    let Some(line) = buf.strip_suffix(b"\n") else {
        return false;
    };
    serde_json::from_slice::<Key<'_>>(line)
        .ok()
        .and_then(|k| k.hash.map(|h| h.into_owned()))
        .is_some_and(|h| h == m.last_hash)
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
