//! `watchdog`: check and repair the hook installation.

use super::{Ctx, not_implemented};
use clap::Args;

/// Options of `watchdog`.
#[derive(Debug, Args)]
pub struct WatchdogArgs {
    /// Check and repair once, then exit.
    #[arg(long)]
    pub once: bool,
    /// Install a 5-minute systemd user timer (or a crontab line).
    #[arg(long)]
    pub install: bool,
    /// Remove the timer.
    #[arg(long)]
    pub uninstall: bool,
}

/// Runs the watchdog.
pub fn run(_ctx: &Ctx, _args: WatchdogArgs) -> anyhow::Result<i32> {
    not_implemented("watchdog")
}
