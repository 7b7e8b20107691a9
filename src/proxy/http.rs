//! Streamable HTTP front: `/mcp` on a TCP address (loopback by default) or a Unix-domain
//! socket. Every TCP request needs the bearer token ([`super::http_token`]); Host and Origin
//! are validated against DNS rebinding; the socket admits only the gateway's own user.

use super::guard::Guard;
use super::http_token::{Source, Token};
use super::server::{Config, Gateway};
use super::upstream::Pool;
use anyhow::{Context, Result, bail};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where the HTTP door listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// A TCP address; every request needs the bearer token.
    Tcp(SocketAddr),
    /// A Unix-domain socket (mode 0600, peers of another user are refused); no token.
    Unix(PathBuf),
}

/// Parses `--http`: `unix:PATH`, `HOST:PORT`, `:PORT` or `PORT` (a bare port binds 127.0.0.1).
pub fn parse_bind(addr: &str) -> Result<Bind> {
    match addr.trim().strip_prefix("unix:") {
        Some("") => bail!("`unix:` needs a socket path, like unix:/run/user/1000/patchwork.sock"),
        Some(path) => Ok(Bind::Unix(PathBuf::from(path))),
        None => parse_addr(addr).map(Bind::Tcp),
    }
}

/// Parses ADDR (`HOST:PORT`, `:PORT` or `PORT`); a bare port binds 127.0.0.1.
pub fn parse_addr(addr: &str) -> Result<SocketAddr> {
    let addr = addr.trim();
    let full = if let Ok(port) = addr.trim_start_matches(':').parse::<u16>() {
        format!("127.0.0.1:{port}")
    } else if let Some(rest) = addr.strip_prefix("localhost:") {
        format!("127.0.0.1:{rest}")
    } else {
        addr.to_string()
    };
    full.parse().with_context(|| {
        format!("`{addr}` is not an address like 127.0.0.1:8080 (or unix:/path/to.sock)")
    })
}

/// Checks a name given to `--allow-host`: a DNS name or an IP address, without port or scheme.
pub fn check_host_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && (name.parse::<std::net::IpAddr>().is_ok()
            || name.split('.').all(|l| {
                !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    if !ok {
        bail!("--allow-host `{name}` is not a host name or IP address (no port, no scheme)");
    }
    Ok(())
}

/// How the HTTP door is reached and who may use it.
#[derive(Debug, Clone)]
pub struct Door {
    pub bind: Bind,
    /// The bearer token every TCP request must carry (none on a Unix socket).
    pub token: Option<Token>,
    /// Host names (besides loopback names and the bound address) remote clients use.
    pub allow_hosts: Vec<String>,
    pub max_sessions: usize,
    /// Most connections to each upstream server, shared by all sessions.
    pub max_upstreams: usize,
}

/// Serves the gateway over Streamable HTTP at `/mcp` until `stop` fires.
pub async fn serve(
    guard: Arc<Guard>,
    config: Config,
    door: Door,
    stop: CancellationToken,
) -> Result<()> {
    let config = Arc::new(config);
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "[::1]".to_string(),
    ];
    if let Bind::Tcp(addr) = &door.bind
        && !addr.ip().is_loopback()
        && !addr.ip().is_unspecified()
    {
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(door.allow_hosts.iter().cloned());
    let mut origin_hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "[::1]".into()];
    origin_hosts.extend(door.allow_hosts.iter().cloned());
    let origins: Vec<String> = ["http", "https"]
        .into_iter()
        .flat_map(|scheme| {
            origin_hosts
                .iter()
                .map(move |h| format!("{scheme}://{h}:*"))
        })
        .collect();
    let http_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_cancellation_token(stop.child_token());
    let slots = Slots::new(door.max_sessions);
    let pool = Arc::new(Pool::new(config.upstreams.len(), door.max_upstreams));
    let service = StreamableHttpService::new(
        move || {
            let slot = slots.take()?;
            Ok(Gateway::new(Arc::clone(&guard), Arc::clone(&config))
                .sharing(Arc::clone(&pool))
                .holding(slot))
        },
        LocalSessionManager::default().into(),
        http_config,
    );
    // Layers run outside in: the token is checked before a body is read.
    let router = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(read_body));
    match &door.bind {
        Bind::Tcp(addr) => {
            let Some(token) = door.token.clone() else {
                bail!("serving MCP over TCP needs a bearer token");
            };
            let token = Arc::new(token);
            let router = router.layer(axum::middleware::from_fn_with_state(
                Arc::clone(&token),
                bearer,
            ));
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            tracing::info!("MCP over Streamable HTTP at http://{local}/mcp");
            eprintln!("patchwork-gateway: MCP at http://{local}/mcp");
            announce_token(&token, &door.allow_hosts, local);
            accept(Listener::Tcp(listener), router, stop).await;
        }
        Bind::Unix(path) => {
            // This user only: 0600 in a directory only they can write, peers' uid checked;
            // the file goes when the listener does.
            let listener = crate::unix_socket::bind(path)?;
            eprintln!(
                "patchwork-gateway: MCP at unix:{} (no token: this user only)",
                path.display()
            );
            accept(Listener::Unix(listener), router, stop).await;
        }
    }
    Ok(())
}

/// Tells the user where the token is; the token itself only right after it was generated.
fn announce_token(token: &Token, allow_hosts: &[String], local: SocketAddr) {
    let host = match local.ip() {
        ip if ip.is_unspecified() => allow_hosts
            .first()
            .cloned()
            .unwrap_or_else(|| "HOST".into()),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let url = format!("http://{host}:{}/mcp", local.port());
    match &token.source {
        Source::Generated(path) => eprintln!(
            "patchwork-gateway: generated the HTTP bearer token {} (shown this once); add the \
             server to Claude Code with:\n  claude mcp add --transport http patchwork {url} \
             --header \"Authorization: Bearer {}\"",
            path.display(),
            token.secret()
        ),
        Source::Home(path) | Source::File(path) => eprintln!(
            "patchwork-gateway: clients must send `Authorization: Bearer <the token in {}>`",
            path.display()
        ),
        Source::Env => eprintln!(
            "patchwork-gateway: clients must send `Authorization: Bearer $PATCHWORK_HTTP_TOKEN`"
        ),
    }
}

enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(crate::unix_socket::OwnSocket),
}

/// One accepted connection, either kind.
enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Option<Conn>> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Some(Conn::Tcp(s)))
            }
            Listener::Unix(l) => Ok(l.accept().await?.map(Conn::Unix)),
        }
    }
}

/// Most connections open at once; one more is closed at once (and logged).
pub const MAX_CONNECTIONS: usize = 4096;
/// How long a client may take to send a request's headers (each request, idle keep-alive
/// included) before its connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves connections until `stop` fires: each on its own task, at most [`MAX_CONNECTIONS`]
/// at once, each request's headers within [`HEADER_TIMEOUT`], so clients that open
/// connections and never finish a request cannot lock others out.
async fn accept(listener: Listener, router: axum::Router, stop: CancellationToken) {
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let conn = tokio::select! {
            r = listener.accept() => match r {
                Ok(Some(conn)) => conn,
                Ok(None) => continue,
                Err(e) => {
                    // Out of descriptors and the like: back off briefly instead of spinning.
                    tracing::error!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::error!("{MAX_CONNECTIONS} connections are open: closing a new one at once");
            continue;
        };
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match conn {
                Conn::Tcp(s) => serve_conn(s, router, stop).await,
                Conn::Unix(s) => serve_conn(s, router, stop).await,
            }
        });
    }
}

/// Serves one connection's requests, each request's headers within [`HEADER_TIMEOUT`].
async fn serve_conn<S>(stream: S, router: axum::Router, stop: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(router);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// How long a client may take to send a request's body once its headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body read (an MCP message: a `write_file` of a large file fits).
pub const MAX_BODY: usize = 32 << 20;

/// Reads the whole request body within [`BODY_TIMEOUT`] and [`MAX_BODY`] before the MCP
/// service sees it, so a client that trickles or never finishes a body holds nothing for long.
async fn read_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || {
        closing(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than patchwork-gateway's cap of {} MiB, or was cut off",
                MAX_BODY >> 20
            ),
        )
    };
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, bytes.into())).await,
        Ok(Err(_)) => too_large(),
        Err(_) => closing(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        ),
    }
}

/// An error answer after which the connection is closed.
fn closing(status: StatusCode, text: String) -> Response {
    let mut resp = (status, text).into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The session cap: a new session takes a [`Slot`], and gives it back when it ends.
#[derive(Debug, Clone)]
pub struct Slots {
    used: Arc<AtomicUsize>,
    max: usize,
}

/// One session's place under the cap.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    /// At most `max` sessions at once.
    pub fn new(max: usize) -> Slots {
        Slots {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A slot, or an error naming the cap when every slot is taken.
    pub fn take(&self) -> std::io::Result<Slot> {
        let taken = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Slot(Arc::clone(&self.used))),
            Err(_) => Err(std::io::Error::other(format!(
                "patchwork-gateway serves at most {} MCP sessions at once (--max-sessions); \
                 close an idle session (DELETE /mcp) or try again later",
                self.max
            ))),
        }
    }
}

/// Rejects requests without the right bearer token ([`Token::matches`]: constant time).
async fn bearer(State(token): State<Arc<Token>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|t| token.matches(t.trim())) {
        return next.run(req).await;
    }
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token: send `Authorization: Bearer TOKEN` with the token \
         patchwork-gateway printed when it generated it ($PATCHWORK_HOME/keys/http.token), \
         or the one in --auth-token-file / PATCHWORK_HTTP_TOKEN",
    )
        .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_loopback_and_unix_sockets_are_named() {
        assert_eq!(parse_addr("8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(parse_addr(":9").unwrap().to_string(), "127.0.0.1:9");
        assert_eq!(
            parse_addr("localhost:7").unwrap().to_string(),
            "127.0.0.1:7"
        );
        assert!(parse_addr("nonsense").is_err());
        assert_eq!(
            parse_bind("unix:/tmp/x.sock").unwrap(),
            Bind::Unix("/tmp/x.sock".into())
        );
        assert!(parse_bind("unix:").is_err());
        check_host_name("mcp.example.com").unwrap();
        check_host_name("10.0.0.5").unwrap();
        assert!(check_host_name("mcp.example.com:8080").is_err());
        assert!(check_host_name("https://x").is_err());
        assert!(check_host_name("").is_err());
    }

    #[test]
    fn session_slots_are_capped_and_given_back() {
        let slots = Slots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        let err = slots.take().unwrap_err().to_string();
        assert!(err.contains("at most 2 MCP sessions"), "{err}");
        drop(a);
        slots.take().unwrap();
    }
}
