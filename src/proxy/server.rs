//! The gateway's MCP server (rmcp `ServerHandler`): builtin tools and upstream tools, every
//! `tools/call` through the Gate; everything else passed through to the upstreams.

#![allow(deprecated)] // resources/subscribe and logging are deprecated in 2026-07-28; still served.

use super::builtin;
use super::guard::{Guard, Status, refusal, refusal_error};
use super::passthrough::service_error;
use super::trust::{self, Book};
use super::upstream::{Pool, Spec, Upstream};
use crate::policy::paths::Object;
use rmcp::model::*;
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OnceCell};

/// What a gateway server exposes.
#[derive(Debug, Clone)]
pub struct Config {
    /// Offer the builtin file and shell tools.
    pub builtins: bool,
    /// Upstream servers.
    pub upstreams: Vec<Spec>,
    /// Expose upstream tools and prompts as `<server>__<name>` (aggregation); without it the
    /// single upstream is passed through unchanged (`wrap`).
    pub prefixed: bool,
}

/// The `ServerHandler`. One value per downstream session (HTTP creates one per session).
#[derive(Debug, Clone)]
pub struct Gateway {
    guard: Arc<Guard>,
    config: Arc<Config>,
    session: Arc<OnceCell<Arc<Session>>>,
    /// The upstream connections, shared with the other sessions of the same door.
    pool: Arc<Pool>,
    /// The HTTP session slot this handler holds (freed when the last clone is dropped).
    _slot: Option<Arc<super::http::Slot>>,
}

/// One downstream session: its upstream connections and what the agent said about itself.
#[derive(Debug)]
struct Session {
    upstreams: Vec<Arc<Upstream>>,
    infos: Vec<Option<Arc<ServerPeerInfo>>>,
    agent: Option<String>,
    tools: Mutex<ToolTable>,
    /// Per upstream: the tools it listed in this session.
    books: Vec<Book>,
    /// Resource URI → index of the upstream that listed it.
    resources: std::sync::Mutex<HashMap<String, usize>>,
}

/// Upstream tool lists as last fetched, per upstream, with the epoch they were fetched at.
#[derive(Debug, Default)]
struct ToolTable {
    lists: Vec<Option<(u64, Vec<Tool>)>>,
}

/// Where a tool name leads.
enum Target {
    Builtin,
    Upstream(usize, String),
}

const SEP: &str = "__";

/// The largest upstream `tools/call` answer passed to the agent (serialised JSON): larger
/// ones break common MCP clients, so they are replaced by an `isError` result that says so.
pub const MAX_ANSWER_BYTES: usize = 10 << 20;

impl Gateway {
    /// A handler for a new session, with its own upstream connections.
    pub fn new(guard: Arc<Guard>, config: Arc<Config>) -> Gateway {
        let pool = Arc::new(Pool::new(config.upstreams.len(), 1));
        Gateway {
            guard,
            config,
            session: Arc::new(OnceCell::new()),
            pool,
            _slot: None,
        }
    }

    /// The session uses the upstream connections of `pool` (shared with other sessions).
    pub fn sharing(mut self, pool: Arc<Pool>) -> Gateway {
        self.pool = pool;
        self
    }

    /// The handler holds `slot` for as long as its session lives.
    pub fn holding(mut self, slot: super::http::Slot) -> Gateway {
        self._slot = Some(Arc::new(slot));
        self
    }

    /// The session, started on first use (normally at `initialize`).
    async fn session(&self, ctx: &RequestContext<RoleServer>) -> Result<&Arc<Session>, McpError> {
        if let Some(s) = self.session.get() {
            return Ok(s);
        }
        let (caps, client) = match ctx.peer.peer_info() {
            Some(info) => (info.capabilities.clone(), info.client_info.clone()),
            None => (
                ctx.client_capabilities().unwrap_or_default(),
                ctx.client_info()
                    .unwrap_or_else(|| Implementation::new("unknown-client", "0")),
            ),
        };
        self.session
            .get_or_try_init(|| self.start_session(ctx.peer.clone(), caps, client))
            .await
    }

    async fn start_session(
        &self,
        peer: rmcp::service::Peer<RoleServer>,
        caps: ClientCapabilities,
        client: Implementation,
    ) -> Result<Arc<Session>, McpError> {
        let required = !self.config.prefixed;
        let mut upstreams = Vec::new();
        for (i, spec) in self.config.upstreams.iter().enumerate() {
            let up = self
                .pool
                .lease(
                    i,
                    spec,
                    peer.clone(),
                    caps.clone(),
                    client.clone(),
                    required,
                    Arc::clone(&self.guard),
                )
                .await
                .map_err(|e| McpError::internal_error(format!("{e:#}"), None))?;
            upstreams.push(Arc::new(up));
        }
        let mut infos = Vec::new();
        for up in &upstreams {
            infos.push(if required { up.info().await } else { None });
        }
        let session = Arc::new(Session {
            tools: Mutex::new(ToolTable {
                lists: vec![None; upstreams.len()],
            }),
            books: upstreams.iter().map(|_| Book::default()).collect(),
            upstreams,
            infos,
            agent: Some(client.name.clone()),
            resources: Default::default(),
        });
        if self.config.prefixed {
            // Name collisions are an error at start.
            self.all_tools(&session).await?;
        }
        Ok(session)
    }

    fn single(&self, s: &Session) -> Option<Arc<Upstream>> {
        (!self.config.prefixed && s.upstreams.len() == 1).then(|| s.upstreams[0].clone())
    }

    /// Builtins plus every upstream's tools under `<server>__<tool>`; errors on collisions.
    async fn all_tools(&self, s: &Session) -> Result<Vec<Tool>, McpError> {
        let mut tools = if self.config.builtins {
            builtin::tools()
        } else {
            Vec::new()
        };
        let mut table = s.tools.lock().await;
        for (i, up) in s.upstreams.iter().enumerate() {
            let epoch = up.tools_epoch();
            let fresh = matches!(&table.lists[i], Some((e, _)) if *e == epoch);
            if !fresh {
                match list_all_tools(up).await {
                    Ok(list) => {
                        let list = self.review(s, i, list, true);
                        table.lists[i] = Some((epoch, list));
                    }
                    Err(e) => {
                        tracing::error!(
                            "upstream {}: cannot list tools: {}",
                            up.spec.name,
                            e.message
                        );
                        table.lists[i] = None;
                    }
                }
            }
            if let Some((_, list)) = &table.lists[i] {
                for t in list {
                    let mut t = t.clone();
                    t.name = format!("{}{SEP}{}", up.spec.name, t.name).into();
                    tools.push(t);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &tools {
            if !seen.insert(t.name.clone()) {
                return Err(McpError::internal_error(
                    format!(
                        "tool name collision: `{}` is offered twice; rename an upstream server",
                        t.name
                    ),
                    None,
                ));
            }
        }
        Ok(tools)
    }

    /// Compares a listing of upstream `i` with its pins, records what changed, and returns
    /// what the agent may see (see [`trust::review`]).
    fn review(&self, s: &Session, i: usize, tools: Vec<Tool>, first_page: bool) -> Vec<Tool> {
        let up = &s.upstreams[i];
        let context = self.guard.call(
            "",
            Value::Null,
            Some(&up.spec.name),
            s.agent.as_deref(),
            None,
        );
        trust::review(
            &self.guard,
            &s.books[i],
            &up.spec.name,
            &up.spec.identity(),
            &context,
            tools,
            first_page,
        )
    }

    /// Makes sure upstream `i`'s tools were listed in this session (an agent may call a tool
    /// without listing first): lists them now if not.
    async fn ensure_listed(&self, s: &Session, i: usize, tool: &str) {
        if s.books[i].knows(tool) {
            return;
        }
        if self.config.prefixed {
            let _ = self.all_tools(s).await;
        } else if let Ok(list) = list_all_tools(&s.upstreams[i]).await {
            self.review(s, i, list, true);
        }
    }

    /// Where a tool name leads. An upstream tool need not be listed: the Gate refuses an
    /// unlisted one with a reason, rather than the door answering "not found".
    async fn target(&self, s: &Session, name: &str) -> Option<Target> {
        if self.config.builtins && builtin::is_builtin(name) {
            return Some(Target::Builtin);
        }
        if !self.config.prefixed {
            return (s.upstreams.len() == 1).then(|| Target::Upstream(0, name.to_string()));
        }
        s.upstreams.iter().enumerate().find_map(|(i, up)| {
            let rest = name
                .strip_prefix(up.spec.name.as_str())?
                .strip_prefix(SEP)?;
            Some(Target::Upstream(i, rest.to_string()))
        })
    }

    async fn forward(
        &self,
        up: &Upstream,
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        up.request(req, ctx)
            .await
            .map_err(|e| service_error(&up.spec.name, e))
    }

    fn upstream_for_uri(&self, s: &Session, uri: &str) -> Option<Arc<Upstream>> {
        if let Some(up) = self.single(s) {
            return Some(up);
        }
        let known = s
            .resources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uri)
            .copied();
        known
            .map(|i| s.upstreams[i].clone())
            .or_else(|| s.upstreams.first().cloned())
    }

    /// Asks the Gate about a resource request (`op` on `uri`, of upstream `up`) as a call of
    /// `mcp__<server>__<op>`; the record is durable before the request is forwarded. A refusal
    /// is a JSON-RPC error (resource requests have no `isError` result).
    async fn gate_resource(
        &self,
        s: &Session,
        up: &Upstream,
        op: &str,
        uri: &str,
    ) -> Result<super::guard::Pending, McpError> {
        let call = self.guard.call(
            &trust::gate_name(&up.spec.name, op),
            serde_json::json!({ "uri": uri }),
            Some(&up.spec.name),
            s.agent.as_deref(),
            None,
        );
        let (decision, pending) = self.guard.decide(call).await;
        let verdict = self.guard.settle(decision).await;
        if verdict.blocks() {
            return Err(refusal_error(
                &format!("{} {uri}", op.replace('_', "/")),
                &verdict,
            ));
        }
        Ok(pending)
    }

    /// Gates, records and forwards a resource (un)subscription.
    async fn forward_gated(
        &self,
        uri: &str,
        op: &str,
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let s = self.session(ctx).await?.clone();
        let Some(up) = self.upstream_for_uri(&s, uri) else {
            return Err(McpError::resource_not_found(
                format!("no server offers {uri}"),
                None,
            ));
        };
        let pending = self.gate_resource(&s, &up, op, uri).await?;
        let subscribe = matches!(req, ClientRequest::SubscribeRequest(_));
        // On a shared connection the upstream holds one subscription per URI: it ends when the
        // last session that asked for it unsubscribes.
        let answer = if !subscribe && up.others_subscribed(uri) {
            Ok(ServerResult::EmptyResult(().into()))
        } else {
            self.forward(&up, req, ctx).await
        };
        if answer.is_ok() {
            up.set_subscribed(uri, subscribe);
        }
        let (status, error) = match &answer {
            Ok(_) => (Status::Completed, None),
            Err(e) => (Status::Failed, Some(e.message.to_string())),
        };
        self.guard.outcome(pending, status, None, error);
        answer.map(|_| ())
    }

    async fn call(
        &self,
        params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let s = self.session(&ctx).await?.clone();
        let name = params.name.to_string();
        let Some(target) = self.target(&s, &name).await else {
            return Err(McpError::invalid_params(
                format!("unknown tool: {name}"),
                None,
            ));
        };
        let args = Value::Object(params.arguments.clone().unwrap_or_default());
        let (gate_name, server, cwd) = match &target {
            Target::Builtin => (
                name.clone(),
                None,
                builtin::call_cwd(&name, &args, self.guard.cwd()),
            ),
            Target::Upstream(i, tool) => {
                let server = s.upstreams[*i].spec.name.clone();
                (trust::gate_name(&server, tool), Some(server), None)
            }
        };
        let mut call =
            self.guard
                .call(&gate_name, args, server.as_deref(), s.agent.as_deref(), cwd);
        if let (Target::Upstream(i, tool), Some(server)) = (&target, &server) {
            self.ensure_listed(&s, *i, tool).await;
            call.upstream_tool = Some(s.books[*i].upstream_tool(&self.guard, server, tool));
        }
        let (decision, pending) = self.guard.decide(call).await;
        let object = decision.object().cloned();
        // A refusal is answered once its record is durable; with --sync-before-forward every
        // decision is. Otherwise the record's sync runs while the tool runs, and the answer
        // waits for both.
        let (verdict, ran) = if decision.verdict().blocks() || self.guard.sync_before_forward() {
            let verdict = self.guard.settle(decision).await;
            if verdict.blocks() {
                return Ok(refusal(&name, &verdict).into());
            }
            (verdict, self.run(&s, target, params, object, &ctx).await)
        } else {
            // Biased: the settle starts first, so a sync handed to the pool starts at once.
            tokio::join!(
                biased;
                self.guard.settle(decision),
                self.run(&s, target, params, object, &ctx)
            )
        };
        if verdict.blocks() {
            // The tool ran, but its decision record could not be made durable: fail closed.
            let error = format!("answer withheld: {}", verdict.reason);
            self.guard
                .outcome(pending, Status::Withheld, ran.result(), Some(error));
            return Ok(refusal(&name, &verdict).into());
        }
        self.guard
            .outcome(pending, ran.status, ran.result(), ran.error.clone());
        ran.answer
    }

    /// Runs an allowed call: a builtin tool, or forwards it to its upstream.
    async fn run(
        &self,
        s: &Session,
        target: Target,
        params: CallToolRequestParams,
        object: Option<Object>,
        ctx: &RequestContext<RoleServer>,
    ) -> Ran {
        let (i, tool) = match target {
            Target::Builtin => {
                let args = Value::Object(params.arguments.unwrap_or_default());
                let bctx = self.guard.builtin_ctx(object);
                let result = builtin::run(&params.name, args, bctx, &ctx.ct).await;
                let status = if ctx.ct.is_cancelled() {
                    Status::Cancelled
                } else {
                    Status::Completed
                };
                return Ran::new(status, Ok(result.into()), None);
            }
            Target::Upstream(i, tool) => (i, tool),
        };
        let up = &s.upstreams[i];
        let mut params = params;
        params.name = tool.into();
        let req = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match up.request(req, ctx).await {
            Ok(ServerResult::CallToolResult(r)) => {
                let bytes = serde_json::to_vec(&r)
                    .map(|v| v.len())
                    .unwrap_or(usize::MAX);
                if bytes > MAX_ANSWER_BYTES {
                    let msg = format!(
                        "upstream server `{}` answered with {bytes} bytes, more than the gateway's \
                         cap of {} MiB for one answer; the answer was dropped (ask the tool for \
                         less, e.g. a range or a page)",
                        up.spec.name,
                        MAX_ANSWER_BYTES >> 20
                    );
                    let r = CallToolResult::error(vec![ContentBlock::text(msg.clone())]);
                    return Ran::new(Status::Failed, Ok(r.into()), Some(msg));
                }
                Ran::new(Status::Completed, Ok(r.into()), None)
            }
            Ok(ServerResult::InputRequiredResult(r)) => Ran::new(
                Status::Completed,
                Ok(CallToolResponse::InputRequired(r)),
                None,
            ),
            Ok(ServerResult::CreateTaskResult(r)) => {
                Ran::new(Status::Completed, Ok(CallToolResponse::Task(r)), None)
            }
            Ok(ServerResult::EmptyResult(_)) => Ran::new(
                Status::Completed,
                Ok(CallToolResult::success(vec![]).into()),
                None,
            ),
            Ok(_) => {
                let msg = format!(
                    "upstream server `{}` sent an unexpected answer",
                    up.spec.name
                );
                let e = McpError::internal_error(msg.clone(), None);
                Ran::new(Status::Failed, Err(e), Some(msg))
            }
            Err(ServiceError::Timeout { timeout }) => {
                let msg = format!(
                    "upstream server `{}` did not answer within {} s; the call was cancelled",
                    up.spec.name,
                    timeout.as_secs()
                );
                let r = CallToolResult::error(vec![ContentBlock::text(msg)]);
                Ran::new(Status::Timeout, Ok(r.into()), None)
            }
            Err(e @ ServiceError::Cancelled { .. }) => Ran::new(
                Status::Cancelled,
                Err(service_error(&up.spec.name, e)),
                None,
            ),
            Err(e) => {
                let e = service_error(&up.spec.name, e);
                let msg = e.message.to_string();
                Ran::new(Status::Failed, Err(e), Some(msg))
            }
        }
    }
}

/// How an allowed call ended: the answer for the agent and what the outcome record says.
struct Ran {
    status: Status,
    answer: Result<CallToolResponse, McpError>,
    error: Option<String>,
}

impl Ran {
    fn new(
        status: Status,
        answer: Result<CallToolResponse, McpError>,
        error: Option<String>,
    ) -> Ran {
        Ran {
            status,
            answer,
            error,
        }
    }

    /// The tool result, when the call completed with one.
    fn result(&self) -> Option<&CallToolResult> {
        match &self.answer {
            Ok(CallToolResponse::Complete(r)) => Some(r),
            _ => None,
        }
    }
}

async fn list_all_tools(up: &Upstream) -> Result<Vec<Tool>, McpError> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let params = cursor.map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
        let req = ClientRequest::ListToolsRequest(paged::<ListToolsRequestMethod>(params));
        match up
            .request_plain(req)
            .await
            .map_err(|e| service_error(&up.spec.name, e))?
        {
            ServerResult::ListToolsResult(r) => {
                all.extend(r.tools);
                match r.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return Ok(all),
                }
            }
            _ => {
                return Err(McpError::internal_error(
                    "unexpected answer to tools/list",
                    None,
                ));
            }
        }
    }
}

/// A list request carrying `params` (the cursor) as given.
fn paged<M: Default>(
    params: Option<PaginatedRequestParams>,
) -> RequestOptionalParam<M, PaginatedRequestParams> {
    RequestOptionalParam {
        method: M::default(),
        params,
        extensions: Default::default(),
    }
}

fn unexpected(what: &str) -> McpError {
    McpError::internal_error(format!("unexpected upstream answer to {what}"), None)
}

/// Merges the capabilities of the upstreams (for aggregation) into the gateway's own.
fn merged_caps(infos: &[Option<ServerCapabilities>]) -> ServerCapabilities {
    let mut caps = ServerCapabilities::default();
    let mut tools = ToolsCapability::default();
    tools.list_changed = Some(true);
    caps.tools = Some(tools);
    for c in infos.iter().flatten() {
        if c.prompts.is_some() {
            let mut p = PromptsCapability::default();
            p.list_changed = Some(true);
            caps.prompts = Some(p);
        }
        if let Some(r) = &c.resources {
            let mut mine = caps.resources.take().unwrap_or_default();
            mine.list_changed = Some(true);
            if r.subscribe == Some(true) {
                mine.subscribe = Some(true);
            }
            caps.resources = Some(mine);
        }
        if c.completions.is_some() {
            caps.completions = Some(Default::default());
        }
        if c.logging.is_some() {
            caps.logging = Some(Default::default());
        }
    }
    caps
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        let session = self.session.get();
        let upstream = session.and_then(|s| {
            (!self.config.prefixed && s.infos.len() == 1)
                .then(|| s.infos[0].clone())
                .flatten()
        });
        if let Some(info) = upstream {
            // wrap: the upstream's own face, with tools (list_changed re-emitted on restart).
            let mut caps = info.capabilities.clone();
            caps.extensions = None;
            let mut tools = caps.tools.take().unwrap_or_default();
            tools.list_changed = Some(true);
            caps.tools = Some(tools);
            let mut cfg =
                ServerConfig::new(caps).with_server_info(info.server_info.clone().unwrap_or_else(
                    || Implementation::new("patchwork-gateway", env!("CARGO_PKG_VERSION")),
                ));
            cfg.instructions = info.instructions.clone();
            return cfg;
        }
        let infos: Vec<Option<ServerCapabilities>> = session
            .map(|s| s.upstreams.iter().map(|u| u.caps_now()).collect())
            .unwrap_or_default();
        ServerConfig::new(merged_caps(&infos))
            .with_server_info(Implementation::new(
                "patchwork-gateway",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "patchwork-gateway: file and shell tools and wrapped MCP servers; every tool call \
                 is checked against a policy and recorded in a tamper-evident ledger.",
            )
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        self.session(&context).await?;
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let s = self.session(&ctx).await?.clone();
        if let Some(up) = self.single(&s) {
            let first_page = request.as_ref().is_none_or(|r| r.cursor.is_none());
            let req = ClientRequest::ListToolsRequest(paged::<ListToolsRequestMethod>(request));
            return match self.forward(&up, req, &ctx).await? {
                ServerResult::ListToolsResult(mut r) => {
                    r.tools = self.review(&s, 0, std::mem::take(&mut r.tools), first_page);
                    Ok(r)
                }
                _ => Err(unexpected("tools/list")),
            };
        }
        Ok(ListToolsResult::with_all_items(self.all_tools(&s).await?))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.call(request, ctx).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let s = self.session(&ctx).await?.clone();
        if let Some(up) = self.single(&s) {
            let req = ClientRequest::ListPromptsRequest(paged::<ListPromptsRequestMethod>(request));
            return match self.forward(&up, req, &ctx).await? {
                ServerResult::ListPromptsResult(r) => Ok(r),
                _ => Err(unexpected("prompts/list")),
            };
        }
        let mut all = Vec::new();
        for up in &s.upstreams {
            let has = up.caps_now().is_some_and(|c| c.prompts.is_some());
            if !has {
                continue;
            }
            let mut cursor = None;
            loop {
                let params = cursor.map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
                let req =
                    ClientRequest::ListPromptsRequest(paged::<ListPromptsRequestMethod>(params));
                let ServerResult::ListPromptsResult(r) = self.forward(up, req, &ctx).await? else {
                    return Err(unexpected("prompts/list"));
                };
                for mut p in r.prompts {
                    p.name = format!("{}{SEP}{}", up.spec.name, p.name);
                    all.push(p);
                }
                match r.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(ListPromptsResult::with_all_items(all))
    }

    async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let s = self.session(&ctx).await?.clone();
        let up = match self.single(&s) {
            Some(up) => up,
            None => {
                let found = s.upstreams.iter().find_map(|up| {
                    let rest = request
                        .name
                        .strip_prefix(up.spec.name.as_str())?
                        .strip_prefix(SEP)?;
                    Some((up.clone(), rest.to_string()))
                });
                let Some((up, rest)) = found else {
                    return Err(McpError::invalid_params(
                        format!("unknown prompt: {}", request.name),
                        None,
                    ));
                };
                request.name = rest;
                up
            }
        };
        match self
            .forward(
                &up,
                ClientRequest::GetPromptRequest(GetPromptRequest::new(request)),
                &ctx,
            )
            .await?
        {
            ServerResult::GetPromptResult(r) => Ok(GetPromptResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            _ => Err(unexpected("prompts/get")),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let s = self.session(&ctx).await?.clone();
        if let Some(up) = self.single(&s) {
            let req =
                ClientRequest::ListResourcesRequest(paged::<ListResourcesRequestMethod>(request));
            return match self.forward(&up, req, &ctx).await? {
                ServerResult::ListResourcesResult(r) => Ok(r),
                _ => Err(unexpected("resources/list")),
            };
        }
        let mut all = Vec::new();
        for (i, up) in s.upstreams.iter().enumerate() {
            let has = up.caps_now().is_some_and(|c| c.resources.is_some());
            if !has {
                continue;
            }
            let mut cursor = None;
            loop {
                let params = cursor.map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
                let req = ClientRequest::ListResourcesRequest(paged::<ListResourcesRequestMethod>(
                    params,
                ));
                let ServerResult::ListResourcesResult(r) = self.forward(up, req, &ctx).await?
                else {
                    return Err(unexpected("resources/list"));
                };
                {
                    let mut map = s.resources.lock().unwrap_or_else(|p| p.into_inner());
                    for res in &r.resources {
                        map.insert(res.uri.clone(), i);
                    }
                }
                all.extend(r.resources);
                match r.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        Ok(ListResourcesResult::with_all_items(all))
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let s = self.session(&ctx).await?.clone();
        if let Some(up) = self.single(&s) {
            let req = ClientRequest::ListResourceTemplatesRequest(paged::<
                ListResourceTemplatesRequestMethod,
            >(request));
            return match self.forward(&up, req, &ctx).await? {
                ServerResult::ListResourceTemplatesResult(r) => Ok(r),
                _ => Err(unexpected("resources/templates/list")),
            };
        }
        let mut all = Vec::new();
        for up in &s.upstreams {
            let has = up.caps_now().is_some_and(|c| c.resources.is_some());
            if !has {
                continue;
            }
            let req = ClientRequest::ListResourceTemplatesRequest(paged::<
                ListResourceTemplatesRequestMethod,
            >(None));
            if let ServerResult::ListResourceTemplatesResult(r) =
                self.forward(up, req, &ctx).await?
            {
                all.extend(r.resource_templates);
            }
        }
        Ok(ListResourceTemplatesResult::with_all_items(all))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let s = self.session(&ctx).await?.clone();
        let Some(up) = self.upstream_for_uri(&s, &request.uri) else {
            return Err(McpError::resource_not_found(
                format!("no server offers {}", request.uri),
                None,
            ));
        };
        // A file: URI (in any spelling) names a file on this machine: the Gate judges it like
        // a read of that file.
        let pending = if crate::policy::paths::is_file_uri(&request.uri) {
            Some(
                self.gate_resource(&s, &up, "resources_read", &request.uri)
                    .await?,
            )
        } else {
            None
        };
        let req = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(request));
        let answer = self.forward(&up, req, &ctx).await;
        if let Some(p) = pending {
            let (status, error) = match &answer {
                Ok(_) => (Status::Completed, None),
                Err(e) => (Status::Failed, Some(e.message.to_string())),
            };
            self.guard.outcome(p, status, None, error);
        }
        match answer? {
            ServerResult::ReadResourceResult(r) => Ok(ReadResourceResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(ReadResourceResponse::InputRequired(r)),
            _ => Err(unexpected("resources/read")),
        }
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let req = ClientRequest::SubscribeRequest(SubscribeRequest::new(request));
        self.forward_gated(&uri, "resources_subscribe", req, &ctx)
            .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let req = ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(request));
        self.forward_gated(&uri, "resources_unsubscribe", req, &ctx)
            .await
    }

    async fn complete(
        &self,
        mut request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let s = self.session(&ctx).await?.clone();
        let up = match self.single(&s) {
            Some(up) => Some(up),
            None => match &mut request.r#ref {
                Reference::Prompt(p) => s.upstreams.iter().find_map(|up| {
                    let rest = p
                        .name
                        .strip_prefix(up.spec.name.as_str())?
                        .strip_prefix(SEP)?
                        .to_string();
                    p.name = rest;
                    Some(up.clone())
                }),
                Reference::Resource(r) => self.upstream_for_uri(&s, &r.uri),
                _ => None,
            },
        };
        let Some(up) = up else {
            return Err(McpError::invalid_params(
                "no server offers this completion",
                None,
            ));
        };
        match self
            .forward(
                &up,
                ClientRequest::CompleteRequest(CompleteRequest::new(request)),
                &ctx,
            )
            .await?
        {
            ServerResult::CompleteResult(r) => Ok(r),
            _ => Err(unexpected("completion/complete")),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let s = self.session(&ctx).await?.clone();
        for up in &s.upstreams {
            let has = up.caps_now().is_some_and(|c| c.logging.is_some());
            if has {
                let req = ClientRequest::SetLevelRequest(SetLevelRequest::new(request.clone()));
                self.forward(up, req, &ctx).await?;
            }
        }
        Ok(())
    }

    async fn on_roots_list_changed(&self, _ctx: NotificationContext<RoleServer>) {
        if let Some(s) = self.session.get() {
            for up in &s.upstreams {
                if let Ok(peer) = up.peer().await {
                    let _ = peer.notify_roots_list_changed().await;
                }
            }
        }
    }
}
