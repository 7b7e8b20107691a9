//! Group commit for records written with [`super::Ledger::append_unsynced`]: one `fdatasync`
//! covers every record written before it started, so concurrent callers waiting for their
//! records share syncs instead of queueing one per record.
//!
//! A failed sync is remembered: the records it covered may not be durable (after a failed
//! writeback the kernel may drop the dirty pages), so every caller whose record falls in that
//! range gets the error, even if a later sync succeeds.

use super::append::{open_synced, raise_synced};
use anyhow::{Result, bail};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How many failed ranges are remembered (failures are rare; the oldest is forgotten first).
const FAILURES_KEPT: usize = 16;

/// Shared by the clones of one [`super::Ledger`] handle.
#[derive(Debug)]
pub struct Syncer {
    dir: PathBuf,
    state: Mutex<State>,
    done: Condvar,
    /// The synced-length file, kept open (only the thread running a sync uses it).
    synced_file: Mutex<Option<File>>,
}

#[derive(Debug, Default)]
struct State {
    /// A descriptor of the log (set when the handle first opens its files).
    file: Option<Arc<File>>,
    /// Highest log length written through this handle.
    written: u64,
    /// Log length known durable through this handle's syncs.
    synced: u64,
    /// A sync is running (outside the mutex).
    running: bool,
    /// Failed syncs: records ending in `(from, to]` may be lost; with the error text.
    failed: Vec<(u64, u64, String)>,
}

impl Syncer {
    /// A syncer for the ledger in `dir` (raises its `synced` file after each sync).
    pub fn new(dir: &Path) -> Syncer {
        Syncer {
            dir: dir.to_path_buf(),
            state: Mutex::new(State::default()),
            done: Condvar::new(),
            synced_file: Mutex::new(None),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the syncer a descriptor of the log (the first one given is kept).
    pub fn set_file(&self, file: File) {
        let mut st = self.state();
        if st.file.is_none() {
            st.file = Some(Arc::new(file));
        }
    }

    /// Moves to a new log file (the old one was deleted or replaced): its lengths start over.
    pub fn replace_file(&self, file: File) {
        let mut st = self.state();
        st.file = Some(Arc::new(file));
        st.written = 0;
        st.synced = 0;
        st.failed.clear();
        drop(st);
        *self.synced_file.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Notes that the log reached `end` bytes with a write of this handle.
    pub fn wrote(&self, end: u64) {
        let mut st = self.state();
        st.written = st.written.max(end);
    }

    /// Highest log length written through this handle.
    pub fn written(&self) -> u64 {
        self.state().written
    }

    /// Raises the `synced` file to `end` (a lower bound: a failure only logs a warning).
    fn note_synced(&self, end: u64) {
        let mut f = self.synced_file.lock().unwrap_or_else(|p| p.into_inner());
        let res = match &*f {
            Some(file) => raise_synced(file, end),
            None => open_synced(&self.dir).and_then(|file| {
                raise_synced(&file, end)?;
                *f = Some(file);
                Ok(())
            }),
        };
        if let Err(e) = res {
            tracing::warn!("ledger synced-length file not updated: {e}");
        }
    }

    /// Log length known durable through this handle's syncs.
    pub fn synced(&self) -> u64 {
        self.state().synced
    }

    /// Returns once the log is durable up to `end`: at once when a finished sync covered it,
    /// after the running sync when that one covers it, else after a new sync that covers every
    /// record written so far. Fails when the sync that covered `end` failed.
    pub fn sync_to(&self, end: u64) -> Result<()> {
        let mut st = self.state();
        loop {
            if let Some((_, _, why)) = st.failed.iter().find(|f| f.0 < end && end <= f.1) {
                bail!("cannot sync the ledger: {why}");
            }
            if st.synced >= end {
                return Ok(());
            }
            if !st.running {
                break;
            }
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let Some(file) = st.file.clone() else {
            bail!("cannot sync the ledger: nothing was written through this handle");
        };
        // Every write that returned before this point is covered by the sync below.
        let target = st.written.max(end);
        let from = st.synced;
        st.running = true;
        drop(st);
        let res = file.sync_data();
        if res.is_ok() {
            self.note_synced(target);
        }
        let mut st = self.state();
        st.running = false;
        let out = match res {
            Ok(()) => {
                st.synced = st.synced.max(target);
                Ok(())
            }
            Err(e) => {
                let why = e.to_string();
                if st.failed.len() == FAILURES_KEPT {
                    st.failed.remove(0);
                }
                st.failed.push((from, target, why.clone()));
                Err(anyhow::anyhow!("cannot sync the ledger: {why}"))
            }
        };
        drop(st);
        self.done.notify_all();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn one_sync_covers_everything_written_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"abc\n").unwrap();
        let s = Syncer::new(dir.path());
        s.set_file(f.try_clone().unwrap());
        s.wrote(4);
        f.write_all(b"def\n").unwrap();
        s.wrote(8);
        s.sync_to(4).unwrap();
        // The sync for 4 already covered 8 (written before it started).
        assert_eq!(s.state().synced, 8);
        s.sync_to(8).unwrap();
        let synced = std::fs::read_to_string(dir.path().join(crate::ledger::SYNCED_FILE)).unwrap();
        assert_eq!(synced.trim().parse::<u64>().unwrap(), 8);
    }

    #[test]
    fn a_failed_sync_fails_every_record_it_covered() {
        // fdatasync on /dev/null fails (EINVAL): a real failing sync, no stand-in.
        let dir = tempfile::tempdir().unwrap();
        let s = Syncer::new(dir.path());
        s.set_file(File::options().write(true).open("/dev/null").unwrap());
        s.wrote(10);
        assert!(s.sync_to(5).is_err());
        // 10 was written before the failed sync: it stays failed.
        let e = s.sync_to(10).unwrap_err();
        assert!(format!("{e:#}").contains("cannot sync the ledger"), "{e:#}");
        assert!(!dir.path().join(crate::ledger::SYNCED_FILE).exists());
    }
}
