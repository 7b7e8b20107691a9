//! `replay`, `export` and `dashboard`: views built from the ledger.

use super::{Ctx, not_implemented};
use clap::Args;
use std::path::PathBuf;

/// Options of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Session id, or `latest`.
    pub session: String,
    /// Write an HTML timeline.
    #[arg(long)]
    pub html: bool,
    /// Output file.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// jsonl, csv or sarif.
    #[arg(long)]
    pub format: String,
}

/// Options of `dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
}

/// Step-by-step timeline.
pub fn replay(_ctx: &Ctx, _args: ReplayArgs) -> anyhow::Result<i32> {
    not_implemented("replay")
}

/// Export events.
pub fn export(_ctx: &Ctx, _args: ExportArgs) -> anyhow::Result<i32> {
    not_implemented("export")
}

/// Local dashboard.
pub fn dashboard(_ctx: &Ctx, _args: DashboardArgs) -> anyhow::Result<i32> {
    not_implemented("dashboard")
}
