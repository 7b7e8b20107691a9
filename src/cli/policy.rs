//! `policy`: init, show, validate, test, explain.

use super::{Ctx, not_implemented};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a policy profile (never overwrites).
    Init(PolicyInitArgs),
    /// Print the policy in force.
    Show,
    /// Check a policy file; errors name the file, line and field.
    Validate { file: PathBuf },
    /// Run a JSONL case file (corpus format) through the policy.
    Test { file: PathBuf },
    /// Show how a tool call or command string is classified and decided.
    Explain(ExplainArgs),
}

/// Options of `policy init`.
#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// Write the strict profile instead of standard.
    #[arg(long)]
    pub strict: bool,
    /// Write .patchwork/policy.yaml in the current project instead of the home folder.
    #[arg(long)]
    pub project: bool,
}

/// Options of `policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A shell command string, or with --tool, the tool input as JSON.
    pub input: String,
    /// Tool name (Bash, Read, mcp__server__tool…); default Bash.
    #[arg(long)]
    pub tool: Option<String>,
    /// Working directory to resolve paths against.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `policy` subcommand.
pub fn run(_ctx: &Ctx, _cmd: PolicyCommand) -> anyhow::Result<i32> {
    not_implemented("policy")
}
