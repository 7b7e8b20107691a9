//! The evidence part of `verify`: checkpoints, a witness's copy, offline proofs, anchoring.

use super::Ctx;
use super::ledger::VerifyArgs;
use crate::ledger::VerifyReport;
use crate::ledger::checkpoint::{self, Anchoring, CheckpointReport, Proof};
use crate::ship::WitnessCheck;
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Everything `verify` found.
#[derive(Debug, Serialize)]
pub struct FullReport {
    /// The chain and seals; `intact` also covers checkpoints and the witness.
    #[serde(flatten)]
    pub ledger: VerifyReport,
    pub checkpoints: CheckpointReport,
    pub witness: Option<WitnessCheck>,
    pub anchoring: Option<Anchoring>,
    /// Each shipper's lag behind the ledger.
    pub shipping: Vec<ShippingLag>,
}

/// Adds the checkpoint, witness and anchoring checks to the ledger's report.
pub fn verify_evidence(
    ctx: &Ctx,
    mut ledger: VerifyReport,
    args: &VerifyArgs,
) -> Result<FullReport> {
    let dir = ctx.home.ledger_dir();
    let verifier = match &args.pubkey {
        Some(p) => Some(super::checkpoint::read_verifier(p)?),
        None => super::checkpoint::own_verifier(ctx)?,
    };
    let checkpoints = checkpoint::check_all(&dir, verifier.as_ref())?;
    if !checkpoints.problems.is_empty() {
        ledger.intact = false;
    }
    let witness = match &args.witness {
        Some(w) => {
            let v = verifier.as_ref().context(
                "no checkpoint key to recognise this ledger's checkpoints: pass --pubkey",
            )?;
            let check = crate::ship::check_against(&dir, w, v)?;
            // A witness with nothing from this key is no evidence: the key may have been
            // replaced to start a fresh history (verify with the pinned --pubkey).
            if check.diverged_at.is_some() || check.checkpoints == 0 {
                ledger.intact = false;
            }
            Some(check)
        }
        None => None,
    };
    let anchoring = if dir.is_dir() {
        checkpoint::anchoring(&dir).ok()
    } else {
        None
    };
    let shipping = shipping_lags(ctx, ledger.records);
    Ok(FullReport {
        ledger,
        checkpoints,
        witness,
        anchoring,
        shipping,
    })
}

/// The human-readable evidence lines of `verify`.
pub fn write_evidence(out: &mut impl Write, r: &FullReport) -> Result<()> {
    let c = &r.checkpoints;
    writeln!(
        out,
        "checkpts {} ({} valid){}",
        c.checkpoints,
        c.valid,
        c.newest
            .map_or(String::new(), |n| format!(", newest covers {n} records"))
    )?;
    for (size, p) in &c.problems {
        writeln!(out, "DAMAGED  checkpoint {size}: {p}")?;
    }
    if let Some(w) = &r.witness {
        match w.diverged_at {
            Some(n) => writeln!(out, "DIVERGED witness at size {n}: {}", w.detail)?,
            None if w.checkpoints == 0 => writeln!(out, "NO PROOF {}", w.detail)?,
            None => writeln!(out, "witness  {}", w.detail)?,
        }
    }
    if let Some(a) = &r.anchoring {
        writeln!(out, "anchor   {}", anchoring_line(a))?;
    }
    for lag in &r.shipping {
        writeln!(out, "shipping {}", lag.line())?;
    }
    if r.ledger.intact {
        writeln!(
            out,
            "OK       chain, seals, checkpoints{} intact",
            if r.witness.is_some() {
                " and witness"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// One line about anchoring, for `verify`, `status` and `doctor`.
pub fn anchoring_line(a: &Anchoring) -> String {
    let cp = a.checkpoint.map_or("no checkpoint".to_string(), |(n, _)| {
        format!("newest checkpoint {n} records")
    });
    let w = a.witnessed.map_or("none witnessed".to_string(), |(n, _)| {
        format!("witnessed {n}")
    });
    let age = a
        .unanchored_age_secs
        .map_or(String::new(), |s| format!(", oldest {s} s old"));
    format!(
        "{cp}, {w}, unanchored tail {} records{age}, witness backlog {}",
        a.unanchored_records, a.witness_backlog
    )
}

/// `verify --proof FILE --pubkey FILE`: exit 0 when the proof holds, 1 when it does not.
pub fn verify_proof(path: &Path, pubkey: Option<&Path>, json: bool) -> Result<i32> {
    let pubkey = pubkey.context("--proof needs --pubkey FILE (from `keys export --public`)")?;
    let v = super::checkpoint::read_verifier(pubkey)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let result = serde_json::from_str::<Proof>(&text)
        .context("not an inclusion proof")
        .and_then(|p| p.verify(&v).map(|b| (p.seq, b)));
    let ok = result.is_ok();
    let msg = match &result {
        Ok((seq, b)) => format!(
            "record {seq} is included in the signed checkpoint of {} records of {}",
            b.size, b.origin
        ),
        Err(e) => format!("{e:#}"),
    };
    if json {
        println!("{}", serde_json::json!({"valid": ok, "detail": msg}));
    } else if ok {
        println!("OK       {msg}");
    } else {
        println!("INVALID  {msg}");
    }
    Ok(if ok { 0 } else { 1 })
}

/// How far one shipper (a cursor under the home's `ship/` folder) is behind the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct ShippingLag {
    /// The cursor file's name (`<kind>-<16 hex of the destination>.cursor`).
    pub cursor: String,
    /// The next seq it will ship.
    pub next_seq: u64,
    /// Records written but not shipped yet.
    pub behind: u64,
    /// Seconds since the cursor last moved.
    pub moved_secs_ago: u64,
}

impl ShippingLag {
    /// One line for `status` and `doctor`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} records behind (cursor at seq {}, moved {} s ago)",
            self.cursor, self.behind, self.next_seq, self.moved_secs_ago
        )
    }
}

/// Every shipper's lag behind a ledger of `records` records, by cursor name.
pub fn shipping_lags(ctx: &Ctx, records: u64) -> Vec<ShippingLag> {
    let Ok(entries) = std::fs::read_dir(ctx.home.root().join("ship")) else {
        return Vec::new();
    };
    let mut out: Vec<ShippingLag> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cursor"))
        .filter_map(|e| {
            let c = crate::ship::cursor::Cursor::load(&e.path()).ok()?;
            let moved = e.metadata().ok()?.modified().ok()?.elapsed().ok()?;
            Some(ShippingLag {
                cursor: e.file_name().to_string_lossy().into_owned(),
                next_seq: c.next_seq,
                behind: records.saturating_sub(c.next_seq),
                moved_secs_ago: moved.as_secs(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.cursor.cmp(&b.cursor));
    out
}

/// The anchoring check of `doctor`: the anchoring line and each shipper's lag; fails when a
/// witness is configured and checkpoints wait for it.
pub fn anchoring_check(ctx: &Ctx) -> Result<String, String> {
    let dir = ctx.home.ledger_dir();
    if !dir.is_dir() {
        return Ok("no ledger yet".into());
    }
    let a = checkpoint::anchoring(&dir).map_err(|e| format!("{e:#}"))?;
    let mut line = anchoring_line(&a);
    for lag in shipping_lags(ctx, a.records) {
        line.push_str(&format!("; shipping {}", lag.line()));
    }
    match crate::ship::witness_from_env() {
        Ok(Some(w)) if a.witness_backlog > 0 => Err(format!(
            "{line}; the witness at {} has not cosigned the newest checkpoint",
            w.display()
        )),
        Ok(Some(_)) => Ok(line),
        Ok(None) => Ok(format!(
            "{line} (no witness configured: PATCHWORK_WITNESS=unix:PATH, or witness: in the config of serve --config)"
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}
