//! Upstream MCP servers (stdio children or Streamable HTTP endpoints), seen from the gateway as
//! their client. A [`Pool`] holds a bounded number of connections per server, each shared by
//! many downstream sessions; a supervisor task keeps each running (one restart serves all its
//! sessions, with backoff); [`Relay`] carries what the upstream sends (notifications,
//! server→client requests) to the session it belongs to.

use super::passthrough::{self, Hub, Link};
use rmcp::model::{ClientCapabilities, ClientRequest, Implementation, ServerResult};
use rmcp::service::{Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientCacheConfig, ErrorData as McpError, ServiceError, ServiceExt};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Default per-request timeout for upstream requests.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a request waits for a restarting upstream to come back.
const RECONNECT_WAIT: Duration = Duration::from_secs(10);
/// Backoff between restarts: doubles from the first to the last value.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));

/// How to reach an upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A child process speaking MCP on stdio.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Extra environment variables for the child.
        env: BTreeMap<String, String>,
    },
    /// A Streamable HTTP endpoint.
    Http {
        url: String,
        /// Bearer token the gateway sends (its own credential, never the agent's).
        bearer: Option<String>,
        /// PEM file of extra trusted CA certificates (else `SSL_CERT_FILE`; see [`crate::net`]).
        ca_cert: Option<std::path::PathBuf>,
    },
}

/// An upstream's name, endpoint and timeout.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub endpoint: Endpoint,
    pub timeout: Duration,
}

impl Spec {
    /// How the server is started or reached, as recorded with its pins: the command line or
    /// the URL.
    pub fn identity(&self) -> String {
        match &self.endpoint {
            Endpoint::Stdio { command, args, .. } => std::iter::once(command)
                .chain(args)
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
            Endpoint::Http { url, .. } => url.clone(),
        }
    }
}

/// One supervised upstream connection, shared by the sessions leased to it ([`Pool`]).
#[derive(Debug)]
struct Shared {
    hub: Arc<Hub>,
    peer: watch::Receiver<Option<Peer<RoleClient>>>,
    stop: CancellationToken,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Shared {
    /// Connects (the first attempt's error is returned when `required`), then keeps the
    /// connection alive in the background until the last session using it ends.
    async fn start(
        spec: &Spec,
        hub: Arc<Hub>,
        client: Implementation,
        required: bool,
    ) -> anyhow::Result<Shared> {
        let (tx, rx) = watch::channel(None);
        let stop = CancellationToken::new();
        let first = match connect(spec, &hub, &client).await {
            Ok(svc) => Some(svc),
            Err(e) if required => return Err(e),
            Err(e) => {
                tracing::error!("upstream {}: {e:#}; retrying in the background", spec.name);
                None
            }
        };
        tokio::spawn(supervise(
            spec.clone(),
            Arc::clone(&hub),
            client,
            first,
            tx,
            stop.clone(),
        ));
        Ok(Shared {
            hub,
            peer: rx,
            stop,
        })
    }
}

/// The upstream connections of every session: per configured server at most `max`
/// connections, each shared by the sessions leased to it. A connection stops when its last
/// session ends.
#[derive(Debug)]
pub struct Pool {
    max: usize,
    /// Per server (in configuration order): its connections.
    servers: Vec<tokio::sync::Mutex<Vec<Weak<Shared>>>>,
}

impl Pool {
    /// A pool for `servers` configured upstreams, at most `max` connections each.
    pub fn new(servers: usize, max: usize) -> Pool {
        Pool {
            max: max.max(1),
            servers: (0..servers).map(|_| Default::default()).collect(),
        }
    }

    /// A connection to configured server `index` (`spec`) for a new session: a new one while
    /// fewer than `max` are open, else the least used one whose declared capabilities match the
    /// session's (else the least used one). When a new one cannot be started and the server is
    /// `required`, the error is returned.
    #[allow(clippy::too_many_arguments)]
    pub async fn lease(
        &self,
        index: usize,
        spec: &Spec,
        downstream: Peer<RoleServer>,
        caps: ClientCapabilities,
        client: Implementation,
        required: bool,
        guard: Arc<super::guard::Guard>,
    ) -> anyhow::Result<Upstream> {
        let link = Arc::new(Link::new(
            downstream,
            caps.clone(),
            Some(client.name.clone()),
        ));
        let mut held = self.servers[index].lock().await;
        let live: Vec<Arc<Shared>> = held.iter().filter_map(Weak::upgrade).collect();
        held.retain(|w| w.strong_count() > 0);
        let wanted = passthrough::upstream_caps(&caps);
        let same = |s: &&Arc<Shared>| {
            serde_json::to_value(s.hub.declared()).ok() == serde_json::to_value(&wanted).ok()
        };
        let least = |it: Vec<&Arc<Shared>>| it.into_iter().min_by_key(|s| s.hub.load()).cloned();
        let shared = if live.len() < self.max {
            None
        } else {
            least(live.iter().filter(same).collect()).or_else(|| least(live.iter().collect()))
        };
        let shared = match shared {
            Some(s) => {
                s.hub.join(&link);
                s
            }
            None => {
                let hub = Arc::new(Hub::new(spec.name.clone(), &caps, guard));
                // Joined before connecting: requests the server sends during initialization
                // reach this session.
                hub.join(&link);
                let s = Arc::new(Shared::start(spec, hub, client, required).await?);
                held.push(Arc::downgrade(&s));
                s
            }
        };
        Ok(Upstream {
            spec: spec.clone(),
            shared,
            link,
        })
    }
}

/// A session's use of an upstream connection (shared with other sessions).
#[derive(Debug)]
pub struct Upstream {
    pub spec: Spec,
    shared: Arc<Shared>,
    link: Arc<Link>,
}

impl Drop for Upstream {
    /// The session ended: the subscriptions only it held are ended upstream too.
    #[allow(deprecated)] // resources/unsubscribe is legacy in 2026-07-28; still served.
    fn drop(&mut self) {
        let orphaned: Vec<String> = self
            .link
            .subscriptions()
            .into_iter()
            .filter(|uri| !self.shared.hub.others_subscribed(&self.link, uri))
            .collect();
        let peer = self.shared.peer.borrow().clone();
        if let (false, Some(peer), Ok(rt)) = (
            orphaned.is_empty(),
            peer,
            tokio::runtime::Handle::try_current(),
        ) {
            rt.spawn(async move {
                for uri in orphaned {
                    let req =
                        ClientRequest::UnsubscribeRequest(rmcp::model::UnsubscribeRequest::new(
                            rmcp::model::UnsubscribeRequestParams::new(uri),
                        ));
                    let _ = peer.send_request(req).await;
                }
            });
        }
    }
}

impl Upstream {
    /// The current tool-list generation of the connection (changes on list_changed and
    /// restarts).
    pub fn tools_epoch(&self) -> u64 {
        self.shared.hub.tools_epoch()
    }

    /// Notes that this session subscribed to `uri` (`false`: unsubscribed).
    pub fn set_subscribed(&self, uri: &str, on: bool) {
        self.link.set_subscribed(uri, on);
    }

    /// Whether another session sharing the connection is subscribed to `uri`.
    pub fn others_subscribed(&self, uri: &str) -> bool {
        self.shared.hub.others_subscribed(&self.link, uri)
    }

    /// The live connection, waiting briefly for a restart in progress.
    pub async fn peer(&self) -> Result<Peer<RoleClient>, McpError> {
        let mut rx = self.shared.peer.clone();
        let waited = tokio::time::timeout(RECONNECT_WAIT, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(p)) => Ok(p.clone().expect("waited for Some")),
            _ => Err(McpError::internal_error(
                format!("upstream server `{}` is not running", self.spec.name),
                None,
            )),
        }
    }

    /// What the upstream said about itself at initialization.
    pub async fn info(&self) -> Option<Arc<rmcp::model::ServerPeerInfo>> {
        self.peer().await.ok().and_then(|p| p.peer_info())
    }

    /// The upstream's capabilities if it is connected right now.
    pub fn caps_now(&self) -> Option<rmcp::model::ServerCapabilities> {
        let peer = self.shared.peer.borrow();
        let info = peer.as_ref()?.peer_info()?;
        Some(info.capabilities.clone())
    }

    /// Sends one request on behalf of the downstream request `ctx`: the upstream sees the
    /// connection's own request id and progress token (mapped back to this session), gets
    /// the request's `_meta` and its cancellation, and the timeout applies.
    pub async fn request(
        &self,
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ServiceError> {
        let peer = self.peer().await.map_err(ServiceError::McpError)?;
        let options = PeerRequestOptions::with_timeout(self.spec.timeout)
            .reset_timeout_on_progress()
            .with_max_total_timeout(self.spec.timeout * 10)
            .with_meta(passthrough::forwarded_meta(&ctx.meta));
        let handle = peer.send_request_with_option(req, options).await?;
        let id = handle.id.clone();
        let _route = self.shared.hub.route(
            &self.link,
            id.clone(),
            handle.progress_token.clone(),
            ctx.meta.get_progress_token(),
            ctx.id.clone(),
        );
        tokio::select! {
            r = handle.await_response() => r,
            _ = ctx.ct.cancelled() => {
                let _ = peer
                    .notify_cancelled(passthrough::cancelled(id, "cancelled by the client"))
                    .await;
                Err(ServiceError::Cancelled { reason: Some("cancelled by the client".into()) })
            }
        }
    }

    /// Sends a request that belongs to no downstream request (listing for aggregation).
    pub async fn request_plain(&self, req: ClientRequest) -> Result<ServerResult, ServiceError> {
        let peer = self.peer().await.map_err(ServiceError::McpError)?;
        let options = PeerRequestOptions::with_timeout(self.spec.timeout);
        peer.send_request_with_option(req, options)
            .await?
            .await_response()
            .await
    }
}

/// Opens one connection: spawns the child (own process group, minimal environment) or opens
/// the HTTP transport, then runs the MCP initialization with the agent's capabilities.
async fn connect(
    spec: &Spec,
    hub: &Arc<Hub>,
    client: &Implementation,
) -> anyhow::Result<rmcp::service::RunningService<RoleClient, Relay>> {
    let relay = Relay::new(Arc::clone(hub), client.clone());
    let svc = match &spec.endpoint {
        Endpoint::Stdio { command, args, env } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear();
            for key in PASSED_ENV {
                if let Some(v) = std::env::var_os(key) {
                    cmd.env(key, v);
                }
            }
            cmd.envs(env);
            let mut wrapped = process_wrap::tokio::CommandWrap::from(cmd);
            wrapped.wrap(process_wrap::tokio::ProcessGroup::leader());
            let transport = TokioChildProcess::new(wrapped)
                .map_err(|e| anyhow::anyhow!("cannot start `{command}`: {e}"))?;
            if let Some(pid) = transport.id() {
                lock_children().push(pid as i32);
            }
            relay.serve(transport).await.map_err(|e| {
                anyhow::anyhow!("`{command}` did not complete MCP initialization: {e}")
            })?
        }
        Endpoint::Http {
            url,
            bearer,
            ca_cert,
        } => {
            let mut config =
                rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                    url.as_str(),
                );
            if let Some(token) = bearer {
                config = config.auth_header(token.clone());
            }
            let http = crate::net::client(ca_cert.as_deref())?;
            let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
            match relay.serve(transport).await {
                Ok(svc) => svc,
                // The transport's error drops its cause: ask the same client again for it
                // (a certificate not trusted, a refused connection).
                Err(e) => match crate::net::probe(&http, url).await {
                    Some(cause) => anyhow::bail!("cannot reach {url}: {cause}"),
                    None => anyhow::bail!("{url} did not complete MCP initialization: {e}"),
                },
            }
        }
    };
    svc.peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    Ok(svc)
}

static CHILDREN: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn lock_children() -> std::sync::MutexGuard<'static, Vec<i32>> {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends SIGTERM to the process group of every upstream child started by this process, so that
/// no upstream (or its own children) outlives the gateway. Called on exit.
pub fn kill_children() {
    for pgid in lock_children().drain(..) {
        // SAFETY: killpg has no memory-safety preconditions; each id is a group we created.
        unsafe {
            libc::killpg(pgid, libc::SIGTERM);
        }
    }
}

/// Environment variables a stdio upstream inherits; everything else must be configured.
const PASSED_ENV: [&str; 9] = [
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TMPDIR", "SHELL",
];

async fn supervise(
    spec: Spec,
    hub: Arc<Hub>,
    client: Implementation,
    mut current: Option<rmcp::service::RunningService<RoleClient, Relay>>,
    tx: watch::Sender<Option<Peer<RoleClient>>>,
    stop: CancellationToken,
) {
    let mut backoff = BACKOFF.0;
    let mut restarted = false;
    loop {
        if let Some(svc) = current.take() {
            let _ = tx.send(Some(svc.peer().clone()));
            if restarted {
                hub.upstream_restarted().await;
            }
            backoff = BACKOFF.0;
            let token = svc.cancellation_token();
            let waiting = svc.waiting();
            tokio::pin!(waiting);
            tokio::select! {
                r = &mut waiting => {
                    let _ = tx.send(None);
                    if stop.is_cancelled() {
                        return;
                    }
                    tracing::error!("upstream {} stopped ({r:?}); restarting in {backoff:?}", spec.name);
                }
                _ = stop.cancelled() => {
                    let _ = tx.send(None);
                    token.cancel();
                    let _ = tokio::time::timeout(Duration::from_secs(5), waiting).await;
                    return;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(BACKOFF.1);
        match connect(&spec, &hub, &client).await {
            Ok(svc) => {
                restarted = true;
                current = Some(svc);
            }
            Err(e) => tracing::error!("upstream {}: {e:#}; next try in {backoff:?}", spec.name),
        }
    }
}

pub use passthrough::Relay;
