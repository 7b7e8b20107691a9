//! `replay`, `report` and `export`: views built from the ledger.

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

/// Options of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Framework id, or `all`.
    #[arg(long)]
    pub framework: Option<String>,
    /// Include gap analysis.
    #[arg(long)]
    pub include_gaps: bool,
    /// html, json or md.
    #[arg(long)]
    pub format: Option<String>,
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

/// Step-by-step timeline.
pub fn replay(_ctx: &Ctx, _args: ReplayArgs) -> anyhow::Result<i32> {
    not_implemented("replay")
}

/// Compliance report.
pub fn report(_ctx: &Ctx, _args: ReportArgs) -> anyhow::Result<i32> {
    not_implemented("report")
}

/// Export events.
pub fn export(_ctx: &Ctx, _args: ExportArgs) -> anyhow::Result<i32> {
    not_implemented("export")
}
