//! Sending evidence out of the agent's reach: checkpoints to a witness running as another user
//! ([`witness`]), records and checkpoints to an OpenTelemetry collector or an append-only file
//! copy ([`otlp`], [`file`]). Nothing here runs on a door's decision path: the doors only
//! append; these run from `checkpoint`, `ship` and the witness's own process.

pub mod anchor;
pub mod cursor;
pub mod file;
pub mod otlp;
pub mod semconv;
pub mod view;
pub mod witness;

use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::note::{CheckpointBody, NoteVerifier, SignedNote};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The witness socket named by `PATCHWORK_WITNESS=unix:PATH`, if set.
pub fn witness_from_env() -> Result<Option<PathBuf>> {
    match std::env::var("PATCHWORK_WITNESS") {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => parse_witness(&v).map(Some).context("PATCHWORK_WITNESS"),
        Err(_) => Ok(None),
    }
}

/// The witness socket of a `unix:PATH` setting (`PATCHWORK_WITNESS`, `witness:` in the
/// gateway's config).
pub fn parse_witness(v: &str) -> Result<PathBuf> {
    match v.strip_prefix("unix:") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => bail!("a witness is `unix:PATH` (its Unix socket), not `{v}`"),
    }
}

/// The witness the gateway sends checkpoints to: `PATCHWORK_WITNESS`, else `configured` (the
/// `witness:` of the gateway's config).
pub fn witness_setting(configured: Option<&Path>) -> Result<Option<PathBuf>> {
    Ok(witness_from_env()?.or_else(|| configured.map(Path::to_path_buf)))
}

/// Sends the newest checkpoint to the witness at `socket` unless a witness already cosigned it,
/// with a consistency proof from the newest witnessed size; stores the cosigned note. Returns
/// the checkpoint the witness now holds for us, or `None` when there is nothing to send.
pub fn push_backlog(ledger_dir: &Path, socket: &Path) -> Result<Option<Checkpoint>> {
    let Some(newest) = checkpoint::latest(ledger_dir)? else {
        return Ok(None);
    };
    if newest.witnessed {
        return Ok(Some(newest));
    }
    let mut old = checkpoint::latest_witnessed(ledger_dir)?.map_or(0, |(c, _)| c.size);
    for _ in 0..2 {
        let proof = checkpoint::consistency(ledger_dir, old, newest.size)?;
        let (code, body) =
            witness::request(socket, &witness::add_request(old, &proof, &newest.note))?;
        match code {
            200 => {
                let cosigned = format!("{}{}", newest.note, body);
                SignedNote::parse(&cosigned).context("the witness's cosignature is malformed")?;
                checkpoint::store_witnessed(ledger_dir, newest.size, &cosigned)?;
                return Ok(Some(newest));
            }
            409 => {
                let held: u64 = body
                    .trim()
                    .parse()
                    .context("malformed 409 from the witness")?;
                if held > newest.size {
                    bail!(
                        "the witness holds a checkpoint of {held} records but the newest local one covers {}: \
                         records were deleted or the log truncated",
                        newest.size
                    );
                }
                old = held;
            }
            _ => bail!(
                "the witness refused checkpoint {}: {code} {}",
                newest.size,
                body.trim()
            ),
        }
    }
    bail!("the witness kept answering 409 Conflict")
}

/// The ledger compared with what a witness holds.
#[derive(Debug, Clone, Serialize)]
pub struct WitnessCheck {
    /// Checkpoints the witness holds for this ledger.
    pub checkpoints: u64,
    /// The largest size it cosigned.
    pub witnessed_size: Option<u64>,
    /// The first witnessed size the local ledger does not reproduce.
    pub diverged_at: Option<u64>,
    /// What was found.
    pub detail: String,
}

/// Checks the local ledger against every checkpoint the witness (socket or folder) holds for
/// the log of `verifier`: each must carry the log's valid signature, and the ledger's first
/// `size` records must have that root. Names the first size where they differ.
pub fn check_against(
    ledger_dir: &Path,
    witness: &Path,
    verifier: &NoteVerifier,
) -> Result<WitnessCheck> {
    let history = witness::fetch_history(witness, verifier.name())?;
    let mut bodies = Vec::new();
    for w in &history {
        let note = SignedNote::parse(&w.note).context("witness checkpoint")?;
        let body = CheckpointBody::parse(verifier.open(&note).context("witness checkpoint")?)?;
        bodies.push(body);
    }
    bodies.sort_by_key(|b| b.size);
    let sizes: BTreeSet<u64> = bodies.iter().map(|b| b.size).collect();
    let (roots, records) = checkpoint::roots_of_log(ledger_dir, &sizes)?;
    let mut check = WitnessCheck {
        checkpoints: bodies.len() as u64,
        witnessed_size: bodies.last().map(|b| b.size),
        diverged_at: None,
        detail: String::new(),
    };
    for b in &bodies {
        if b.size > records {
            check.diverged_at = Some(b.size);
            check.detail = format!(
                "the witness holds a checkpoint of {} records but the ledger has only {records}: records were \
                 deleted or the log truncated (first diverging size {})",
                b.size, b.size
            );
            return Ok(check);
        }
        if roots.get(&b.size) != Some(&b.root) {
            check.diverged_at = Some(b.size);
            check.detail = format!(
                "the ledger's first {} records do not have the root the witness cosigned: history up to size {} \
                 was rewritten (first diverging size {})",
                b.size, b.size, b.size
            );
            return Ok(check);
        }
    }
    check.detail = match check.witnessed_size {
        Some(n) => format!(
            "ledger matches all {} witnessed checkpoints (up to {n} records)",
            bodies.len()
        ),
        None => format!(
            "the witness holds no checkpoint signed by {}: nothing anchors this ledger (if it did before, \
             the checkpoint key was replaced; verify with the pinned key: --pubkey FILE)",
            verifier.name()
        ),
    };
    Ok(check)
}
