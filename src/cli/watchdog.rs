//! `watchdog`: check and repair the hook installation; deliver queued alerts.

use super::Ctx;
use crate::hook::{alerts, watchdog};
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
    /// Deliver queued webhook alerts, then exit (started by the hook in the background).
    #[arg(long, hide = true)]
    pub drain_alerts: bool,
}

/// Runs the watchdog.
pub fn run(ctx: &Ctx, args: WatchdogArgs) -> anyhow::Result<i32> {
    if args.drain_alerts {
        alerts::drain(&ctx.home)?;
        return Ok(0);
    }
    if args.install {
        println!("installed {}", watchdog::install_timer(&ctx.home)?);
        return Ok(0);
    }
    if args.uninstall {
        println!("{}", watchdog::uninstall_timer()?);
        return Ok(0);
    }
    if !args.once {
        anyhow::bail!("say what to do: --once, --install or --uninstall");
    }
    let checks = watchdog::run_once(&ctx.home)?;
    let drained = alerts::drain(&ctx.home)?;
    for c in &checks {
        println!(
            "{} {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    if drained.delivered + drained.failed > 0 {
        println!(
            "alerts: {} delivered, {} failed",
            drained.delivered, drained.failed
        );
    }
    Ok(if checks.iter().all(|c| c.ok) { 0 } else { 1 })
}
