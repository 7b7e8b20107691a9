//! Streamable HTTP front: `/mcp` on ADDR (loopback by default), Host and Origin validation
//! against DNS rebinding, sessions, and a bearer token required off loopback.

use super::guard::Guard;
use super::server::{Config, Gateway};
use anyhow::{Context, Result, bail};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    full.parse()
        .with_context(|| format!("`{addr}` is not an address like 127.0.0.1:8080"))
}

/// Checks the rule that only loopback may go without a bearer token.
pub fn check_exposure(addr: &SocketAddr, token: Option<&str>) -> Result<()> {
    if !addr.ip().is_loopback() && token.is_none_or(str::is_empty) {
        bail!(
            "{addr} is not a loopback address: serving MCP there requires --auth-token TOKEN \
             (clients then send `Authorization: Bearer TOKEN`)"
        );
    }
    Ok(())
}

/// Serves the gateway over Streamable HTTP at `/mcp` until `stop` fires.
pub async fn serve(
    guard: Arc<Guard>,
    config: Config,
    addr: SocketAddr,
    token: Option<String>,
    max_sessions: usize,
    stop: CancellationToken,
) -> Result<()> {
    check_exposure(&addr, token.as_deref())?;
    let config = Arc::new(config);
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "[::1]".to_string(),
    ];
    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    let origins = ["http", "https"].into_iter().flat_map(|scheme| {
        ["localhost", "127.0.0.1", "[::1]"]
            .into_iter()
            .map(move |h| format!("{scheme}://{h}:*"))
    });
    let http_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_cancellation_token(stop.child_token());
    let slots = Slots::new(max_sessions);
    let service = StreamableHttpService::new(
        move || {
            let slot = slots.take()?;
            Ok(Gateway::new(Arc::clone(&guard), Arc::clone(&config)).holding(slot))
        },
        LocalSessionManager::default().into(),
        http_config,
    );
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        let digest: Arc<[u8]> = Sha256::digest(token.as_bytes()).to_vec().into();
        router = router.layer(axum::middleware::from_fn_with_state(digest, bearer));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("MCP over Streamable HTTP at http://{addr}/mcp");
    eprintln!(
        "patchwork-gateway: MCP at http://{}/mcp",
        listener.local_addr()?
    );
    accept(listener, router, stop).await;
    Ok(())
}

/// Most connections open at once; one more is closed at once (and logged).
pub const MAX_CONNECTIONS: usize = 4096;
/// How long a client may take to send a request's headers (each request, idle keep-alive
/// included) before its connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves connections until `stop` fires: each on its own task, at most [`MAX_CONNECTIONS`]
/// at once, each request's headers within [`HEADER_TIMEOUT`], so clients that open
/// connections and never finish a request cannot lock others out.
async fn accept(listener: tokio::net::TcpListener, router: axum::Router, stop: CancellationToken) {
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
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
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
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
        });
    }
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

/// Rejects requests without the right bearer token (compared as SHA-256 digests, so the
/// comparison time does not depend on where the strings differ).
async fn bearer(State(digest): State<Arc<[u8]>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Sha256::digest(t.trim().as_bytes()).to_vec());
    let ok = given.is_some_and(|g| {
        g.iter()
            .zip(digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    });
    if ok {
        return next.run(req).await;
    }
    let mut resp = (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_loopback_and_exposure_needs_a_token() {
        assert_eq!(parse_addr("8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(parse_addr(":9").unwrap().to_string(), "127.0.0.1:9");
        assert_eq!(
            parse_addr("localhost:7").unwrap().to_string(),
            "127.0.0.1:7"
        );
        assert!(parse_addr("nonsense").is_err());
        let public = parse_addr("0.0.0.0:8080").unwrap();
        let err = check_exposure(&public, None).unwrap_err().to_string();
        assert!(err.contains("--auth-token"), "{err}");
        check_exposure(&public, Some("t")).unwrap();
        check_exposure(&parse_addr("8080").unwrap(), None).unwrap();
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
