//! Appending under an exclusive file lock, with the tip kept in a small state file and crash
//! recovery that is always recorded, never silent.
//!
//! Protocol per append (all under `flock(LOCK_EX)` on `lock`):
//! 1. read `state.json` (count, tip hash, log length, offset of the last line);
//! 2. cross-check it against the log: the log is at least that long and the line ending at that
//!    length is the tip record (parsed, re-hashed, same seq and hash) — O(1), one `pread`;
//! 3. recover if needed: complete records past the state that chain correctly are rolled forward,
//!    a torn last line is cut off; each writes a `ledger_recovery` record saying what happened.
//!    A log shorter than the state or a tip that does not match is refused (fail closed);
//! 4. one `write_all` of the canonical line + `\n` on an `O_APPEND` descriptor, then `fdatasync`;
//! 5. write `state.json.tmp` and rename it over `state.json`.
//!
//! The state file is a cache: it is neither fsynced nor is its folder, because it is checked
//! against the durable log on every append and rebuilt (with a recovery record) from the log's
//! last line when it is missing, unreadable or behind. It can never be *ahead* of the durable
//! log because it is only written after the log's `fdatasync` returned.

use super::record::{self, Checker, GENESIS};
use super::{LOCK_FILE, LOG_FILE, STATE_FILE};
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

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
}

impl Files {
    /// Opens (creating) the lock file and the log in append mode.
    pub fn open(dir: &Path) -> Result<Files> {
        let lock = private_file(dir, LOCK_FILE, false)?;
        let log = private_file(dir, LOG_FILE, true)?;
        Ok(Files { lock, log })
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
    o.open(&path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Reads the state file: `Ok(None)` when absent, `Err` with the reason when unreadable.
pub fn read_state(dir: &Path) -> Result<Option<Tip>, String> {
    match std::fs::read(dir.join(STATE_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("state file unreadable: {e}")),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("state file unreadable: {e}")),
    }
}

fn write_state(dir: &Path, tip: &Tip) -> Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let bytes = serde_json::to_vec(tip)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(&bytes)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(STATE_FILE)).context("cannot replace the state file")
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
    checker: Checker,
}

impl<'a> Session<'a> {
    /// Locks the ledger, checks the tip and performs (and records) any recovery, then runs `f`,
    /// syncs what was written and updates the state file before unlocking.
    pub fn run<T>(
        dir: &'a Path,
        files: &'a mut Files,
        f: impl FnOnce(&mut Session<'_>) -> Result<T>,
    ) -> Result<T> {
        files.lock.lock().context("cannot lock the ledger")?;
        let out = Session::inner(dir, files, f);
        // Unlocking can only fail on a bad descriptor; the lock also ends when the fd closes.
        let _ = files.lock.unlock();
        out
    }

    fn inner<T>(
        dir: &'a Path,
        files: &'a mut Files,
        f: impl FnOnce(&mut Session<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut s = Session {
            dir,
            files,
            tip: Tip::genesis(),
            dirty: false,
            checker: Checker::default(),
        };
        let began = s.begin();
        let out = began.and_then(|()| f(&mut s));
        let committed = s.commit();
        let out = out?;
        committed?;
        Ok(out)
    }

    /// The checked tip.
    pub fn tip(&self) -> &Tip {
        &self.tip
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

    fn commit(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.files
            .log
            .sync_data()
            .context("cannot sync the ledger")?;
        if let Err(e) = write_state(self.dir, &self.tip) {
            // The record is durable; the next append rolls the state forward and records it.
            tracing::warn!("ledger state file not updated: {e:#}");
        }
        Ok(())
    }

    /// Reads and cross-checks the state, recovering from crashes (with recovery records).
    fn begin(&mut self) -> Result<()> {
        let len = self
            .files
            .log
            .metadata()
            .context("cannot stat the ledger")?
            .len();
        let mut rebuilt = None;
        self.tip = match read_state(self.dir) {
            Ok(Some(st)) => {
                if len < st.len {
                    bail!(
                        "ledger is shorter than its state ({len} < {} bytes, {} records expected): \
                         possible truncation or rollback; refusing to append — run `patchwork-gateway verify`",
                        st.len,
                        st.count
                    );
                }
                self.check_tip(&st)?;
                st
            }
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
        let torn = self.roll_forward(len)?;
        if let Some(reason) = rebuilt {
            self.write(recovery(
                "state_rebuilt",
                json!({"reason": reason, "records": from.count, "bytes": from.len}),
            ))?;
        }
        let rolled = self.tip.count - from.count;
        if rolled > 0 {
            self.write(recovery(
                "state_rollforward",
                json!({"records": rolled, "from_seq": from.count,
                       "reason": "complete records past the state file (crash between write and state update)"}),
            ))?;
        }
        if let Some((offset, bytes)) = torn {
            self.write(recovery(
                "torn_tail",
                json!({"offset": offset, "discarded_len": bytes.len(),
                       "discarded_sha256": record::sha256_tag(&bytes),
                       "reason": "incomplete last line (writer stopped mid-append) cut off"}),
            ))?;
        }
        Ok(())
    }

    /// The state's tip record must be the line ending at `st.len`.
    fn check_tip(&mut self, st: &Tip) -> Result<()> {
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
            && self.checker.check(&line).is_ok_and(|c| {
                c.hash_ok && c.record.seq + 1 == st.count && c.record.hash == st.hash
            });
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
        if end == 0 {
            return Ok(Tip::genesis());
        }
        let start = line_start(&self.files.log, end - 1)?;
        let mut line = vec![0; (end - start - 1) as usize];
        self.files.log.read_exact_at(&mut line, start)?;
        match self.checker.check(&line) {
            Ok(c) if c.hash_ok => Ok(Tip {
                count: c.record.seq + 1,
                hash: c.record.hash,
                len: end,
                last_off: start,
            }),
            _ => bail!(
                "ledger state is missing and the last record (byte {start}) is damaged; \
                 refusing to append — run `patchwork-gateway verify`"
            ),
        }
    }

    /// Accepts complete records past the tip that chain correctly; cuts off a torn last line and
    /// returns its offset and bytes.
    fn roll_forward(&mut self, len: u64) -> Result<Option<(u64, Vec<u8>)>> {
        if len == self.tip.len {
            return Ok(None);
        }
        let mut rest = vec![0; (len - self.tip.len) as usize];
        self.files.log.read_exact_at(&mut rest, self.tip.len)?;
        let mut pos = 0;
        while let Some(nl) = rest[pos..].iter().position(|&b| b == b'\n') {
            let line = &rest[pos..pos + nl];
            let at = self.tip.len;
            let ok = self.checker.check(line).is_ok_and(|c| {
                c.hash_ok && c.record.seq == self.tip.count && c.record.prev == self.tip.hash && {
                    self.tip = Tip {
                        count: c.record.seq + 1,
                        hash: c.record.hash,
                        len: at + nl as u64 + 1,
                        last_off: at,
                    };
                    true
                }
            });
            if !ok {
                bail!(
                    "ledger has a record at byte {at} past its recorded tip (seq {}) that does not chain; \
                     refusing to append — run `patchwork-gateway verify`",
                    self.tip.count
                );
            }
            pos += nl + 1;
        }
        if pos == rest.len() {
            return Ok(None);
        }
        let offset = self.tip.len;
        self.files
            .log
            .set_len(offset)
            .context("cannot cut off the torn ledger line")?;
        self.dirty = true;
        Ok(Some((offset, rest.split_off(pos))))
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
