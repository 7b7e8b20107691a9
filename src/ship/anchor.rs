//! Automatic checkpoints, the one way both doors make them: after a door answered, a checkpoint
//! is signed when one is due (every N records or M minutes, [`AutoPolicy`]) and, in processes
//! that live on (the MCP door), the checkpoints not yet witnessed are sent to the witness. A
//! check costs two small reads when nothing is due and at most one signature when something is;
//! its failures are logged, never turned into a verdict.

use crate::ledger::Ledger;
use crate::ledger::checkpoint::{self, AutoPolicy, Checkpoint};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// How often the MCP door checks whether a checkpoint is due (the minutes condition holds while
/// the door is idle; the records condition is met within this delay).
pub const TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// Automatic checkpoints of one ledger.
#[derive(Debug)]
pub struct Anchor {
    ledger: Ledger,
    keys_dir: PathBuf,
    policy: AutoPolicy,
    witness: Option<PathBuf>,
    busy: AtomicBool,
}

impl Anchor {
    /// Checkpoints of `ledger` signed with the key in `keys_dir` under `policy`; each new one
    /// is sent (with the backlog) to the witness socket `witness`, if any.
    pub fn new(
        ledger: Ledger,
        keys_dir: &Path,
        policy: AutoPolicy,
        witness: Option<PathBuf>,
    ) -> Anchor {
        Anchor {
            ledger,
            keys_dir: keys_dir.to_path_buf(),
            policy,
            witness,
            busy: AtomicBool::new(false),
        }
    }

    /// One check: signs a checkpoint if one is due and, with a witness, sends it, or with
    /// `backlog` any checkpoint the witness has not cosigned yet. Returns the checkpoint signed
    /// now. A check that finds another one running returns at once, so a process never signs
    /// twice for the same records.
    pub fn check(&self, backlog: bool) -> Option<Checkpoint> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return None;
        }
        let signed =
            checkpoint::auto(&self.ledger, &self.keys_dir, self.policy).unwrap_or_else(|e| {
                tracing::warn!("automatic checkpoint failed: {e:#}");
                None
            });
        if let Some(w) = &self.witness
            && (signed.is_some() || backlog)
            && let Err(e) = super::push_backlog(self.ledger.dir(), w)
        {
            tracing::warn!(
                "the witness at {} did not take the checkpoint: {e:#}; it stays in the backlog",
                w.display()
            );
        }
        self.busy.store(false, Ordering::Release);
        signed
    }
}
