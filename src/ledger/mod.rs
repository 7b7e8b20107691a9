//! The tamper-evident ledger: hash-chained canonical JSON lines under `$PATCHWORK_HOME/ledger/`.
//! This module is the only code that touches the ledger's files.
//!
//! API used by the rest of the gateway: [`Ledger::open`], [`Ledger::append`] (returns the seq and
//! hash of the new record once it is durable), [`Ledger::append_unsynced`] with [`Ledger::sync`]
//! (written and chained at once, durable later, with group commit), [`Ledger::records`], [`Ledger::verify`], [`Ledger::seal`] and the cheap
//! [`Ledger::status`]. The exact format is specified in `docs/ledger.md`.
//!
//! Files in the ledger folder: `ledger.jsonl` (the records), `state.json` (tip cache),
//! `lock` (flock target), `synced` (length known durable), `seals.jsonl` (HMAC seals).

mod append;
pub mod canonical;
pub mod checkpoint;
pub mod event;
pub mod files;
pub mod merkle;
pub mod note;
pub mod pass;
mod query;
pub mod record;
pub mod redact;
pub mod scan;
pub mod seal;
pub mod stream;
mod sync;
pub mod tree;
mod verify;

pub use append::line_start;
pub use event::{Digest, LedgerEvent};
pub use query::{Records, Status};
pub use record::{GENESIS, Record};
pub use seal::{Seal, SealKey};
pub use verify::{Damage, DamageKind, VerifyReport};

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The records, one canonical JSON object per line.
pub const LOG_FILE: &str = "ledger.jsonl";
/// Cache of the tip (count, hash, length, offset of the last line).
pub const STATE_FILE: &str = "state.json";
/// The file all writers lock.
pub const LOCK_FILE: &str = "lock";
/// Length of the log known synced (a lower bound; tells power loss from truncation).
pub const SYNCED_FILE: &str = "synced";
/// HMAC seals, one per line.
pub const SEALS_FILE: &str = "seals.jsonl";

/// Verifies the ledger in `dir` without opening it for writing (a missing folder is an empty,
/// intact ledger). Same as [`Ledger::verify`].
pub fn verify_dir(dir: &Path, key: Option<&SealKey>) -> Result<VerifyReport> {
    verify::verify(dir, key)
}

/// Record count, tip hash and last seal of the ledger in `dir`, without locking (the same as
/// [`Ledger::status`], for read-only callers).
pub fn status_dir(dir: &Path) -> Result<Status> {
    query::status(dir)
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// `sha256:<hex>` of the record.
    pub hash: String,
}

/// A record written by [`Ledger::append_unsynced`]: chained and visible in the log, durable
/// only once [`Ledger::sync`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub appended: Appended,
    /// Log length just after the record.
    end: u64,
}

/// A handle on one ledger folder. Clones share open descriptors; appends from clones, threads
/// and other processes are serialised by an exclusive lock.
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
    files: Arc<Mutex<Option<append::Files>>>,
    lock_timeout: Duration,
    syncer: Arc<sync::Syncer>,
}

/// How long an append or seal waits for the ledger lock by default before failing.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

impl Ledger {
    /// Opens (creating if needed, mode 0700) the ledger in `dir`.
    pub fn open(dir: &Path) -> Result<Ledger> {
        crate::home::create_private_dir(dir)?;
        Ok(Ledger {
            dir: dir.to_path_buf(),
            files: Arc::new(Mutex::new(None)),
            lock_timeout: LOCK_TIMEOUT,
            syncer: Arc::new(sync::Syncer::new(dir)),
        })
    }

    /// Sets how long appends and seals wait for the lock held by other writers before failing
    /// (default [`LOCK_TIMEOUT`]); the Gate then denies, fail closed.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Ledger {
        self.lock_timeout = timeout;
        self
    }

    /// The ledger folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The default seal key of this ledger: `keys/seal.key` beside the ledger folder
    /// (`$PATCHWORK_HOME/keys/seal.key`).
    pub fn default_key_path(&self) -> PathBuf {
        self.dir
            .parent()
            .unwrap_or(&self.dir)
            .join("keys")
            .join("seal.key")
    }

    /// Appends one record. `fields` are the record's own fields (event, session, action, …);
    /// the ledger adds `v`, `seq`, `ts`, `prev` and `hash`, redacts secrets in every string,
    /// turns floats into strings, and syncs (`fdatasync`) before returning.
    pub fn append(&self, fields: Map<String, Value>) -> Result<Appended> {
        let fields = prepare(fields)?;
        self.locked(|s| s.write(fields))
    }

    /// Appends one record like [`Ledger::append`] (same lock, checks, recovery and format) but
    /// returns as soon as its line is written, chained and visible in the log, without syncing.
    /// [`Ledger::sync`] makes it durable; until then a power loss can lose it (a crash of this
    /// process cannot: the bytes are in the kernel).
    pub fn append_unsynced(&self, fields: Map<String, Value>) -> Result<Written> {
        let fields = prepare(fields)?;
        let (out, end) = {
            let mut guard = self
                .files
                .lock()
                .map_err(|_| anyhow!("ledger handle poisoned"))?;
            let files = self.files_in(&mut guard)?;
            append::Session::run_unsynced(&self.dir, files, self.lock_timeout, |s| s.write(fields))?
        };
        if let Some(end) = end {
            self.syncer.wrote(end);
        }
        match (out, end) {
            (Ok(appended), Some(end)) => Ok(Written { appended, end }),
            (Ok(_), None) => bail!("ledger append wrote nothing"),
            (Err(e), end) => {
                // Recovery records written before the failure are synced like any record.
                if let Some(end) = end
                    && let Err(s) = self.syncer.sync_to(end)
                {
                    tracing::warn!("ledger recovery records not synced: {s:#}");
                }
                Err(e)
            }
        }
    }

    /// Returns once `written` (and every record written before it) is durable. Concurrent
    /// callers share `fdatasync`s (group commit). A failed sync fails every record it covered.
    pub fn sync(&self, written: &Written) -> Result<()> {
        self.syncer.sync_to(written.end)
    }

    /// Whether `written` is known durable (a sync through this handle covered it).
    pub fn is_synced(&self, written: &Written) -> bool {
        self.syncer.synced() >= written.end
    }

    /// Syncs every record written through this handle (and its clones) so far.
    pub fn sync_all(&self) -> Result<()> {
        match self.syncer.written() {
            0 => Ok(()),
            end => self.syncer.sync_to(end),
        }
    }

    /// Streams the records in order (parsed, not verified).
    pub fn records(&self) -> Result<Records> {
        Records::open(&self.dir)
    }

    /// Recomputes every hash, link and seal. `key` checks the seals' MACs.
    pub fn verify(&self, key: Option<&SealKey>) -> Result<VerifyReport> {
        verify_dir(&self.dir, key)
    }

    /// Seals the current tip with `key` and appends the seal to the seals file. Recovers a
    /// crashed tail first, like an append.
    pub fn seal(&self, key: &SealKey) -> Result<Seal> {
        self.locked(|s| {
            // A seal must only name records that are durable.
            s.sync_now()?;
            let tip = s.tip();
            let sealed_at = append::now_micros();
            let seal = Seal {
                count: tip.count,
                tip: tip.hash.clone(),
                sealed_at,
                key_id: key.id().to_string(),
                mac: key.mac(tip.count, &tip.hash, sealed_at, key.id()),
                v: 1,
            };
            seal::append_seal(&self.dir.join(SEALS_FILE), &seal)?;
            Ok(seal)
        })
    }

    /// Signs an Ed25519 checkpoint of the durable tip with `key` (bringing the stored Merkle
    /// tree up to date, hashing only the records added since) and appends its
    /// `ledger.checkpoint` record. With no record since the newest checkpoint but that
    /// checkpoint's own record, returns the newest checkpoint instead of signing again.
    pub fn checkpoint(&self, key: &note::NoteKey) -> Result<checkpoint::Checkpoint> {
        self.locked(|s| {
            s.sync_now()?;
            let tip = s.tip().clone();
            let latest = checkpoint::latest(&self.dir)?;
            if let Some(last) = &latest
                && last.size > tip.count
            {
                bail!(
                    "the ledger holds {} records but checkpoint {} covers {}: records were deleted or \
                     the log truncated; refusing to sign — run `patchwork-gateway verify`",
                    tip.count,
                    last.size,
                    last.size
                );
            }
            if let Some(last) = latest
                && last.size + 1 >= tip.count
                && last.origin == key.name()
            {
                return Ok(last);
            }
            let tree = tree::update(&self.dir, &self.dir.join(LOG_FILE), tip.count, tip.len)?;
            let (c, fields) = checkpoint::sign(&self.dir, key, &tree, &tip.hash)?;
            s.write(fields)?;
            Ok(c)
        })
    }

    /// Record count, tip hash and last seal, without reading the whole log or locking.
    pub fn status(&self) -> Result<Status> {
        query::status(&self.dir)
    }

    fn locked<T>(&self, f: impl FnOnce(&mut append::Session<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self
            .files
            .lock()
            .map_err(|_| anyhow!("ledger handle poisoned"))?;
        let files = self.files_in(&mut guard)?;
        append::Session::run(&self.dir, files, self.lock_timeout, f)
    }

    /// The open files, opened on first use (the syncer gets its own descriptor of the log).
    /// Before each use the open log is checked against the ledger's name: a log deleted or
    /// replaced while in use is reopened, and the next session records the loss.
    fn files_in<'g>(&self, guard: &'g mut Option<append::Files>) -> Result<&'g mut append::Files> {
        if let Some(why) = guard.as_ref().and_then(|f| f.gone(&self.dir)) {
            let mut files = append::Files::open(&self.dir)?;
            files.lost = Some(why);
            self.syncer.replace_file(files.log_clone()?);
            *guard = Some(files);
        }
        if guard.is_none() {
            let files = append::Files::open(&self.dir)?;
            self.syncer.set_file(files.log_clone()?);
            *guard = Some(files);
        }
        Ok(guard.as_mut().expect("opened above"))
    }
}

/// Checks, redacts and normalises the caller's fields of a new record.
fn prepare(mut fields: Map<String, Value>) -> Result<Map<String, Value>> {
    if let Some(k) = record::RESERVED.iter().find(|k| fields.contains_key(**k)) {
        bail!("ledger field `{k}` is set by the ledger, not by the caller");
    }
    redact::redact_map(&mut fields);
    fields.values_mut().for_each(canonical::normalize);
    Ok(fields)
}
