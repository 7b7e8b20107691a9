//! Faithful passthrough between downstream sessions and one upstream connection they share
//! ([`Hub`]): `_meta` copying, request-id and progress-token remapping (the upstream sees the
//! gateway's own ids), cancellation, list_changed (to every session), progress (to the session
//! that asked), logging, resource updates (to the sessions subscribed), and the server→client
//! requests (sampling, elicitation, roots), routed to the session they belong to when its agent
//! declared them.

#![allow(deprecated)] // sampling, roots and logging are deprecated in 2026-07-28; still forwarded.

use super::guard::{Guard, refusal_error};
use super::trust;
use rmcp::model::{
    CancelledNotificationParam, ClientCapabilities, ClientConfig, ClientResult,
    CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, Implementation, ListRootsRequest,
    ListRootsResult, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    RequestId, RequestMetaObject, ResourceUpdatedNotificationParam, ServerRequest,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, Peer, PeerRequestOptions,
    RequestContext, RoleClient, RoleServer,
};
use rmcp::{ClientHandler, ErrorData as McpError};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// What one upstream connection shares among the downstream sessions it serves: routes for
/// progress and server→client requests, the tool-list generation, and the Gate.
#[derive(Debug)]
pub struct Hub {
    name: String,
    /// Capabilities declared upstream: those of the session that started the connection.
    caps: ClientCapabilities,
    /// The sessions using this connection (a session that ended no longer upgrades).
    sessions: Mutex<Vec<Weak<Link>>>,
    /// Upstream progress token → the session and its downstream request's own token.
    progress: Mutex<HashMap<ProgressToken, (Weak<Link>, ProgressToken)>>,
    /// Upstream request id → the session it was sent for.
    outbound: Mutex<HashMap<RequestId, Weak<Link>>>,
    /// Bumped whenever the upstream's tool list may have changed.
    tools_epoch: AtomicU64,
    /// The Gate that judges and records the upstream's requests to the agents.
    guard: Arc<Guard>,
}

/// One downstream session's side of a (possibly shared) upstream connection.
#[derive(Debug)]
pub struct Link {
    downstream: Peer<RoleServer>,
    caps: ClientCapabilities,
    /// The agent's name, for records.
    agent: Option<String>,
    /// This session's requests currently served by the upstream, oldest first.
    inflight: Mutex<Vec<RequestId>>,
    /// Resource URIs this session subscribed to.
    subscribed: Mutex<HashSet<String>>,
}

/// Removes a request's routes when the request ends.
#[derive(Debug)]
pub struct Route<'a> {
    hub: &'a Hub,
    link: &'a Link,
    upstream_id: RequestId,
    upstream_token: ProgressToken,
    downstream: RequestId,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        lock(&self.hub.progress).remove(&self.upstream_token);
        lock(&self.hub.outbound).remove(&self.upstream_id);
        let mut inflight = lock(&self.link.inflight);
        if let Some(i) = inflight.iter().position(|id| *id == self.downstream) {
            inflight.remove(i);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Link {
    /// A session's link: its downstream peer, the capabilities its client declared, its name.
    pub fn new(
        downstream: Peer<RoleServer>,
        caps: ClientCapabilities,
        agent: Option<String>,
    ) -> Link {
        Link {
            downstream,
            caps,
            agent,
            inflight: Mutex::new(Vec::new()),
            subscribed: Mutex::new(HashSet::new()),
        }
    }

    /// Notes that this session subscribed to `uri` (`false`: unsubscribed).
    pub fn set_subscribed(&self, uri: &str, on: bool) {
        let mut subs = lock(&self.subscribed);
        if on {
            subs.insert(uri.to_string());
        } else {
            subs.remove(uri);
        }
    }

    /// The resource URIs this session subscribed to.
    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.subscribed).iter().cloned().collect()
    }

    fn is_busy(&self) -> bool {
        !lock(&self.inflight).is_empty()
    }

    /// Sends a server→client request to the agent, on the stream of the downstream request it
    /// most likely belongs to, and forwards the upstream's cancellation of it.
    async fn ask_downstream(
        &self,
        server: &str,
        mut request: ServerRequest,
        ctx: &RequestContext<RoleClient>,
    ) -> Result<ClientResult, McpError> {
        if let Some(origin) = lock(&self.inflight).last().cloned() {
            rmcp::model::GetExtensions::extensions_mut(&mut request)
                .insert(OriginatingRequestId(origin));
        }
        let peer = self.downstream.clone();
        // A fresh task: the upstream handler's task-local request id must not leak into the
        // downstream request's routing.
        let send = tokio::spawn(async move {
            let handle = peer
                .send_request_with_option(request, PeerRequestOptions::no_options())
                .await?;
            let id = handle.id.clone();
            Ok::<_, rmcp::ServiceError>((id, handle.await_response()))
        });
        let (id, response) = match send.await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(service_error(server, e)),
            Err(e) => return Err(McpError::internal_error(e.to_string(), None)),
        };
        tokio::select! {
            r = response => r.map_err(|e| service_error(server, e)),
            _ = ctx.ct.cancelled() => {
                let _ = self.downstream.notify_cancelled(cancelled(id, "cancelled by the server")).await;
                Err(McpError::internal_error("cancelled by the server", None))
            }
        }
    }
}

impl Hub {
    /// The hub of a connection to server `name`, declaring upstream what `first` (the
    /// capabilities of the session that starts it) declared.
    pub fn new(name: String, first: &ClientCapabilities, guard: Arc<Guard>) -> Hub {
        Hub {
            name,
            caps: upstream_caps(first),
            sessions: Mutex::new(Vec::new()),
            progress: Mutex::new(HashMap::new()),
            outbound: Mutex::new(HashMap::new()),
            tools_epoch: AtomicU64::new(0),
            guard,
        }
    }

    /// Adds a session to the connection.
    pub fn join(&self, link: &Arc<Link>) {
        lock(&self.sessions).push(Arc::downgrade(link));
    }

    /// The sessions using the connection now (ended ones are dropped from the list).
    pub fn live(&self) -> Vec<Arc<Link>> {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|w| w.strong_count() > 0);
        sessions.iter().filter_map(Weak::upgrade).collect()
    }

    /// How many sessions use the connection now.
    pub fn load(&self) -> usize {
        self.live().len()
    }

    /// The capabilities declared upstream.
    pub fn declared(&self) -> &ClientCapabilities {
        &self.caps
    }

    /// Whether a session other than `me` is subscribed to `uri`.
    pub fn others_subscribed(&self, me: &Link, uri: &str) -> bool {
        self.live()
            .iter()
            .any(|l| !std::ptr::eq(l.as_ref(), me) && lock(&l.subscribed).contains(uri))
    }

    /// Registers upstream request `upstream_id` (progress token `upstream_token`) made for
    /// request `downstream` of session `link` (whose own progress token, if it asked for
    /// progress, is `downstream_token`).
    pub fn route<'a>(
        &'a self,
        link: &'a Arc<Link>,
        upstream_id: RequestId,
        upstream_token: ProgressToken,
        downstream_token: Option<ProgressToken>,
        downstream: RequestId,
    ) -> Route<'a> {
        if let Some(t) = downstream_token {
            lock(&self.progress).insert(upstream_token.clone(), (Arc::downgrade(link), t));
        }
        lock(&self.outbound).insert(upstream_id.clone(), Arc::downgrade(link));
        lock(&link.inflight).push(downstream.clone());
        Route {
            hub: self,
            link,
            upstream_id,
            upstream_token,
            downstream,
        }
    }

    /// The current tool-list generation (changes on list_changed and restarts).
    pub fn tools_epoch(&self) -> u64 {
        self.tools_epoch.load(Ordering::SeqCst)
    }

    /// Called after the supervisor restarted the upstream: its tools may differ.
    pub async fn upstream_restarted(&self) {
        self.tools_changed().await;
    }

    async fn tools_changed(&self) {
        self.tools_epoch.fetch_add(1, Ordering::SeqCst);
        for link in self.live() {
            let _ = link.downstream.notify_tool_list_changed().await;
        }
    }

    /// The session a server→client request belongs to: the one whose request's HTTP stream
    /// carried it; else the only session; else the only session with a request in flight.
    /// Otherwise no session can be told apart, and the reason says why.
    fn owner(&self, ctx: &RequestContext<RoleClient>) -> Result<Arc<Link>, String> {
        if let Some(InboundStreamOrigin::OutboundRequest(id)) =
            ctx.extensions.get::<InboundStreamOrigin>()
        {
            let found = lock(&self.outbound).get(id).and_then(Weak::upgrade);
            if let Some(link) = found {
                return Ok(link);
            }
        }
        let live = self.live();
        if let [only] = live.as_slice() {
            return Ok(Arc::clone(only));
        }
        let busy: Vec<Arc<Link>> = live.into_iter().filter(|l| l.is_busy()).collect();
        match busy.as_slice() {
            [only] => Ok(Arc::clone(only)),
            [] => Err(format!(
                "no session has a request in flight on the shared upstream server `{}`, so \
                 there is no agent to ask",
                self.name
            )),
            many => Err(format!(
                "{} sessions have requests in flight on the shared upstream server `{}` and \
                 the request does not say which one it belongs to (give the server its own \
                 connection per session with a larger --max-upstreams)",
                many.len(),
                self.name
            )),
        }
    }

    /// Routes a server-to-client request to its session ([`Hub::owner`]; refused and
    /// recorded when there is none), checks that the session's client declared it (`declared`;
    /// else `undeclared` answers), runs it through the Gate (as a call of
    /// `mcp__<server>__<op>` with the request's parameters, so a policy can refuse sampling or
    /// elicitation per server) and records it: method, size and SHA-256 of the request and of
    /// the agent's answer (never their text, so an elicited secret stays out of the ledger).
    #[allow(clippy::too_many_arguments)]
    async fn gated<T: serde::Serialize>(
        &self,
        ctx: &RequestContext<RoleClient>,
        op: &str,
        method: &str,
        params: Value,
        declared: fn(&ClientCapabilities) -> bool,
        undeclared: impl FnOnce() -> Result<T, McpError>,
        request: ServerRequest,
        answer_of: fn(ClientResult) -> Option<T>,
    ) -> Result<T, McpError> {
        let request_bytes = serde_json::to_vec(&params).unwrap_or_default();
        let owner = self.owner(ctx);
        let agent = owner.as_ref().ok().and_then(|l| l.agent.clone());
        let call = self.guard.call(
            &trust::gate_name(&self.name, op),
            params,
            Some(&self.name),
            agent.as_deref(),
            None,
        );
        let mut f = Map::new();
        f.insert("method".into(), json!(method));
        f.insert("request_bytes".into(), json!(request_bytes.len()));
        f.insert("request_sha256".into(), json!(sha256(&request_bytes)));
        let link = match owner {
            Ok(link) => link,
            Err(reason) => {
                f.insert("status".into(), json!("unroutable"));
                f.insert("error".into(), json!(reason));
                self.guard.record("mcp.server_request", &call, f);
                return Err(McpError::internal_error(
                    format!("patchwork-gateway refused {method}: {reason}"),
                    None,
                ));
            }
        };
        if !declared(&link.caps) {
            return undeclared();
        }
        let (decision, _pending) = self.guard.decide(call.clone()).await;
        let verdict = self.guard.settle(decision).await;
        let answer = if verdict.blocks() {
            Err(refusal_error(method, &verdict))
        } else {
            match link.ask_downstream(&self.name, request, ctx).await {
                Ok(r) => answer_of(r).ok_or_else(|| {
                    McpError::internal_error(format!("unexpected answer to {method}"), None)
                }),
                Err(e) => Err(e),
            }
        };
        if let Some(seq) = verdict.seq {
            f.insert("decision_seq".into(), json!(seq));
        }
        match &answer {
            Ok(a) => {
                let bytes = serde_json::to_vec(a).unwrap_or_default();
                f.insert("status".into(), json!("answered"));
                f.insert("answer_bytes".into(), json!(bytes.len()));
                f.insert("answer_sha256".into(), json!(sha256(&bytes)));
            }
            Err(e) => {
                let refused = verdict.blocks();
                f.insert(
                    "status".into(),
                    json!(if refused { "refused" } else { "failed" }),
                );
                f.insert("error".into(), json!(e.message));
            }
        }
        self.guard.record("mcp.server_request", &call, f);
        answer
    }
}

/// Capabilities the gateway declares upstream: only what the agent declared.
pub fn upstream_caps(agent: &ClientCapabilities) -> ClientCapabilities {
    let mut caps = ClientCapabilities::default();
    caps.roots = agent.roots.clone();
    caps.sampling = agent.sampling.clone();
    caps.elicitation = agent.elicitation.clone();
    caps
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The upstream-facing client handler of one connection.
#[derive(Debug, Clone)]
pub struct Relay {
    hub: Arc<Hub>,
    client: Implementation,
}

impl Relay {
    /// A relay presenting `client` (the identity of the session that started the
    /// connection) upstream.
    pub fn new(hub: Arc<Hub>, client: Implementation) -> Relay {
        Relay { hub, client }
    }
}

/// The downstream request's `_meta` minus what belongs to the downstream connection itself
/// (its progress token, its protocol-version keys). Unknown keys pass untouched.
pub fn forwarded_meta(meta: &RequestMetaObject) -> RequestMetaObject {
    let mut m = meta.clone();
    m.0.0
        .retain(|k, _| k != "progressToken" && !k.starts_with("io.modelcontextprotocol/"));
    m
}

/// A `notifications/cancelled` body.
pub fn cancelled(id: RequestId, reason: &str) -> CancelledNotificationParam {
    CancelledNotificationParam::new(Some(id), Some(reason.to_string()))
}

/// Maps an upstream failure to a JSON-RPC error for the agent; an upstream's own JSON-RPC
/// error passes through unchanged.
pub fn service_error(server: &str, e: rmcp::ServiceError) -> McpError {
    match e {
        rmcp::ServiceError::McpError(e) => e,
        rmcp::ServiceError::Timeout { timeout } => McpError::internal_error(
            format!("upstream server `{server}` did not answer within {timeout:?}"),
            None,
        ),
        rmcp::ServiceError::TransportClosed => McpError::internal_error(
            format!(
                "upstream server `{server}` stopped before it answered; the gateway restarts \
                 it: retry the request"
            ),
            None,
        ),
        other => McpError::internal_error(format!("upstream server `{server}`: {other}"), None),
    }
}

fn not_declared<M: rmcp::model::ConstString>() -> McpError {
    McpError::method_not_found::<M>()
}

impl ClientHandler for Relay {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(self.hub.declared().clone(), self.client.clone())
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        ctx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        let value = serde_json::to_value(&params).unwrap_or(Value::Null);
        let req = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        self.hub
            .gated(
                &ctx,
                "sampling_create_message",
                "sampling/createMessage",
                value,
                |c| c.sampling.is_some(),
                || Err(not_declared::<rmcp::model::CreateMessageRequestMethod>()),
                req,
                |r| match r {
                    ClientResult::CreateMessageResult(r) => Some(*r),
                    _ => None,
                },
            )
            .await
    }

    async fn list_roots(
        &self,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        let req = ServerRequest::ListRootsRequest(ListRootsRequest {
            method: Default::default(),
            extensions: Default::default(),
        });
        self.hub
            .gated(
                &ctx,
                "roots_list",
                "roots/list",
                json!({}),
                |c| c.roots.is_some(),
                || Err(not_declared::<rmcp::model::ListRootsRequestMethod>()),
                req,
                |r| match r {
                    ClientResult::ListRootsResult(r) => Some(r),
                    _ => None,
                },
            )
            .await
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        let value = serde_json::to_value(&request).unwrap_or(Value::Null);
        let req = ServerRequest::ElicitRequest(ElicitRequest::new(request));
        self.hub
            .gated(
                &ctx,
                "elicitation_create",
                "elicitation/create",
                value,
                |c| c.elicitation.is_some(),
                || Ok(ElicitResult::new(ElicitationAction::Decline)),
                req,
                |r| match r {
                    ClientResult::ElicitResult(r) => Some(r),
                    _ => None,
                },
            )
            .await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let route = lock(&self.hub.progress)
            .get(&params.progress_token)
            .and_then(|(link, token)| Some((link.upgrade()?, token.clone())));
        if let Some((link, token)) = route {
            let mut params = params;
            params.progress_token = token;
            let _ = link.downstream.notify_progress(params).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        for link in self.hub.live() {
            let _ = link.downstream.notify_logging_message(params.clone()).await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let live = self.hub.live();
        let single = live.len() == 1;
        for link in live {
            if single || lock(&link.subscribed).contains(&params.uri) {
                let _ = link
                    .downstream
                    .notify_resource_updated(params.clone())
                    .await;
            }
        }
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        for link in self.hub.live() {
            let _ = link.downstream.notify_resource_list_changed().await;
        }
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.hub.tools_changed().await;
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        for link in self.hub.live() {
            let _ = link.downstream.notify_prompt_list_changed().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_meta_drops_connection_keys_and_keeps_the_rest() {
        let mut m = RequestMetaObject::with_progress_token(ProgressToken(
            rmcp::model::NumberOrString::Number(5),
        ));
        m.0.0.insert("traceparent".into(), "00-abc".into());
        m.0.0.insert(
            "io.modelcontextprotocol/protocolVersion".into(),
            "2026-07-28".into(),
        );
        let f = forwarded_meta(&m);
        assert_eq!(f.0.0.len(), 1);
        assert_eq!(f.0.0["traceparent"], "00-abc");
    }
}
