//! `wrap`: a transparent guard in front of one upstream MCP server.

use super::{Ctx, not_implemented};
use clap::Args;

/// Options of `wrap`.
#[derive(Debug, Args)]
pub struct WrapArgs {
    /// Name of the upstream server (used in the ledger and MCP tool names).
    #[arg(long)]
    pub name: Option<String>,
    /// Streamable HTTP upstream instead of a stdio child.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Serve Streamable HTTP at /mcp on ADDR instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// The upstream command and its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs the wrapper.
pub fn run(_ctx: &Ctx, _args: WrapArgs) -> anyhow::Result<i32> {
    not_implemented("wrap")
}
