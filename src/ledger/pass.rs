//! One read of the log for readers that need it verified, its signed checkpoints checked and
//! its records read, all together (the compliance report): the log is read, scanned and hashed
//! once, on the scan workers, and each line reaches the reader in order with what a
//! [`LineView`] learnt from it there, in parallel.

use super::checkpoint::{CheckpointReport, PendingCheck};
use super::note::NoteVerifier;
use super::record::LineFault;
use super::scan::{Scanned, scan_with};
use super::stream::{Line, scan_file_with};
use super::verify::{Verifier, open_log};
use super::{SealKey, VerifyReport};
use anyhow::Result;
use std::ops::Range;
use std::path::Path;

/// What a reader learns from one line on a scan worker, before the line reaches it in order.
pub trait LineView: Default + Send {
    /// A top-level member whose key is written without escapes: its key and the byte range of
    /// its raw value in the line. Called while the line is scanned, so a line found invalid
    /// later has had some of these calls too.
    fn member(&mut self, key: &str, value: Range<usize>);
    /// The line was scanned, with this result.
    fn scanned(&mut self, line: &[u8], scanned: &Result<Scanned<'_>, LineFault>);
}

/// What one read found about the ledger's integrity.
#[derive(Debug)]
pub struct Checked {
    /// As [`super::verify_dir`] reports it.
    pub verify: VerifyReport,
    /// As [`super::checkpoint::check_all`] reports it.
    pub checkpoints: CheckpointReport,
}

/// Reads the ledger in `dir` once: verifies it (seal MACs with `key`), checks its signed
/// checkpoints (signatures with `verifier`) and calls `sink` with every complete line and its
/// [`LineView`], in file order.
pub fn read_checked<V: LineView>(
    dir: &Path,
    key: Option<&SealKey>,
    verifier: Option<&NoteVerifier>,
    mut sink: impl FnMut(&[u8], V),
) -> Result<Checked> {
    // The seals, the state and the checkpoints first: they only ever name records written
    // before them.
    let mut verify = Verifier::start(dir, key)?;
    let mut checks = PendingCheck::start(dir)?;
    let torn_at = match open_log(dir)? {
        Some(f) => scan_file_with(
            f,
            |line| {
                let mut view = V::default();
                let scanned = scan_with(line, |k, v| view.member(k, v));
                view.scanned(line, &scanned);
                (Line::of(&scanned), view)
            },
            |line, (summary, view)| {
                checks.push(&summary);
                verify.feed(summary);
                sink(line, view);
            },
        )?,
        None => None,
    };
    Ok(Checked {
        verify: verify.finish(torn_at)?,
        checkpoints: checks.finish(verifier),
    })
}
