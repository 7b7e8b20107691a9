//! [`Source`]: where views read records from — a streaming reader over the ledger file, the
//! session index ([`super::index`]) for fast session lookups, and following the file's growth.
//! Read-only: the ledger is never locked or written.

use super::entry::Entry;
use super::filter::{Filter, SessionSel};
use super::index::SessionIndex;
use crate::home::Home;
use crate::ledger::LOG_FILE;
use anyhow::{Context, Result, anyhow, bail};
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The records of one ledger, for reading.
#[derive(Debug, Clone)]
pub struct Source {
    ledger_dir: PathBuf,
    index_dir: PathBuf,
}

impl Source {
    /// The ledger of a gateway home; the index lives in `state/views/` beside it.
    pub fn for_home(home: &Home) -> Source {
        Source::new(&home.ledger_dir(), &home.root().join("state").join("views"))
    }

    /// A ledger folder and the folder for its (rebuildable) index.
    pub fn new(ledger_dir: &Path, index_dir: &Path) -> Source {
        Source {
            ledger_dir: ledger_dir.to_path_buf(),
            index_dir: index_dir.to_path_buf(),
        }
    }

    /// The ledger file.
    pub fn log_path(&self) -> PathBuf {
        self.ledger_dir.join(LOG_FILE)
    }

    /// Whether the ledger has been written yet.
    pub fn exists(&self) -> bool {
        self.log_path().is_file()
    }

    /// Streams every complete record from byte `offset` on (0: all).
    pub fn scan_from(&self, offset: u64) -> Result<Scan> {
        Scan::open(&self.log_path(), offset)
    }

    /// The session index, brought up to date with the ledger.
    pub fn index(&self) -> Result<SessionIndex> {
        SessionIndex::load(&self.log_path(), &self.index_dir)
    }

    /// Resolves `latest` or an id prefix to one full session id.
    pub fn resolve_session(&self, sel: &SessionSel) -> Result<String> {
        self.index()?.resolve(sel)
    }

    /// The records of one session, in order, through the index (falls back to a full scan when
    /// the index does not match the file).
    pub fn session_records(&self, session: &str) -> Result<Vec<Entry>> {
        let index = self.index()?;
        let offsets = index.offsets(session);
        match read_at_offsets(&self.log_path(), &offsets) {
            Ok(entries)
                if entries
                    .iter()
                    .all(|e| e.session.as_deref() == Some(session)) =>
            {
                Ok(entries)
            }
            _ => {
                index.discard();
                let mut out = Vec::new();
                for e in self.scan_from(0)? {
                    let e = e?;
                    if e.session.as_deref() == Some(session) {
                        out.push(e);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The records a filter selects, streamed: through the index when it names a session,
    /// else by a scan of the file. Records that do not parse are reported on stderr and skipped.
    pub fn select<'a>(&self, filter: &'a Filter) -> Result<Box<dyn Iterator<Item = Entry> + 'a>> {
        if let Some(s) = &filter.session {
            let records = self.session_records(s)?;
            return Ok(Box::new(
                records.into_iter().filter(move |e| filter.keeps_record(e)),
            ));
        }
        let scan = self.scan_from(0)?;
        Ok(Box::new(
            scan.filter_map(skip_bad)
                .filter(move |e| filter.keeps_record(e)),
        ))
    }
}

/// Reports an unreadable record on stderr and drops it.
pub fn skip_bad(r: Result<Entry>) -> Option<Entry> {
    match r {
        Ok(e) => Some(e),
        Err(e) => {
            eprintln!("patchwork-gateway: skipping a record: {e:#}");
            None
        }
    }
}

/// A streaming reader of records from an offset of the ledger file.
pub struct Scan {
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
    /// Offset just after the last complete line read.
    pub offset: u64,
}

impl Scan {
    fn open(path: &Path, offset: u64) -> Result<Scan> {
        let reader = match File::open(path) {
            Ok(mut f) => {
                f.seek(SeekFrom::Start(offset))?;
                Some(BufReader::with_capacity(1 << 20, f))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e).context("cannot open the ledger"),
        };
        Ok(Scan {
            reader,
            line: Vec::with_capacity(1024),
            offset,
        })
    }

    /// The next complete line and the offset it starts at; `None` at the end (an incomplete
    /// last line is left for later: it is being written, or torn).
    pub fn next_line(&mut self) -> Option<Result<(u64, &[u8])>> {
        let r = self.reader.as_mut()?;
        self.line.clear();
        match r.read_until(b'\n', &mut self.line) {
            Ok(0) => None,
            Ok(n) if self.line.last() != Some(&b'\n') => {
                // Incomplete: rewind so a follower reads it again once it is complete.
                let back = n as i64;
                if let Err(e) = r.seek_relative(-back) {
                    return Some(Err(e.into()));
                }
                None
            }
            Ok(n) => {
                let start = self.offset;
                self.offset += n as u64;
                Some(Ok((start, &self.line[..n - 1])))
            }
            Err(e) => {
                self.reader = None;
                Some(Err(e).context("cannot read the ledger"))
            }
        }
    }
}

impl Iterator for Scan {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        let (offset, line) = match self.next_line()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some(parse_line(offset, line))
    }
}

/// Parses one stored line into an entry (with its raw text).
pub fn parse_line(offset: u64, line: &[u8]) -> Result<Entry> {
    let mut e =
        Entry::parse(line).map_err(|err| anyhow!("ledger record at byte {offset}: {err}"))?;
    e.raw = match std::str::from_utf8(line) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(line).into(),
    };
    Ok(e)
}

/// Reads the lines that start at `offsets` (ascending).
fn read_at_offsets(path: &Path, offsets: &[u64]) -> Result<Vec<Entry>> {
    let f = File::open(path).context("cannot open the ledger")?;
    let mut out = Vec::with_capacity(offsets.len());
    let mut buf = Vec::new();
    for &off in offsets {
        read_line_at(&f, off, &mut buf)?;
        out.push(parse_line(off, &buf)?);
    }
    Ok(out)
}

/// Reads the line starting at `offset` (without its newline) into `buf`.
pub fn read_line_at(f: &File, offset: u64, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let mut at = offset;
    loop {
        let n = f.read_at(&mut chunk, at)?;
        if n == 0 {
            bail!("the ledger ends inside the record at byte {offset}");
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&chunk[..end]);
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
}

/// Follows the ledger: yields records appended after `offset` as they arrive, polling the file
/// every `poll`; stops when `stop` says so (checked between polls).
pub fn follow(
    path: &Path,
    mut offset: u64,
    poll: Duration,
    mut stop: impl FnMut() -> bool,
    mut sink: impl FnMut(Entry) -> Result<()>,
) -> Result<()> {
    loop {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            eprintln!(
                "patchwork-gateway: the ledger shrank ({offset} -> {len} bytes; repaired?), following from its end"
            );
            offset = len;
        }
        if len > offset {
            let mut scan = Scan::open(path, offset)?;
            while let Some(line) = scan.next_line() {
                let (at, bytes) = line?;
                match parse_line(at, bytes) {
                    Ok(e) => sink(e)?,
                    Err(e) => eprintln!("patchwork-gateway: skipping a record: {e:#}"),
                }
            }
            offset = scan.offset;
        }
        if stop() {
            return Ok(());
        }
        std::thread::sleep(poll);
    }
}
