//! `init` and `uninstall`: install the gateway into an agent's configuration.

use super::{Ctx, not_implemented};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Agents the installer knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Agent {
    ClaudeCode,
}

/// How the installed hook behaves on internal errors.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyMode {
    Audit,
    FailClosed,
}

/// Options of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    pub agent: Agent,
    /// Install into DIR/.claude/settings.json and DIR/.mcp.json instead of the user scope.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Use the strict policy profile (and fail-closed mode unless told otherwise).
    #[arg(long)]
    pub strict_profile: bool,
    /// Behaviour on internal errors.
    #[arg(long, value_enum)]
    pub policy_mode: Option<PolicyMode>,
}

/// Options of `uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    pub agent: Agent,
    /// Remove from DIR instead of the user scope.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// Installs hooks and MCP registration.
pub fn init(_ctx: &Ctx, _args: InitArgs) -> anyhow::Result<i32> {
    not_implemented("init")
}

/// Removes what `init` added.
pub fn uninstall(_ctx: &Ctx, _args: UninstallArgs) -> anyhow::Result<i32> {
    not_implemented("uninstall")
}
