//! `hook <event>`: the Claude Code hook entry point.

use super::Ctx;
use clap::Args;

/// Options of `hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// Claude Code's event name (`PreToolUse`) or kebab-case (`pre-tool-use`).
    pub event: Option<String>,
}

/// Runs one hook invocation; returns the exit code Claude Code reads.
pub fn run(_ctx: &Ctx, _args: HookArgs) -> i32 {
    eprintln!("patchwork-gateway: `hook` is not implemented yet");
    2
}
