//! `dashboard`: the local read-only web UI.

use super::Ctx;
use crate::views::dashboard::{self, Options};
use clap::Args;

/// Options of `dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Open the printed URL in the desktop's browser.
    #[arg(long)]
    pub open: bool,
}

/// Serves the dashboard until the process is stopped.
pub fn run(ctx: &Ctx, args: DashboardArgs) -> anyhow::Result<i32> {
    dashboard::run(Options {
        home: ctx.home.clone(),
        policy: ctx.policy.clone(),
        port: args.port,
        open: args.open,
    })
}
