//! `serve` (and no subcommand): the MCP server with builtin tools and configured upstreams.

use super::Ctx;
use crate::proxy::{self, aggregate, guard::Guard, server::Config};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Options of `serve`.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Gateway configuration with upstream MCP servers to aggregate.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub serving: Serving,
}

/// How the MCP server is reached and when its decision records are durable (shared by `serve`
/// and `wrap`).
#[derive(Debug, Default, Clone, Args)]
pub struct Serving {
    /// Serve Streamable HTTP at /mcp on ADDR instead of stdio (loopback by default).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Bearer token HTTP clients must send; required when ADDR is not loopback.
    #[arg(
        long,
        env = "PATCHWORK_MCP_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub auth_token: Option<String>,
    /// Most HTTP sessions served at once (each `wrap` session runs its own upstream process);
    /// default 64. An idle session ends after 5 minutes, or when its client sends DELETE.
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<usize>,
    /// Sync each decision record to disk before the call runs or is forwarded. By default the
    /// sync runs while the call runs and the answer waits for it (see docs/mcp.md).
    #[arg(long)]
    pub sync_before_forward: bool,
}

/// Runs the MCP server.
pub fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<i32> {
    let (builtins, upstreams) = match &args.config {
        Some(path) => {
            let loaded = aggregate::load(path)?;
            (loaded.builtins, loaded.upstreams)
        }
        None => (true, Vec::new()),
    };
    let config = Config {
        builtins,
        upstreams,
        prefixed: true,
    };
    run_server(ctx, config, args.serving)
}

/// Shared by `serve` and `wrap`: opens the Gate, serves stdio or HTTP, cleans up children.
pub(crate) fn run_server(ctx: &Ctx, config: Config, serving: Serving) -> anyhow::Result<i32> {
    let Serving {
        http,
        auth_token: token,
        max_sessions,
        sync_before_forward,
    } = serving;
    let max_sessions = max_sessions.unwrap_or(64);
    if max_sessions == 0 {
        anyhow::bail!("--max-sessions must be at least 1");
    }
    let addr = http.as_deref().map(proxy::http::parse_addr).transpose()?;
    if let Some(addr) = &addr {
        proxy::http::check_exposure(addr, token.as_deref())?;
    }
    // One stdio session is a sequence of short steps (read, decide, forward, answer): one
    // thread runs them without cross-thread hand-offs. HTTP serves many sessions at once.
    let rt = match addr {
        Some(_) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    let result = rt.block_on(async move {
        let guard = Arc::new(Guard::open(
            &ctx.home,
            ctx.policy.as_deref(),
            sync_before_forward,
        ));
        let stop = CancellationToken::new();
        tokio::spawn(stop_on_signal(stop.clone()));
        let served = match addr {
            Some(addr) => {
                proxy::http::serve(Arc::clone(&guard), config, addr, token, max_sessions, stop)
                    .await
            }
            None => tokio::select! {
                r = proxy::serve_stdio(Arc::clone(&guard), config) => r,
                _ = stop.cancelled() => Ok(()),
            },
        };
        // Outcome records are written after the answers: let the last ones land.
        guard.drain(std::time::Duration::from_secs(5)).await;
        served
    });
    proxy::upstream::kill_children();
    // stdin reads cannot be cancelled: do not wait for them.
    rt.shutdown_background();
    result.map(|()| 0)
}

async fn stop_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    stop.cancel();
}
