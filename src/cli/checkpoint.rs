//! `checkpoint`, `prove` and `keys export --public`: signed checkpoints and their proofs.

use super::Ctx;
use crate::ledger::Ledger;
use crate::ledger::checkpoint;
use crate::ledger::note::{NoteKey, NoteVerifier};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// Options of `checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Send the checkpoint (and any backlog) to the witness listening on this Unix socket
    /// [default: PATCHWORK_WITNESS=unix:PATH, if set].
    #[arg(long, value_name = "SOCKET")]
    pub witness: Option<PathBuf>,
}

/// Options of `prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The record's seq.
    pub seq: u64,
    /// Write the proof to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a key for others (auditors, a witness).
    Export(KeysExportArgs),
}

/// Options of `keys export`.
#[derive(Debug, Args)]
pub struct KeysExportArgs {
    /// The public checkpoint verifier key (`<name>+<key id>+<base64 key>`); the only kind
    /// exported.
    #[arg(long, required = true)]
    pub public: bool,
}

/// The checkpoint key of `ctx`, created on first use.
pub fn key(ctx: &Ctx) -> Result<NoteKey> {
    ctx.home.ensure()?;
    checkpoint::load_or_create_key(&ctx.home.keys_dir())
}

/// The public key of `ctx`'s checkpoint key, if it exists.
pub fn own_verifier(ctx: &Ctx) -> Result<Option<NoteVerifier>> {
    checkpoint::own_verifier(&ctx.home.keys_dir())
}

/// Reads a verifier key file (the output of `keys export --public`).
pub fn read_verifier(path: &Path) -> Result<NoteVerifier> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the public key {}", path.display()))?;
    NoteVerifier::parse(&text).with_context(|| format!("public key {}", path.display()))
}

/// Signs a checkpoint and sends it (with any backlog) to the witness when one is configured.
pub fn run_checkpoint(ctx: &Ctx, args: CheckpointArgs) -> Result<i32> {
    let key = key(ctx)?;
    let ledger = Ledger::open(&ctx.home.ledger_dir())?;
    let c = ledger.checkpoint(&key)?;
    println!(
        "checkpoint {} records, root {}, tip {}, key {}",
        c.size,
        c.root,
        c.tip,
        key.verifier().to_vkey()
    );
    let witness = match args.witness {
        Some(w) => Some(w),
        None => crate::ship::witness_from_env()?,
    };
    if let Some(w) = witness {
        match crate::ship::push_backlog(ledger.dir(), &w) {
            Ok(Some(c)) => println!("witnessed by {}: {} records", w.display(), c.size),
            Ok(None) => {}
            Err(e) => {
                eprintln!(
                    "patchwork-gateway: the witness did not take the checkpoint: {e:#}; it stays in the backlog (see `status`)"
                );
                return Ok(1);
            }
        }
    }
    Ok(0)
}

/// Prints the inclusion proof of one record in the newest checkpoint.
pub fn prove(ctx: &Ctx, args: ProveArgs) -> Result<i32> {
    let proof = checkpoint::prove(&ctx.home.ledger_dir(), args.seq)?;
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    match args.output {
        Some(p) => {
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// `keys export --public`.
pub fn keys(ctx: &Ctx, cmd: KeysCommand) -> Result<i32> {
    match cmd {
        KeysCommand::Export(a) => {
            if !a.public {
                bail!("only the public key is exported (--public)");
            }
            println!("{}", key(ctx)?.verifier().to_vkey());
            Ok(0)
        }
    }
}
