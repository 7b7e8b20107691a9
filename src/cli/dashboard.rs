//! `dashboard`: the local read-only web UI.

use super::Ctx;
use crate::views::dashboard::{self, Options};
use clap::Args;

/// Options of `dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0, conflicts_with = "socket")]
    pub port: u16,
    /// Serve on this Unix socket instead (created 0600 in a directory only you can write;
    /// removed on exit). Reach it with `curl --unix-socket` or a local proxy.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<std::path::PathBuf>,
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
        socket: args.socket,
        open: args.open,
    })
}
