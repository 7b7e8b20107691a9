//! Faithful passthrough between one downstream session and one upstream connection: `_meta`
//! copying, progress-token remapping, cancellation, list_changed, logging, resource updates,
//! and the server→client requests (sampling, elicitation, roots) when the agent declared them.

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
    NotificationContext, OriginatingRequestId, Peer, PeerRequestOptions, RequestContext,
    RoleClient, RoleServer,
};
use rmcp::{ClientHandler, ErrorData as McpError};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What one upstream connection needs to reach the downstream agent.
#[derive(Debug)]
pub struct Link {
    name: String,
    downstream: Peer<RoleServer>,
    caps: ClientCapabilities,
    /// Upstream progress token → the downstream request's own token.
    progress: Mutex<HashMap<ProgressToken, ProgressToken>>,
    /// Downstream requests currently served by this upstream, oldest first.
    inflight: Mutex<Vec<RequestId>>,
    /// Bumped whenever the upstream's tool list may have changed.
    tools_epoch: AtomicU64,
    /// The Gate that judges and records the upstream's requests to the agent.
    guard: Arc<Guard>,
    /// The agent's name, for records.
    agent: Option<String>,
}

/// Removes a request's routes when the request ends.
#[derive(Debug)]
pub struct Route<'a> {
    link: &'a Link,
    upstream: ProgressToken,
    downstream: RequestId,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        lock(&self.link.progress).remove(&self.upstream);
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
    /// A link to `downstream`, whose client declared `caps`.
    pub fn new(
        name: String,
        downstream: Peer<RoleServer>,
        caps: ClientCapabilities,
        guard: Arc<Guard>,
        agent: Option<String>,
    ) -> Link {
        Link {
            name,
            downstream,
            caps,
            progress: Mutex::new(HashMap::new()),
            inflight: Mutex::new(Vec::new()),
            tools_epoch: AtomicU64::new(0),
            guard,
            agent,
        }
    }

    /// Runs a server-to-client request through the Gate (as a call of
    /// `mcp__<server>__<op>` with the request's parameters, so a policy can refuse sampling or
    /// elicitation per server) and records it: method, size and SHA-256 of the request and of
    /// the agent's answer (never their text, so an elicited secret stays out of the ledger).
    async fn gated<T: serde::Serialize>(
        &self,
        op: &str,
        method: &str,
        params: Value,
        ask: impl std::future::Future<Output = Result<T, McpError>>,
    ) -> Result<T, McpError> {
        let request = serde_json::to_vec(&params).unwrap_or_default();
        let call = self.guard.call(
            &trust::gate_name(&self.name, op),
            params,
            Some(&self.name),
            self.agent.as_deref(),
            None,
        );
        let (decision, _pending) = self.guard.decide(call.clone()).await;
        let verdict = self.guard.settle(decision).await;
        let answer = if verdict.blocks() {
            Err(refusal_error(method, &verdict))
        } else {
            ask.await
        };
        let mut f = Map::new();
        f.insert("method".into(), json!(method));
        f.insert("request_bytes".into(), json!(request.len()));
        f.insert("request_sha256".into(), json!(sha256(&request)));
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

    /// Registers an upstream request made for downstream request `id` (whose progress token,
    /// if it asked for progress, is `downstream_token`).
    pub fn route(
        &self,
        upstream_token: ProgressToken,
        downstream_token: Option<ProgressToken>,
        id: RequestId,
    ) -> Route<'_> {
        if let Some(t) = downstream_token {
            lock(&self.progress).insert(upstream_token.clone(), t);
        }
        lock(&self.inflight).push(id.clone());
        Route {
            link: self,
            upstream: upstream_token,
            downstream: id,
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
        let _ = self.downstream.notify_tool_list_changed().await;
    }

    /// Capabilities the gateway declares upstream: only what the agent declared.
    fn upstream_caps(&self) -> ClientCapabilities {
        let mut caps = ClientCapabilities::default();
        caps.roots = self.caps.roots.clone();
        caps.sampling = self.caps.sampling.clone();
        caps.elicitation = self.caps.elicitation.clone();
        caps
    }

    /// Sends a server→client request to the agent, on the stream of the downstream request it
    /// most likely belongs to, and forwards the upstream's cancellation of it.
    async fn ask_downstream(
        &self,
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
            Ok(Err(e)) => return Err(service_error(&self.name, e)),
            Err(e) => return Err(McpError::internal_error(e.to_string(), None)),
        };
        tokio::select! {
            r = response => r.map_err(|e| service_error(&self.name, e)),
            _ = ctx.ct.cancelled() => {
                let _ = self.downstream.notify_cancelled(cancelled(id, "cancelled by the server")).await;
                Err(McpError::internal_error("cancelled by the server", None))
            }
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The upstream-facing client handler of one connection.
#[derive(Debug, Clone)]
pub struct Relay {
    link: Arc<Link>,
    client: Implementation,
}

impl Relay {
    /// A relay presenting the agent's own client identity upstream.
    pub fn new(link: Arc<Link>, client: Implementation) -> Relay {
        Relay { link, client }
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
        other => McpError::internal_error(format!("upstream server `{server}`: {other}"), None),
    }
}

fn not_declared<M: rmcp::model::ConstString>() -> McpError {
    McpError::method_not_found::<M>()
}

impl ClientHandler for Relay {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(self.link.upstream_caps(), self.client.clone())
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        ctx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        if self.link.caps.sampling.is_none() {
            return Err(not_declared::<rmcp::model::CreateMessageRequestMethod>());
        }
        let value = serde_json::to_value(&params).unwrap_or(Value::Null);
        let req = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        let ask = async {
            match self.link.ask_downstream(req, &ctx).await? {
                ClientResult::CreateMessageResult(r) => Ok(*r),
                _ => Err(McpError::internal_error(
                    "unexpected answer to sampling",
                    None,
                )),
            }
        };
        self.link
            .gated(
                "sampling_create_message",
                "sampling/createMessage",
                value,
                ask,
            )
            .await
    }

    async fn list_roots(
        &self,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        if self.link.caps.roots.is_none() {
            return Err(not_declared::<rmcp::model::ListRootsRequestMethod>());
        }
        let req = ServerRequest::ListRootsRequest(ListRootsRequest {
            method: Default::default(),
            extensions: Default::default(),
        });
        let ask = async {
            match self.link.ask_downstream(req, &ctx).await? {
                ClientResult::ListRootsResult(r) => Ok(r),
                _ => Err(McpError::internal_error(
                    "unexpected answer to roots/list",
                    None,
                )),
            }
        };
        self.link
            .gated("roots_list", "roots/list", json!({}), ask)
            .await
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        if self.link.caps.elicitation.is_none() {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        }
        let value = serde_json::to_value(&request).unwrap_or(Value::Null);
        let req = ServerRequest::ElicitRequest(ElicitRequest::new(request));
        let ask = async {
            match self.link.ask_downstream(req, &ctx).await? {
                ClientResult::ElicitResult(r) => Ok(r),
                _ => Err(McpError::internal_error(
                    "unexpected answer to elicitation",
                    None,
                )),
            }
        };
        self.link
            .gated("elicitation_create", "elicitation/create", value, ask)
            .await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let token = lock(&self.link.progress)
            .get(&params.progress_token)
            .cloned();
        if let Some(token) = token {
            let mut params = params;
            params.progress_token = token;
            let _ = self.link.downstream.notify_progress(params).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.link.downstream.notify_logging_message(params).await;
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.link.downstream.notify_resource_updated(params).await;
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.link.downstream.notify_resource_list_changed().await;
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.link.tools_changed().await;
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.link.downstream.notify_prompt_list_changed().await;
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
