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
    /// PEM file of a private CA for the configured `url` servers without a `ca_cert` of their
    /// own (default: SSL_CERT_FILE; Mozilla's roots are always trusted).
    #[arg(long, value_name = "FILE", requires = "config")]
    pub ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub serving: Serving,
}

/// How the MCP server is reached and when its decision records are durable (shared by `serve`
/// and `wrap`).
#[derive(Debug, Default, Clone, Args)]
pub struct Serving {
    /// Serve Streamable HTTP at /mcp on ADDR instead of stdio: `HOST:PORT` (a bare port is
    /// loopback), clients sending the bearer token; or `unix:PATH`, a socket only this user
    /// can open, without a token.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// File holding the bearer token HTTP clients must send (mode 0600). Default:
    /// PATCHWORK_HTTP_TOKEN, else $PATCHWORK_HOME/keys/http.token, generated on first use.
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// No longer accepted: a token on the command line is visible to every user in `ps`.
    #[arg(long, value_name = "TOKEN", hide = true)]
    pub auth_token: Option<String>,
    /// A host name (or address) remote HTTP clients use to reach the gateway; repeatable.
    /// Loopback names and the bound address are always allowed.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Most HTTP sessions served at once; default 64. An idle session ends after 5 minutes, or when its client sends DELETE.
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<usize>,
    /// Most processes (or connections) per upstream server over HTTP, shared by all sessions;
    /// default 1. More spread the sessions' calls, and their server-to-client requests, over
    /// more upstreams (see docs/mcp.md).
    #[arg(long, value_name = "N")]
    pub max_upstreams: Option<usize>,
    /// Sync each decision record to disk before the call runs or is forwarded. By default the
    /// sync runs while the call runs and the answer waits for it (see docs/mcp.md).
    #[arg(long)]
    pub sync_before_forward: bool,
}

/// Runs the MCP server.
pub fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<i32> {
    let (builtins, upstreams, witness) = match &args.config {
        Some(path) => {
            let mut loaded = aggregate::load(path)?;
            for spec in &mut loaded.upstreams {
                if let proxy::upstream::Endpoint::Http { ca_cert, .. } = &mut spec.endpoint
                    && ca_cert.is_none()
                {
                    ca_cert.clone_from(&args.ca_cert);
                }
            }
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
        auth_token_file,
        auth_token,
        allow_hosts,
        max_sessions,
        max_upstreams,
        sync_before_forward,
    } = serving;
    if auth_token.is_some() {
        anyhow::bail!(
            "--auth-token is no longer accepted: a token on the command line is visible to \
             every user in `ps`. Put it in a file only you can read and pass \
             --auth-token-file FILE, or set {}; without either, the gateway uses \
             $PATCHWORK_HOME/keys/http.token (generated on first use)",
            proxy::http_token::ENV_TOKEN
        );
    }
    if std::env::var_os("PATCHWORK_MCP_TOKEN").is_some() {
        anyhow::bail!(
            "PATCHWORK_MCP_TOKEN is no longer read: rename it to {}",
            proxy::http_token::ENV_TOKEN
        );
    }
    let max_sessions = max_sessions.unwrap_or(64);
    if max_sessions == 0 {
        anyhow::bail!("--max-sessions must be at least 1");
    }
    if max_upstreams == Some(0) {
        anyhow::bail!("--max-upstreams must be at least 1");
    }
    let witness = crate::ship::witness_setting(witness)?;
    for name in &allow_hosts {
        proxy::http::check_host_name(name)?;
    }
    let door = match http.as_deref().map(proxy::http::parse_bind).transpose()? {
        Some(bind) => Some(proxy::http::Door {
            // A socket admits this user only, by its mode: no token to make or read.
            token: match bind {
                proxy::http::Bind::Tcp(_) => Some(proxy::http_token::resolve(
                    &ctx.home,
                    auth_token_file.as_deref(),
                )?),
                proxy::http::Bind::Unix(_) => None,
            },
            bind,
            allow_hosts,
            max_sessions,
            max_upstreams: max_upstreams.unwrap_or(1),
        }),
        None if auth_token_file.is_some() || !allow_hosts.is_empty() => {
            anyhow::bail!("--auth-token-file and --allow-host need --http ADDR")
        }
        None if max_upstreams.is_some() => {
            anyhow::bail!("--max-upstreams needs --http ADDR (over stdio there is one session)")
        }
        None => None,
    };
    // One stdio session is a sequence of short steps (read, decide, forward, answer): one
    // thread runs them without cross-thread hand-offs. HTTP serves many sessions at once.
    let rt = match door {
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
        let served = match door {
            Some(door) => proxy::http::serve(Arc::clone(&guard), config, door, stop).await,
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
