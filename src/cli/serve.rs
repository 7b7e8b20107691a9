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
    /// Sync each decision record to disk before the call runs or is forwarded. By default the
    /// sync runs while the call runs and the answer waits for it (see docs/mcp.md).
    #[arg(long)]
    pub sync_before_forward: bool,
}

/// Runs the MCP server.
pub fn run(ctx: &Ctx, args: ServeArgs) -> anyhow::Result<i32> {
    let (builtins, upstreams) = match &args.config {
        Some(path) => {
            let mut loaded = aggregate::load(path)?;
            for spec in &mut loaded.upstreams {
                if let proxy::upstream::Endpoint::Http { ca_cert, .. } = &mut spec.endpoint
                    && ca_cert.is_none()
                {
                    ca_cert.clone_from(&args.ca_cert);
                }
            }
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
        auth_token_file,
        auth_token,
        allow_hosts,
        max_sessions,
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
        }),
        None if auth_token_file.is_some() || !allow_hosts.is_empty() => {
            anyhow::bail!("--auth-token-file and --allow-host need --http ADDR")
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
        let served = match door {
            Some(door) => proxy::http::serve(Arc::clone(&guard), config, door, stop).await,
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
