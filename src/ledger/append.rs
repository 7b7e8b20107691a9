//! Appending under an exclusive file lock, with the tip kept in a small state file and crash
//! recovery that is always recorded, never silent.
//!
//! Protocol per append:
//! 1. `flock(LOCK_EX)` on `lock`; read `state.json` (count, tip hash, log length, offset of the
//!    last line);
//! 2. cross-check it against the log: the log reaches that length and the line ending there is
//!    the tip record (parsed, re-hashed, same seq and hash) — O(1), one `pread`;
//! 3. recover if needed, writing a `ledger_recovery` record for each repair: complete records past
//!    the state that chain are rolled forward; a torn last line is cut off; a log that ends before
//!    its state but not before the *synced length* lost only records never acknowledged (power
//!    loss) and continues from there. A log shorter than the synced length, or a tip that does
//!    not match, is refused (fail closed) and left for `verify`;
//! 4. one `write_all` of the canonical line + `\n` on an `O_APPEND` descriptor;
//! 5. rewrite `state.json` in place (one `pwrite` of a fixed-size, checksummed record); unlock;
//! 6. `fdatasync` the log (outside the lock, so concurrent writers' syncs are committed together),
//!    then raise the synced length in `synced`. Only then does `append` return.
//!
//! The state file and `synced` are caches, neither fsynced nor is their folder: both are
//! cross-checked against the durable log, and `state.json` is rebuilt (with a recovery record)
//! from the log's last line when missing or unreadable. `synced` is only raised after a sync
//! returned, so after a crash it can only be lower than the truth.

use super::record::{self, GENESIS};
use super::scan::scan;
use super::{LOCK_FILE, LOG_FILE, STATE_FILE, SYNCED_FILE};
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The tip of the chain: what `state.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    /// Number of records (= seq of the next record).
    pub count: u64,
    /// Hash of the last record (`GENESIS` when empty).
    pub hash: String,
    /// Length of the log in bytes after the last record.
    pub len: u64,
    /// Byte offset where the last record's line starts.
    pub last_off: u64,
}

impl Tip {
    fn genesis() -> Tip {
        Tip {
            count: 0,
            hash: GENESIS.to_string(),
            len: 0,
            last_off: 0,
        }
    }
}

/// Open descriptors of one ledger, kept across appends by a [`super::Ledger`] handle.
#[derive(Debug)]
pub struct Files {
    lock: File,
    log: File,
    /// A lock wait that timed out and may still be pending.
    waiter: Option<Waiter>,
    /// The log these descriptors replace was deleted or replaced while in use (why): the next
    /// session starts the fresh log with a recovery record and refuses its call.
    pub lost: Option<String>,
}

impl Files {
    /// Opens (creating) the lock file and the log in append mode.
    pub fn open(dir: &Path) -> Result<Files> {
        let lock = private_file(dir, LOCK_FILE, false)?;
        let log = private_file(dir, LOG_FILE, true)?;
        Ok(Files {
            lock,
            log,
            waiter: None,
            lost: None,
        })
    }

    /// Why the open log is no longer the ledger file, if it is not: it was deleted (no name
    /// reaches it any more) or another file took its name. Appending to it would lose records.
    pub fn gone(&self, dir: &Path) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let open = match self.log.metadata() {
            Ok(m) => m,
            Err(e) => return Some(format!("cannot stat the open ledger: {e}")),
        };
        if open.nlink() == 0 {
            return Some(format!(
                "{LOG_FILE} was deleted while the gateway was running"
            ));
        }
        match std::fs::symlink_metadata(dir.join(LOG_FILE)) {
            Ok(m) if m.dev() == open.dev() && m.ino() == open.ino() => None,
            Ok(_) => Some(format!(
                "{LOG_FILE} was replaced by another file while the gateway was running"
            )),
            Err(e) => Some(format!("{LOG_FILE} cannot be found any more: {e}")),
        }
    }

    /// Another descriptor of the log (for syncing outside the handle's mutex).
    pub fn log_clone(&self) -> Result<File> {
        self.log
            .try_clone()
            .context("cannot duplicate the ledger descriptor")
    }
}

fn private_file(dir: &Path, name: &str, append: bool) -> Result<File> {
    let path = dir.join(name);
    let mut o = OpenOptions::new();
    o.read(true).create(true).mode(0o600);
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    let f = super::files::open(&path, &mut o)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if append {
        super::files::single_link(&f, &path)?;
    }
    Ok(f)
}

/// Size of `state.json`: it is rewritten in place with one `pwrite`, padded to this size.
const STATE_SIZE: usize = 256;

/// `state.json` on disk: the tip and a checksum that exposes a torn or garbled write.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    #[serde(flatten)]
    tip: Tip,
    check: String,
}

fn state_check(t: &Tip) -> String {
    let text = format!("{} {} {} {}", t.count, t.hash, t.len, t.last_off);
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
}

/// Reads the state file: `Ok(None)` when absent, `Err` with the reason when unreadable.
pub fn read_state(dir: &Path) -> Result<Option<Tip>, String> {
    match super::files::read_small(&dir.join(STATE_FILE), STATE_SIZE as u64) {
        Ok(Some(bytes)) => {
            let st: StateFile = serde_json::from_slice(&bytes)
                .map_err(|e| format!("state file unreadable: {e}"))?;
            if st.check != state_check(&st.tip) {
                return Err("state file checksum does not match".into());
            }
            Ok(Some(st.tip))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(format!("state file unreadable: {e:#}")),
    }
}

/// Rewrites `state.json` in place with a single `pwrite` of a fixed-size record. (A temp file and
/// rename per append would create an inode and a directory update that every group commit of the
/// log then has to journal too: measured here, it cut 8-process throughput by almost two thirds.)
/// A torn write cannot pass the checksum and is handled like a missing state file.
fn write_state(dir: &Path, tip: &Tip) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let mut bytes = serde_json::to_vec(&StateFile {
        tip: tip.clone(),
        check: state_check(tip),
    })?;
    if bytes.len() >= STATE_SIZE {
        bail!("ledger state record too long");
    }
    bytes.resize(STATE_SIZE - 1, b' ');
    bytes.push(b'\n');
    let (f, _) = super::files::open_rewritable(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all_at(&bytes, 0)
        .context("cannot write the state file")
}

/// Microseconds since the Unix epoch, UTC.
pub fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// One locked critical section: the checked tip, and whatever was written since.
pub struct Session<'a> {
    dir: &'a Path,
    files: &'a mut Files,
    tip: Tip,
    dirty: bool,
}

impl<'a> Session<'a> {
    /// Locks the ledger, checks the tip and performs (and records) any recovery, runs `f`, updates
    /// the state file and unlocks; then `fdatasync`s the log and notes the synced length.
    ///
    /// The sync runs after the unlock so that concurrent writers' syncs overlap and the kernel
    /// commits them together (group commit). It still completes before this returns, and it
    /// flushes every byte written before it, so a returned record and all records before it are
    /// durable.
    pub fn run<T>(
        dir: &'a Path,
        files: &'a mut Files,
        lock_timeout: Duration,
        f: impl FnOnce(&mut Session<'_>) -> Result<T>,
    ) -> Result<T> {
        let (out, written) = Session::run_unsynced(dir, files, lock_timeout, f)?;
        if let Some(end) = written {
            files.log.sync_data().context("cannot sync the ledger")?;
            note_synced(dir, end);
        }
        out
    }

    /// Like [`Session::run`] but without the sync: returns `f`'s result and the log length
    /// after what was written (recovery records count even when `f` fails), for the caller to
    /// sync. Only a failure to take the lock is the outer error.
    pub fn run_unsynced<T>(
        dir: &'a Path,
        files: &'a mut Files,
        lock_timeout: Duration,
        f: impl FnOnce(&mut Session<'_>) -> Result<T>,
    ) -> Result<(Result<T>, Option<u64>)> {
        lock_within(files, lock_timeout)?;
        let done = Session::inner(dir, files, f);
        // Unlocking can only fail on a bad descriptor; the lock also ends when the fd closes.
        let _ = files.lock.unlock();
        Ok(done)
    }

    /// Runs the locked part; returns `f`'s result and the log length to sync, if anything was
    /// written (recovery records count even when `f` fails).
    fn inner<T>(
        dir: &'a Path,
        files: &'a mut Files,
        f: impl FnOnce(&mut Session<'_>) -> Result<T>,
    ) -> (Result<T>, Option<u64>) {
        let mut s = Session {
            dir,
            files,
            tip: Tip::genesis(),
            dirty: false,
        };
        let out = s.begin().and_then(|()| f(&mut s));
        if !s.dirty {
            return (out, None);
        }
        if let Err(e) = write_state(s.dir, &s.tip) {
            // The log is the truth; the next append rolls the state forward and records it.
            tracing::warn!("ledger state file not updated: {e:#}");
        }
        (out, Some(s.tip.len))
    }

    /// The checked tip.
    pub fn tip(&self) -> &Tip {
        &self.tip
    }

    /// Syncs the log now, under the lock (for seals, which must never name unsynced records).
    pub fn sync_now(&mut self) -> Result<()> {
        self.files
            .log
            .sync_data()
            .context("cannot sync the ledger")?;
        note_synced(self.dir, self.tip.len);
        Ok(())
    }

    /// Appends one record built from already redacted and normalised `fields`.
    pub fn write(&mut self, fields: Map<String, Value>) -> Result<super::Appended> {
        let seq = self.tip.count;
        let (mut line, hash) = record::build(fields, seq, now_micros(), &self.tip.hash)
            .map_err(|e| anyhow!("cannot encode the record: {e}"))?;
        line.push(b'\n');
        self.dirty = true;
        self.files
            .log
            .write_all(&line)
            .context("cannot write to the ledger")?;
        self.tip = Tip {
            count: seq + 1,
            hash: hash.clone(),
            last_off: self.tip.len,
            len: self.tip.len + line.len() as u64,
        };
        Ok(super::Appended { seq, hash })
    }

    /// Reads and cross-checks the state, recovering from crashes (with recovery records).
    fn begin(&mut self) -> Result<()> {
        if let Some(why) = self.files.lost.take() {
            return self.restart(&why);
        }
        self.recover()?;
        if let Err(e) = super::files::single_link(&self.files.log, &self.dir.join(LOG_FILE)) {
            self.write(recovery("hard_link", json!({"reason": format!("{e:#}")})))?;
            bail!("refusing to append: {e:#}");
        }
        Ok(())
    }

    /// The log in use was deleted or replaced: the fresh file at the ledger's name starts with a
    /// recovery record naming the lost tip, and this call is refused (fail closed).
    fn restart(&mut self, why: &str) -> Result<()> {
        let len = self
            .files
            .log
            .metadata()
            .context("cannot stat the ledger")?
            .len();
        if len != 0 {
            // Another process restarted it first (or put a file there): check it like any log,
            // then record this process's loss too.
            self.recover()?;
            self.write(recovery("ledger_lost", json!({ "reason": why })))?;
            bail!(
                "{why}: records written since went to a file no one can read; this call is refused"
            );
        }
        let previous = read_state(self.dir).ok().flatten();
        self.tip = Tip::genesis();
        // The synced length and the state belong to the lost file.
        let (synced, _) = super::files::open_rewritable(&self.dir.join(SYNCED_FILE))?;
        synced.set_len(0)?;
        self.write(recovery(
            "ledger_lost",
            json!({"reason": why,
                   "lost_records": previous.as_ref().map(|t| t.count),
                   "lost_tip": previous.as_ref().map(|t| t.hash.clone())}),
        ))?;
        bail!(
            "{why}: records written since went to a file no one can read; a fresh ledger was \
             started with a recovery record, and this call is refused"
        )
    }

    /// Reads and cross-checks the state, recovering from crashes (with recovery records).
    fn recover(&mut self) -> Result<()> {
        let len = self
            .files
            .log
            .metadata()
            .context("cannot stat the ledger")?
            .len();
        let mut rebuilt = None;
        let mut lost = None;
        self.tip = match read_state(self.dir) {
            Ok(Some(st)) => match self.check_tip(&st, len) {
                Ok(()) => st,
                Err(why) => {
                    // Only bytes past the synced length may be missing or different: those
                    // records were never acknowledged (power loss before their sync).
                    let synced = read_synced(self.dir);
                    if len < synced {
                        bail!(
                            "ledger is shorter than its state ({len} bytes, but {synced} bytes were synced and \
                             acknowledged; the state file records {} records): possible truncation or rollback; \
                             refusing to append — run `patchwork-gateway verify`",
                            st.count
                        );
                    }
                    let tip = self.tip_ending_at(synced).map_err(|_| why)?;
                    lost = Some(st);
                    tip
                }
            },
            Ok(None) if len == 0 => Tip::genesis(),
            Ok(None) => {
                rebuilt = Some("state file missing".to_string());
                self.tip_from_last_line(len)?
            }
            Err(why) => {
                rebuilt = Some(why);
                self.tip_from_last_line(len)?
            }
        };
        let from = self.tip.clone();
        let cut = self.roll_forward(len, lost.is_some())?;
        let rolled = self.tip.count - from.count;
        if let Some(reason) = rebuilt {
            self.write(recovery(
                "state_rebuilt",
                json!({"reason": reason, "records": from.count, "bytes": from.len}),
            ))?;
        }
        if let Some(st) = lost {
            self.write(recovery(
                "unsynced_tail_lost",
                json!({"expected_records": st.count, "expected_bytes": st.len,
                       "found_records": self.tip.count, "found_bytes": len,
                       "reason": "the log does not reach its state file past the synced length \
                                  (power loss before sync): records never acknowledged were lost"}),
            ))?;
        } else if rolled > 0 {
            self.write(recovery(
                "state_rollforward",
                json!({"records": rolled, "from_seq": from.count,
                       "reason": "complete records past the state file (crash between write and state update)"}),
            ))?;
        }
        if let Some(cut) = cut {
            let (kind, reason) = if cut.oversize {
                (
                    "oversize_tail",
                    "a line longer than any record after the last chained record cut off",
                )
            } else if cut.complete {
                (
                    "discarded_tail",
                    "unsynced bytes after the last chained record (power loss) cut off",
                )
            } else {
                (
                    "torn_tail",
                    "incomplete last line (writer stopped mid-append) cut off",
                )
            };
            let mut details =
                json!({"offset": cut.offset, "discarded_len": cut.len, "reason": reason});
            let hash_key = if cut.whole {
                "discarded_sha256"
            } else {
                "discarded_head_sha256"
            };
            details[hash_key] = json!(record::sha256_tag(&cut.head));
            self.write(recovery(kind, details))?;
        }
        Ok(())
    }

    /// The log must reach `st.len` and the line ending there must be the state's tip record.
    fn check_tip(&mut self, st: &Tip, len: u64) -> Result<()> {
        if len < st.len {
            bail!(
                "ledger is shorter than its state ({len} < {} bytes, {} records expected): possible \
                 truncation or rollback; refusing to append — run `patchwork-gateway verify`",
                st.len,
                st.count
            );
        }
        if st.count == 0 {
            if st.len == 0 && st.hash == GENESIS {
                return Ok(());
            }
            bail!(
                "ledger state file is inconsistent (no records but {} bytes)",
                st.len
            );
        }
        let size = st
            .len
            .checked_sub(st.last_off)
            .filter(|n| (2..=1 << 30).contains(n));
        let Some(size) = size else {
            bail!(
                "ledger state file is inconsistent (last line {}..{})",
                st.last_off,
                st.len
            );
        };
        let mut line = vec![0; size as usize];
        self.files
            .log
            .read_exact_at(&mut line, st.last_off)
            .context("cannot read the ledger tip")?;
        let ok = line.pop() == Some(b'\n')
            && scan(&line).is_ok_and(|c| c.hash_ok && c.seq + 1 == st.count && c.hash == st.hash);
        if !ok {
            bail!(
                "ledger chain mismatch at the tip: the record at byte {} is not seq {} with hash {}; \
                 the ledger was modified — refusing to append, run `patchwork-gateway verify`",
                st.last_off,
                st.count - 1,
                st.hash
            );
        }
        Ok(())
    }

    /// Without a usable state file: the tip is the last complete line of the log (O(1) read).
    fn tip_from_last_line(&mut self, len: u64) -> Result<Tip> {
        let mut last_byte = [0u8];
        self.files.log.read_exact_at(&mut last_byte, len - 1)?;
        let end = if last_byte[0] == b'\n' {
            len
        } else {
            line_start(&self.files.log, len)?
        };
        self.tip_ending_at(end).map_err(|at| {
            anyhow!(
                "ledger state is missing and the last record (byte {at}) is damaged; \
                 refusing to append — run `patchwork-gateway verify`"
            )
        })
    }

    /// The tip whose line ends exactly at `end` (genesis for 0); `Err` gives the line's offset.
    fn tip_ending_at(&mut self, end: u64) -> Result<Tip, u64> {
        if end == 0 {
            return Ok(Tip::genesis());
        }
        let start = line_start(&self.files.log, end - 1).map_err(|_| end)?;
        let mut line = vec![0; (end - start) as usize];
        self.files
            .log
            .read_exact_at(&mut line, start)
            .map_err(|_| start)?;
        if line.pop() != Some(b'\n') {
            return Err(start);
        }
        match scan(&line) {
            Ok(c) if c.hash_ok => Ok(Tip {
                count: c.seq + 1,
                hash: c.hash.to_string(),
                len: end,
                last_off: start,
            }),
            _ => Err(start),
        }
    }

    /// Accepts complete records past the tip that chain correctly and cuts off what follows them:
    /// a torn last line, a line longer than [`MAX_LINE`](super::files::MAX_LINE), or (when
    /// `cut_unchained`, after a power loss) anything that does not chain. Reads in chunks: memory
    /// stays bounded whatever was appended. Without `cut_unchained` a complete line that does
    /// not chain is an error.
    fn roll_forward(&mut self, len: u64, cut_unchained: bool) -> Result<Option<Cut>> {
        const CHUNK: usize = 256 * 1024;
        let max = super::files::MAX_LINE;
        // `buf` holds the bytes from `self.tip.len` on (the start of the next line).
        let mut buf: Vec<u8> = Vec::new();
        let mut oversize = false;
        loop {
            if let Some(nl) = buf.iter().position(|&b| b == b'\n').filter(|&nl| nl <= max) {
                let at = self.tip.len;
                let ok = scan(&buf[..nl]).is_ok_and(|c| {
                    c.hash_ok && c.seq == self.tip.count && c.prev == self.tip.hash && {
                        self.tip = Tip {
                            count: c.seq + 1,
                            hash: c.hash.to_string(),
                            len: at + nl as u64 + 1,
                            last_off: at,
                        };
                        true
                    }
                });
                if !ok && cut_unchained {
                    break;
                }
                if !ok {
                    bail!(
                        "ledger has a record at byte {at} past its recorded tip (seq {}) that does not chain; \
                         refusing to append — run `patchwork-gateway verify`",
                        self.tip.count
                    );
                }
                buf.drain(..=nl);
                continue;
            }
            if buf.len() > max {
                oversize = true;
                break;
            }
            let have = self.tip.len + buf.len() as u64;
            if have >= len {
                break;
            }
            let want = CHUNK.min((len - have) as usize);
            let start = buf.len();
            buf.resize(start + want, 0);
            self.files.log.read_exact_at(&mut buf[start..], have)?;
        }
        let offset = self.tip.len;
        if offset == len {
            return Ok(None);
        }
        let whole = offset + buf.len() as u64 == len;
        buf.truncate(max);
        self.files
            .log
            .set_len(offset)
            .context("cannot cut off the ledger's damaged tail")?;
        self.dirty = true;
        Ok(Some(Cut {
            offset,
            len: len - offset,
            complete: buf.contains(&b'\n'),
            oversize,
            whole,
            head: buf,
        }))
    }
}

/// What [`Session::roll_forward`] cut off the end of the log.
struct Cut {
    offset: u64,
    len: u64,
    /// The bytes cut off (at most `MAX_LINE`: their start when not `whole`).
    head: Vec<u8>,
    whole: bool,
    /// They hold a complete line (else: a torn last line).
    complete: bool,
    /// A line longer than any record.
    oversize: bool,
}

/// The synced length: a lower bound of the log bytes known durable and acknowledged.
fn read_synced(dir: &Path) -> u64 {
    super::files::read_small(&dir.join(SYNCED_FILE), 64)
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Raises the synced length to `end` (never lowers it, except in a harmless race between two
/// writers, which only makes it more conservative). Written in place, not synced: after a crash
/// it can only be lower than the truth.
pub(super) fn note_synced(dir: &Path, end: u64) {
    let res = open_synced(dir).and_then(|f| raise_synced(&f, end));
    if let Err(e) = res {
        tracing::warn!("ledger synced-length file not updated: {e}");
    }
}

/// Opens (creating) the synced-length file.
pub(super) fn open_synced(dir: &Path) -> std::io::Result<File> {
    super::files::open_rewritable(&dir.join(SYNCED_FILE))
        .map(|(f, _)| f)
        .map_err(std::io::Error::other)
}

/// Raises the synced length held in `f` to `end` (see [`note_synced`]).
pub(super) fn raise_synced(f: &File, end: u64) -> std::io::Result<()> {
    let mut cur = [0u8; 21];
    let n = f.read_at(&mut cur, 0)?;
    let current: u64 = std::str::from_utf8(&cur[..n])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if current < end {
        f.write_all_at(format!("{end:020}\n").as_bytes(), 0)?;
    }
    Ok(())
}

/// Where a timed lock attempt stands, shared with the thread that waits in `flock`.
#[derive(Debug)]
enum Wait {
    Waiting,
    Acquired,
    /// The caller gave up; the helper is still blocked in `flock`.
    Abandoned,
    /// The helper got the lock after the caller gave up, and released it.
    Released,
    Failed(std::io::Error),
}

type Waiter = Arc<(Mutex<Wait>, Condvar)>;

/// Takes the exclusive lock, waiting at most `timeout`. Uncontended, this is one `flock`. Under
/// contention a helper thread waits in a blocking `flock` on a duplicate of the descriptor (same
/// open file description, so the same lock). If the caller gives up first, the helper stays
/// parked: the next attempt adopts it, or it releases the lock as soon as it gets it, under the
/// same mutex the caller checks, so a later attempt can never run while a helper unlocks.
fn lock_within(files: &mut Files, timeout: Duration) -> Result<()> {
    if let Some(waiter) = files.waiter.take() {
        let mut w = waiter.0.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*w, Wait::Abandoned) {
            *w = Wait::Waiting;
            drop(w);
            return wait_on(files, waiter, timeout);
        }
    }
    match files.lock.try_lock() {
        Ok(()) => return Ok(()),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(e).context("cannot lock the ledger"),
    }
    let fd = files.lock.try_clone().context("cannot lock the ledger")?;
    let waiter: Waiter = Arc::new((Mutex::new(Wait::Waiting), Condvar::new()));
    let theirs = Arc::clone(&waiter);
    std::thread::spawn(move || {
        let res = fd.lock();
        let (m, cv) = &*theirs;
        let mut w = m.lock().unwrap_or_else(|p| p.into_inner());
        *w = match (res, &*w) {
            (Ok(()), Wait::Abandoned) => {
                let _ = fd.unlock();
                Wait::Released
            }
            (Ok(()), _) => Wait::Acquired,
            (Err(e), _) => Wait::Failed(e),
        };
        cv.notify_all();
    });
    wait_on(files, waiter, timeout)
}

fn wait_on(files: &mut Files, waiter: Waiter, timeout: Duration) -> Result<()> {
    let (m, cv) = &*waiter;
    let w = m.lock().unwrap_or_else(|p| p.into_inner());
    let (mut w, _) = cv
        .wait_timeout_while(w, timeout, |w| matches!(w, Wait::Waiting))
        .unwrap_or_else(|p| p.into_inner());
    match std::mem::replace(&mut *w, Wait::Abandoned) {
        Wait::Acquired => Ok(()),
        Wait::Failed(e) => Err(e).context("cannot lock the ledger"),
        Wait::Waiting => {
            // Still blocked: leave it marked abandoned, for the next attempt to adopt.
            drop(w);
            files.waiter = Some(waiter);
            bail!(
                "the ledger stayed locked by another process for {} ms; giving up (fail closed)",
                timeout.as_millis()
            )
        }
        other => {
            *w = other;
            bail!("ledger lock wait in an unexpected state")
        }
    }
}

/// The fields of a `ledger_recovery` record.
fn recovery(kind: &str, details: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("event".into(), json!("ledger_recovery"));
    m.insert("kind".into(), json!(kind));
    if let Value::Object(d) = details {
        m.extend(d);
    }
    m
}

/// Offset just after the last `\n` in `[0, end)` of `f`, or 0.
pub fn line_start(f: &File, end: u64) -> Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut hi = end;
    let mut buf = Vec::new();
    while hi > 0 {
        let lo = hi.saturating_sub(CHUNK);
        buf.resize((hi - lo) as usize, 0);
        f.read_exact_at(&mut buf, lo)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(lo + i as u64 + 1);
        }
        hi = lo;
    }
    Ok(0)
}
