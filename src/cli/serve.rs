//! `serve` (and no subcommand): the MCP server with builtin tools and configured upstreams.

use super::Ctx;
use crate::ledger::checkpoint::AutoPolicy;
use crate::proxy::{self, aggregate, guard::Guard, server::Config};
use crate::ship::anchor::{Anchor, TICK};
use clap::Args;
use std::path::{Path, PathBuf};
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
    let (builtins, upstreams, witness) = match &args.config {
        Some(path) => {
            let loaded = aggregate::load(path)?;
            (loaded.builtins, loaded.upstreams, loaded.witness)
        }
        None => (true, Vec::new(), None),
    };
    let config = Config {
        builtins,
        upstreams,
        prefixed: true,
    };
    run_server(ctx, config, args.serving, witness.as_deref())
}

/// Shared by `serve` and `wrap`: opens the Gate, serves stdio or HTTP, makes the automatic
/// checkpoints (sent to `witness`, the config's `witness:`, unless `PATCHWORK_WITNESS` names
/// another), cleans up children.
pub(crate) fn run_server(
    ctx: &Ctx,
    config: Config,
    serving: Serving,
    witness: Option<&Path>,
) -> anyhow::Result<i32> {
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
    let witness = crate::ship::witness_setting(witness)?;
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
        let anchor = anchor(ctx, witness);
        if let Some(a) = &anchor {
            tokio::spawn(anchor_ticks(Arc::clone(a)));
        }
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
        if let Some(a) = anchor {
            let _ = tokio::task::spawn_blocking(move || a.check(false)).await;
        }
        served
    });
    proxy::upstream::kill_children();
    // stdin reads cannot be cancelled: do not wait for them.
    rt.shutdown_background();
    result.map(|()| 0)
}

/// The door's automatic checkpoints (none when the ledger cannot be opened: the Gate then
/// refuses every call and says why).
fn anchor(ctx: &Ctx, witness: Option<PathBuf>) -> Option<Arc<Anchor>> {
    let ledger = crate::ledger::Ledger::open(&ctx.home.ledger_dir()).ok()?;
    Some(Arc::new(Anchor::new(
        ledger,
        &ctx.home.keys_dir(),
        AutoPolicy::from_env(),
        witness,
    )))
}

/// Checks every [`TICK`] whether a checkpoint is due, off the runtime's threads; sends the
/// witness backlog at the same time.
async fn anchor_ticks(anchor: Arc<Anchor>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let a = Arc::clone(&anchor);
        let _ = tokio::task::spawn_blocking(move || a.check(true)).await;
    }
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
