//! `gateway.yaml`: the upstream servers `serve --config` aggregates, and the naming rules for
//! upstreams (`<server>__<tool>`).

use super::upstream::{DEFAULT_TIMEOUT, Endpoint, Spec};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Offer the builtin file and shell tools (default true).
    #[serde(default = "yes")]
    pub builtins: bool,
    /// Default per-request timeout for upstreams, in seconds (default 120).
    pub request_timeout_secs: Option<u64>,
    /// Upstream servers by name.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerEntry>,
}

fn yes() -> bool {
    true
}

/// One upstream in `gateway.yaml`: either `command` (+ `args`, `env`) or `url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub url: Option<String>,
    /// Name of an environment variable holding the bearer token for `url`.
    pub bearer_token_env: Option<String>,
    /// PEM file of a private CA that signed the `url` server's certificate.
    pub ca_cert: Option<std::path::PathBuf>,
    pub timeout_secs: Option<u64>,
}

/// What `serve --config` runs.
#[derive(Debug)]
pub struct Loaded {
    pub builtins: bool,
    pub upstreams: Vec<Spec>,
}

/// Checks a server name: 1–32 of `[A-Za-z0-9_-]`, without `__` (the separator).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.contains("__");
    if !ok {
        bail!(
            "server name `{name}` must be 1-32 characters of letters, digits, `_` or `-`, \
             without `__`"
        );
    }
    Ok(())
}

/// Loads and validates `gateway.yaml`.
pub fn load(path: &Path) -> Result<Loaded> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("invalid gateway config {}", path.display()))
}

/// Parses and validates the text of a `gateway.yaml`.
pub fn parse(text: &str) -> Result<Loaded> {
    let file: GatewayFile = serde_yaml_ng::from_str(text)?;
    let default_timeout = file
        .request_timeout_secs
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let mut upstreams = Vec::new();
    for (name, entry) in file.servers {
        check_name(&name)?;
        let endpoint = match (entry.command, entry.url) {
            (Some(command), None) => {
                if entry.bearer_token_env.is_some() || entry.ca_cert.is_some() {
                    bail!(
                        "server `{name}`: bearer_token_env and ca_cert only apply to url servers"
                    );
                }
                Endpoint::Stdio {
                    command,
                    args: entry.args,
                    env: entry.env,
                }
            }
            (None, Some(url)) => {
                if !entry.args.is_empty() || !entry.env.is_empty() {
                    bail!("server `{name}`: args and env only apply to command servers");
                }
                let bearer = match entry.bearer_token_env {
                    Some(var) => Some(std::env::var(&var).with_context(|| {
                        format!("server `{name}`: environment variable {var} is not set")
                    })?),
                    None => None,
                };
                Endpoint::Http {
                    url,
                    bearer,
                    ca_cert: entry.ca_cert,
                }
            }
            _ => bail!("server `{name}` needs exactly one of `command` or `url`"),
        };
        let timeout = entry
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(default_timeout);
        if timeout.is_zero() {
            bail!("server `{name}`: timeout_secs must be at least 1");
        }
        upstreams.push(Spec {
            name,
            endpoint,
            timeout,
        });
    }
    Ok(Loaded {
        builtins: file.builtins,
        upstreams,
    })
}

/// A name for a wrapped upstream when `--name` is not given: the package or script the
/// command runs (`npx -y @scope/server-x` → `server-x`), or the URL's host.
pub fn derive_name(command: &[String], url: Option<&str>) -> String {
    const LAUNCHERS: [&str; 10] = [
        "node", "npx", "python", "python3", "uvx", "uv", "deno", "bun", "bunx", "pipx",
    ];
    let raw = if let Some(url) = url {
        url.split("://")
            .nth(1)
            .unwrap_or(url)
            .split(['/', ':'])
            .next()
            .unwrap_or("upstream")
            .to_string()
    } else {
        let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        let first = command.first().map(|c| base(c)).unwrap_or_default();
        if LAUNCHERS.contains(&first.as_str()) {
            command[1..]
                .iter()
                .find(|a| !a.starts_with('-') && *a != "run")
                .map(|a| base(a))
                .unwrap_or(first)
        } else {
            first
        }
    };
    let stem = raw.split('@').next().unwrap_or(&raw);
    let stem = stem
        .strip_suffix(".js")
        .or_else(|| stem.strip_suffix(".mjs"))
        .or_else(|| stem.strip_suffix(".py"))
        .unwrap_or(stem);
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "upstream".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_rejects_bad_entries() {
        let ok = parse(
            "servers:\n  fs:\n    command: npx\n    args: [-y, pkg]\n  web:\n    url: http://127.0.0.1:9/mcp\n    timeout_secs: 5\n",
        )
        .unwrap();
        assert!(ok.builtins);
        assert_eq!(ok.upstreams.len(), 2);
        assert_eq!(ok.upstreams[1].timeout, Duration::from_secs(5));
        assert!(parse("servers:\n  a__b:\n    command: x\n").is_err());
        assert!(parse("servers:\n  a:\n    command: x\n    url: http://h\n").is_err());
        assert!(parse("servers:\n  a: {}\n").is_err());
        assert!(parse("nonsense: 1\n").is_err());
    }

    #[test]
    fn the_shipped_example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/gateway.example.yaml");
        let loaded = load(&path).unwrap();
        assert!(loaded.builtins);
        assert_eq!(loaded.upstreams[0].name, "fs");
    }

    #[test]
    fn derives_names_from_commands_and_urls() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            derive_name(
                &v("npx -y @modelcontextprotocol/server-filesystem /tmp"),
                None
            ),
            "server-filesystem"
        );
        assert_eq!(
            derive_name(&v("node /x/everything-server.mjs --stdio"), None),
            "everything-server"
        );
        assert_eq!(derive_name(&v("/usr/bin/my_server"), None), "my-server");
        assert_eq!(
            derive_name(&[], Some("http://127.0.0.1:8080/mcp")),
            "127-0-0-1"
        );
    }
}
