//! `seal` and `verify`: the ledger commands (`log` is in `log.rs`).

use super::Ctx;
use crate::ledger::{Ledger, SealKey, VerifyReport};
use anyhow::Result;
use clap::Args;
use std::io::Write;

/// Options of `seal`.
#[derive(Debug, Args)]
pub struct SealArgs {}

/// Options of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
}

/// Seals the ledger tip.
pub fn seal(ctx: &Ctx, _args: SealArgs) -> Result<i32> {
    ctx.home.ensure()?;
    let ledger = Ledger::open(&ctx.home.ledger_dir())?;
    let key = SealKey::load_or_create(&ctx.home.keys_dir().join("seal.key"))?;
    let seal = ledger.seal(&key)?;
    println!(
        "sealed {} records, tip {}, key {}, {}",
        seal.count, seal.tip, seal.key_id, seal.mac
    );
    Ok(0)
}

/// Verifies the ledger: exit 0 when intact, 1 when damaged, 2 when it could not be verified.
pub fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<i32> {
    match run_verify(ctx) {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            if args.json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                write_report(&mut out, ctx, &report)?;
            }
            Ok(if report.intact { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("patchwork-gateway: cannot verify the ledger: {e:#}");
            Ok(2)
        }
    }
}

fn run_verify(ctx: &Ctx) -> Result<VerifyReport> {
    let key_path = ctx.home.keys_dir().join("seal.key");
    let key = if key_path.exists() {
        Some(SealKey::load(&key_path)?)
    } else {
        None
    };
    // Works on a folder that does not exist yet (an empty ledger) without creating it.
    crate::ledger::verify_dir(&ctx.home.ledger_dir(), key.as_ref())
}

fn write_report(out: &mut impl Write, ctx: &Ctx, r: &VerifyReport) -> Result<()> {
    writeln!(out, "ledger   {}", ctx.home.ledger_dir().display())?;
    writeln!(
        out,
        "records  {} ({} verified), tip {}",
        r.records, r.verified, r.tip
    )?;
    writeln!(out, "recovery {} recovery record(s)", r.recoveries)?;
    writeln!(
        out,
        "seals    {} ({} valid), {} records sealed, unsealed tail {}",
        r.seals, r.seals_ok, r.sealed, r.unsealed_tail
    )?;
    match r.first() {
        None => writeln!(out, "OK       chain, links and seals intact")?,
        Some(_) => {
            for d in &r.damage {
                writeln!(
                    out,
                    "DAMAGED  seq {}: {} — {}",
                    d.seq,
                    d.kind.as_str(),
                    d.detail
                )?;
            }
        }
    }
    Ok(())
}
