//! `serve` (and no subcommand): the MCP server.

use super::{Ctx, not_implemented};
use clap::Args;
use std::path::PathBuf;

/// Options of `serve`.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Gateway configuration with upstream MCP servers to aggregate.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve Streamable HTTP at /mcp on ADDR instead of stdio (loopback by default).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
}

/// Runs the MCP server.
pub fn run(_ctx: &Ctx, _args: ServeArgs) -> anyhow::Result<i32> {
    not_implemented("serve")
}
