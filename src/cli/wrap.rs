//! `wrap`: a transparent guard in front of one upstream MCP server.

use super::Ctx;
use super::serve::{Serving, run_server};
use crate::proxy::aggregate::{check_name, derive_name};
use crate::proxy::server::Config;
use crate::proxy::upstream::{DEFAULT_TIMEOUT, Endpoint, Spec};
use clap::Args;
use std::time::Duration;

/// Options of `wrap`.
#[derive(Debug, Args)]
pub struct WrapArgs {
    /// Name of the upstream server (used in the ledger and the policy's MCP tool names).
    #[arg(long)]
    pub name: Option<String>,
    /// Streamable HTTP upstream instead of a stdio child.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Environment variable holding a bearer token for the --url upstream.
    #[arg(long, value_name = "VAR", requires = "url")]
    pub bearer_token_env: Option<String>,
    /// PEM file of a private CA that signed the --url server's certificate (default:
    /// SSL_CERT_FILE; Mozilla's roots are always trusted).
    #[arg(long, value_name = "FILE", requires = "url")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Per-request timeout for the upstream, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT.as_secs())]
    pub timeout: u64,
    #[command(flatten)]
    pub serving: Serving,
    /// The upstream command and its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs the wrapper.
pub fn run(ctx: &Ctx, args: WrapArgs) -> anyhow::Result<i32> {
    let endpoint = match (&args.url, args.command.is_empty()) {
        (Some(url), true) => {
            let bearer = match &args.bearer_token_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("environment variable {var} (--bearer-token-env) is not set")
                })?),
                None => None,
            };
            Endpoint::Http {
                url: url.clone(),
                bearer,
                ca_cert: args.ca_cert.clone(),
            }
        }
        (None, false) => Endpoint::Stdio {
            command: args.command[0].clone(),
            args: args.command[1..].to_vec(),
            env: Default::default(),
        },
        (Some(_), false) => anyhow::bail!("give either --url URL or -- CMD ARGS…, not both"),
        (None, true) => anyhow::bail!("nothing to wrap: give -- CMD ARGS… or --url URL"),
    };
    let name = match args.name {
        Some(n) => n,
        None => derive_name(&args.command, args.url.as_deref()),
    };
    check_name(&name)?;
    if args.timeout == 0 {
        anyhow::bail!("--timeout must be at least 1 second");
    }
    let config = Config {
        builtins: false,
        upstreams: vec![Spec {
            name,
            endpoint,
            timeout: Duration::from_secs(args.timeout),
        }],
        prefixed: false,
    };
    run_server(ctx, config, args.serving)
}
