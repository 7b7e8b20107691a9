//! `log`, `seal` and `verify`: the ledger commands.

use super::{Ctx, not_implemented};
use clap::Args;

/// Options of `log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only records at or above this risk.
    #[arg(long)]
    pub risk: Option<String>,
    /// Only this session (`latest` for the most recent).
    #[arg(long)]
    pub session: Option<String>,
    /// Only this action.
    #[arg(long)]
    pub action: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// At most N records (the most recent).
    #[arg(long)]
    pub limit: Option<usize>,
    /// One JSON record per line.
    #[arg(long)]
    pub json: bool,
}

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

/// Lists ledger records.
pub fn log(_ctx: &Ctx, _args: LogArgs) -> anyhow::Result<i32> {
    not_implemented("log")
}

/// Seals the ledger tip.
pub fn seal(_ctx: &Ctx, _args: SealArgs) -> anyhow::Result<i32> {
    not_implemented("seal")
}

/// Verifies the ledger.
pub fn verify(_ctx: &Ctx, _args: VerifyArgs) -> anyhow::Result<i32> {
    not_implemented("verify")
}
