//! [`Source`]: where views read records from — a streaming reader over the ledger file, the
//! session index ([`super::index`]) for fast session lookups, and following the file's growth.
//! Read-only: the ledger is never locked or written.

use super::entry::Entry;
use super::filter::{Filter, SessionSel};
use super::index::SessionIndex;
use crate::home::Home;
use crate::ledger::LOG_FILE;
use crate::ledger::files::MAX_LINE;
use crate::ledger::stream::map_chunks;
use anyhow::{Context, Result, anyhow, bail};
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The records of one ledger, for reading.
#[derive(Debug, Clone)]
pub struct Source {
    ledger_dir: PathBuf,
    index_dir: PathBuf,
    /// The index as the last session lookup left it (resolving a session, then reading it,
    /// loads it once); brought up to date before each use.
    lookups: Arc<Mutex<Option<SessionIndex>>>,
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
            lookups: Arc::default(),
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

    /// Streams every complete record from byte `offset` on (0: all), parsed on worker threads.
    pub fn scan_from(&self, offset: u64) -> Result<Records> {
        Records::open(&self.log_path(), offset)
    }

    /// The session index, brought up to date with the ledger.
    pub fn index(&self) -> Result<SessionIndex> {
        SessionIndex::load(&self.log_path(), &self.index_dir)
    }

    /// Resolves `latest` or an id prefix to one full session id.
    pub fn resolve_session(&self, sel: &SessionSel) -> Result<String> {
        self.with_index(|index| index.resolve(sel))?
    }

    /// Runs `f` on the session index, loaded on first use and brought up to date after.
    fn with_index<T>(&self, f: impl FnOnce(&SessionIndex) -> T) -> Result<T> {
        let mut held = self
            .lookups
            .lock()
            .map_err(|_| anyhow!("the session index is poisoned"))?;
        match held.as_mut() {
            Some(index) => {
                index.refresh()?;
                let _ = index.save();
            }
            None => *held = Some(self.index()?),
        }
        Ok(f(held.as_ref().expect("loaded above")))
    }

    /// The records of one session, in order, through the index. Lines the index points at
    /// that do not parse are reported and skipped, as a scan skips them; when a parsed record
    /// belongs to another session the index does not match the file: it is discarded and the
    /// whole log scanned instead.
    pub fn session_records(&self, session: &str) -> Result<Vec<Entry>> {
        let offsets = self.with_index(|index| index.offsets(session))?;
        if let Ok(entries) = read_at_offsets(&self.log_path(), &offsets)
            && entries
                .iter()
                .all(|e| e.session.as_deref() == Some(session))
        {
            return Ok(entries);
        }
        if let Ok(mut held) = self.lookups.lock()
            && let Some(index) = held.take()
        {
            index.discard();
        }
        let mut out = Vec::new();
        for e in self.scan_from(0)?.filter_map(skip_bad) {
            if e.session.as_deref() == Some(session) {
                out.push(e);
            }
        }
        Ok(out)
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

/// A reader of the lines of the ledger file from an offset, for following it as it grows.
struct Scan {
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
    /// last line is left for later: it is being written, or torn). A line longer than any
    /// record ([`MAX_LINE`]) is reported and passed over without being held whole, as the
    /// index passes over it.
    pub fn next_line(&mut self) -> Option<Result<(u64, &[u8])>> {
        loop {
            let r = self.reader.as_mut()?;
            self.line.clear();
            let mut took = 0u64;
            let complete = loop {
                let avail = match r.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.reader = None;
                        return Some(Err(e).context("cannot read the ledger"));
                    }
                };
                if avail.is_empty() {
                    break false;
                }
                let (n, done) = match memchr::memchr(b'\n', avail) {
                    Some(i) => (i + 1, true),
                    None => (avail.len(), false),
                };
                let text = &avail[..if done { n - 1 } else { n }];
                if self.line.len() + text.len() <= MAX_LINE {
                    self.line.extend_from_slice(text);
                }
                r.consume(n);
                took += n as u64;
                if done {
                    break true;
                }
            };
            if !complete {
                // Incomplete: rewind so a follower reads it again once it is complete.
                if took > 0
                    && let Err(e) = r.seek_relative(-(took as i64))
                {
                    return Some(Err(e.into()));
                }
                return None;
            }
            let start = self.offset;
            self.offset += took;
            if took - 1 > MAX_LINE as u64 {
                eprintln!(
                    "patchwork-gateway: skipping the line at byte {start}: {} bytes, longer than any record",
                    took - 1
                );
                continue;
            }
            return Some(Ok((start, &self.line)));
        }
    }
}

/// Bytes of log parsed per step on a worker thread.
const PARSE_CHUNK: usize = 1 << 20;

/// Records from an offset of the ledger file, in order: the log is read in chunks and parsed
/// on worker threads ([`crate::ledger::stream::map_chunks`]) while the caller uses the records
/// already parsed. A line that is not a record is an `Err` (as from [`parse_line`]); an
/// incomplete last line is left out (it is being written, or torn).
pub struct Records {
    batches: Option<Receiver<Vec<Result<Entry>>>>,
    batch: std::vec::IntoIter<Result<Entry>>,
    reader: Option<JoinHandle<Result<()>>>,
}

impl Records {
    fn open(path: &Path, offset: u64) -> Result<Records> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Records {
                    batches: None,
                    batch: Vec::new().into_iter(),
                    reader: None,
                });
            }
            Err(e) => return Err(e).context("cannot open the ledger"),
        };
        file.seek(SeekFrom::Start(offset))?;
        let (tx, rx) = sync_channel(2);
        let reader = std::thread::spawn(move || {
            map_chunks(
                file,
                PARSE_CHUNK,
                |at, chunk| parse_chunk(offset + at, chunk),
                |_, batch| tx.send(batch).is_ok(),
            )
            .map(|_torn| ())
        });
        Ok(Records {
            batches: Some(rx),
            batch: Vec::new().into_iter(),
            reader: Some(reader),
        })
    }
}

/// Parses the lines of one chunk (each ends with `\n`) that starts at byte `at`.
fn parse_chunk(at: u64, chunk: &[u8]) -> Vec<Result<Entry>> {
    let mut out = Vec::with_capacity(chunk.len() / 400);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', chunk) {
        out.push(parse_line(at + start as u64, &chunk[start..end]));
        start = end + 1;
    }
    out
}

impl Iterator for Records {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            if let Some(e) = self.batch.next() {
                return Some(e);
            }
            match self.batches.as_ref()?.recv() {
                Ok(batch) => self.batch = batch.into_iter(),
                Err(_) => {
                    // The reader is done: report how it ended.
                    self.batches = None;
                    let ended = self.reader.take()?.join();
                    return match ended {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(Err(e)),
                        Err(_) => Some(Err(anyhow!("the ledger reader thread failed"))),
                    };
                }
            }
        }
    }
}

impl Drop for Records {
    fn drop(&mut self) {
        // Stops the reader (its next hand-over fails) and waits for it.
        self.batches = None;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
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

/// Reads the records whose lines start at `offsets` (ascending), skipping (and reporting)
/// lines that do not parse.
fn read_at_offsets(path: &Path, offsets: &[u64]) -> Result<Vec<Entry>> {
    let f = File::open(path).context("cannot open the ledger")?;
    let mut out = Vec::with_capacity(offsets.len());
    let mut buf = Vec::new();
    for &off in offsets {
        read_line_at(&f, off, &mut buf)?;
        out.extend(skip_bad(parse_line(off, &buf)));
    }
    Ok(out)
}

/// Reads the line starting at `offset` (without its newline) into `buf`; an error for a line
/// longer than any record.
pub fn read_line_at(f: &File, offset: u64, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let mut at = offset;
    loop {
        let n = f.read_at(&mut chunk, at)?;
        if n == 0 {
            bail!("the ledger ends inside the record at byte {offset}");
        }
        if let Some(end) = memchr::memchr(b'\n', &chunk[..n]) {
            buf.extend_from_slice(&chunk[..end]);
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_LINE {
            bail!("the line at byte {offset} is longer than any record");
        }
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
