//! Per-event handling: PreToolUse and PermissionRequest go through the Gate; every other event
//! becomes a ledger record (outcomes, prompt hashes, session and subagent events).

use super::adapter::{self, AGENT, Answer};
use super::alerts;
use super::calls::{self, Seen};
use super::failclosed::PolicyMode;
use super::payload::Payload;
use crate::call::{Door, Effect, ToolCall};
use crate::gate::Gate;
use crate::home::Home;
use crate::ledger::event::{self, LedgerEvent, OutcomeDetail};
use crate::ledger::{Appended, Digest, Ledger};
use serde_json::{Map, Value, json};

/// The hook events the gateway knows; anything else is `Other` (recorded, no decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PreToolUse,
    PermissionRequest,
    PostToolUse,
    PostToolUseFailure,
    UserPromptSubmit,
    SessionStart,
    SessionEnd,
    SubagentStart,
    SubagentStop,
    Other(String),
}

impl Event {
    /// Parses Claude Code's name (`PreToolUse`) or kebab-case (`pre-tool-use`).
    pub fn parse(name: &str) -> Event {
        let pascal = if name.contains('-') || name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name.split('-')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect()
        } else {
            name.to_string()
        };
        match pascal.as_str() {
            "PreToolUse" => Event::PreToolUse,
            "PermissionRequest" => Event::PermissionRequest,
            "PostToolUse" => Event::PostToolUse,
            "PostToolUseFailure" => Event::PostToolUseFailure,
            "UserPromptSubmit" => Event::UserPromptSubmit,
            "SessionStart" => Event::SessionStart,
            "SessionEnd" => Event::SessionEnd,
            "SubagentStart" => Event::SubagentStart,
            "SubagentStop" => Event::SubagentStop,
            _ => Event::Other(pascal),
        }
    }

    /// Claude Code's name of the event.
    pub fn name(&self) -> &str {
        match self {
            Event::PreToolUse => "PreToolUse",
            Event::PermissionRequest => "PermissionRequest",
            Event::PostToolUse => "PostToolUse",
            Event::PostToolUseFailure => "PostToolUseFailure",
            Event::UserPromptSubmit => "UserPromptSubmit",
            Event::SessionStart => "SessionStart",
            Event::SessionEnd => "SessionEnd",
            Event::SubagentStart => "SubagentStart",
            Event::SubagentStop => "SubagentStop",
            Event::Other(name) => name,
        }
    }
}

/// What one invocation needs besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct HookCtx<'a> {
    pub home: &'a Home,
    pub policy: Option<&'a str>,
    pub mode: PolicyMode,
}

/// The answer to print, and alerts to raise after it is printed.
#[derive(Debug)]
pub struct Handled {
    pub answer: Answer,
    pub alerts: Vec<Value>,
    /// The policy's `alerts.webhook`, when the policy was loaded and alerts are due.
    pub webhook: Option<String>,
    /// Seq of the newest record this invocation appended: the ledger holds at least one more
    /// record than that (what the automatic checkpoint needs to know).
    pub last_seq: Option<u64>,
}

impl Handled {
    fn quiet(answer: Answer) -> Handled {
        Handled {
            answer,
            alerts: Vec::new(),
            webhook: None,
            last_seq: None,
        }
    }

    /// Notes that the record `seq` was appended.
    fn recorded(mut self, seq: Option<u64>) -> Handled {
        self.last_seq = self.last_seq.max(seq);
        self
    }
}

/// Handles one parsed payload.
pub fn handle(ctx: HookCtx<'_>, event: &Event, p: &Payload) -> Handled {
    let result = match event {
        Event::PreToolUse | Event::PermissionRequest => return decide(ctx, event, p),
        Event::PostToolUse | Event::PostToolUseFailure => return outcome(ctx, event, p),
        Event::UserPromptSubmit => {
            let prompt = p.str("prompt").unwrap_or("");
            let mut r = base("prompt.submit", event, p);
            r.insert("action".into(), json!("prompt_submit"));
            r.insert("prompt_sha256".into(), json!(Digest::of(prompt.as_bytes())));
            r.insert("prompt_bytes".into(), json!(prompt.len()));
            append(ctx.home, r)
        }
        Event::SessionStart => return session_start(ctx, event, p),
        Event::SessionEnd => {
            let mut r = base("session.end", event, p);
            r.insert("action".into(), json!("session_end"));
            copy(&mut r, p, &["reason"]);
            let res = append(ctx.home, r);
            calls::forget(ctx.home, p.session());
            res
        }
        Event::SubagentStart | Event::SubagentStop => {
            let (kind, action) = if *event == Event::SubagentStart {
                ("subagent.start", "subagent_start")
            } else {
                ("subagent.stop", "subagent_stop")
            };
            let mut r = base(kind, event, p);
            r.insert("action".into(), json!(action));
            append(ctx.home, r)
        }
        Event::Other(_) => {
            let mut r = base("hook.event", event, p);
            copy(
                &mut r,
                p,
                &[
                    "tool_name",
                    "tool_use_id",
                    "source",
                    "reason",
                    "trigger",
                    "notification_type",
                ],
            );
            append(ctx.home, r)
        }
    };
    match result {
        Ok(a) => Handled::quiet(Answer::none()).recorded(Some(a.seq)),
        Err(e) => failure(
            ctx,
            event,
            Some(p),
            &format!("cannot write the ledger: {e:#}"),
        ),
    }
}

/// SessionStart: records the session and a self-test — the Gate must refuse a known-bad call
/// (`rm -rf /`) — as `armed`; warns the user when the gateway is not armed.
fn session_start(ctx: HookCtx<'_>, event: &Event, p: &Payload) -> Handled {
    let armed = match Gate::open(ctx.home, ctx.policy, &adapter::project_dir(p)) {
        Ok(gate) => {
            let probe = ToolCall::new(
                Door::Hook,
                "Bash",
                json!({"command": "rm -rf /"}),
                adapter::call_cwd(p),
            );
            let (_, v) = gate.judge(&probe);
            if v.blocks() {
                Ok(())
            } else {
                Err(format!("the policy would {} `rm -rf /`", v.effect))
            }
        }
        Err(e) => Err(format!("the policy does not load: {e:#}")),
    };
    let mut r = base("session.start", event, p);
    r.insert("action".into(), json!("session_start"));
    copy(&mut r, p, &["source", "model"]);
    r.insert("armed".into(), json!(armed.is_ok()));
    if let Err(why) = &armed {
        r.insert("not_armed_reason".into(), json!(adapter::one_line(why)));
    }
    let appended = match append(ctx.home, r) {
        Ok(a) => a,
        Err(e) => {
            return failure(
                ctx,
                event,
                Some(p),
                &format!("cannot write the ledger: {e:#}"),
            );
        }
    };
    Handled::quiet(match armed {
        Ok(()) => Answer::none(),
        Err(why) => adapter::warning(&format!(
            "patchwork-gateway is NOT armed: {}. Run `patchwork-gateway doctor`.",
            adapter::one_line(&why)
        )),
    })
    .recorded(Some(appended.seq))
}

/// PreToolUse and PermissionRequest: build the call, let the Gate decide, render its verdict.
fn decide(ctx: HookCtx<'_>, event: &Event, p: &Payload) -> Handled {
    let Some(call) = adapter::tool_call(p) else {
        return failure(ctx, event, Some(p), "the payload names no tool_name");
    };
    let gate = match Gate::open(ctx.home, ctx.policy, &adapter::project_dir(p)) {
        Ok(g) => g,
        Err(e) => {
            let reason = format!("cannot load the policy or open the ledger: {e:#}");
            return failure(ctx, event, Some(p), &reason);
        }
    };
    let input = Digest::of_json(&call.input);
    if *event == Event::PermissionRequest
        && let Some(first) = calls::lookup_input(ctx.home, p.session(), &input).and_then(|s| s.seq)
    {
        return permission_for_decided(ctx, event, p, &gate, &call, input, first);
    }
    let v = gate.decide(&call);
    if v.seq.is_none() {
        let reason = format!("the decision was not recorded: {}", v.reason);
        return failure(ctx, event, Some(p), &reason);
    }
    if *event == Event::PreToolUse {
        let denied = v.effect == Effect::Deny;
        remember(ctx.home, p, Seen { denied, seq: v.seq }, &input);
    }
    let answer = match event {
        Event::PreToolUse => adapter::pre_tool_use(&v),
        _ => adapter::permission_request(&v),
    };
    // PermissionRequest re-decides a call PreToolUse already saw: alert once, at PreToolUse.
    let alerts = if *event == Event::PreToolUse && v.would_be != Effect::Allow {
        vec![alerts::for_verdict(event.name(), &call, &v)]
    } else {
        Vec::new()
    };
    let webhook = gate.policy().webhook().map(str::to_string);
    Handled {
        answer,
        alerts,
        webhook,
        last_seq: v.seq,
    }
}

/// A PermissionRequest for a call PreToolUse already decided (decision `first`): the Gate
/// judges it again under the same policy, and the record links to the first decision instead of
/// being a second decision of the same call.
fn permission_for_decided(
    ctx: HookCtx<'_>,
    event: &Event,
    p: &Payload,
    gate: &Gate,
    call: &ToolCall,
    input: Digest,
    first: u64,
) -> Handled {
    let (_, mut v) = gate.judge(call);
    let record = LedgerEvent::PermissionRequest(event::PermissionRequest {
        origin: origin(event, p),
        tool: call.tool.clone(),
        tool_use_id: None,
        decision_seq: first,
        input_sha256: input,
        verdict: v.effect.as_str().to_string(),
        rules: v.rules.clone(),
    });
    match append(ctx.home, record.into_fields()) {
        Ok(a) => v.seq = Some(a.seq),
        Err(e) => {
            let reason = format!("cannot write the ledger: {e:#}");
            return failure(ctx, event, Some(p), &reason);
        }
    }
    let seq = v.seq;
    Handled::quiet(adapter::permission_request(&v)).recorded(seq)
}

/// PostToolUse and PostToolUseFailure: an outcome record linked by `tool_use_id`; an
/// `enforcement.gap` record and alert when the call had been denied.
fn outcome(ctx: HookCtx<'_>, event: &Event, p: &Payload) -> Handled {
    let failed = *event == Event::PostToolUseFailure;
    let status = if p.bool("is_interrupt") == Some(true)
        || p.get("tool_response").and_then(|r| r.get("interrupted")) == Some(&json!(true))
    {
        "interrupted"
    } else if failed {
        "error"
    } else {
        "ok"
    };
    let output = match (failed, p.get("tool_response"), p.str("error")) {
        (true, _, Some(err)) => Some(err.as_bytes().to_vec()),
        (_, Some(Value::String(s)), _) => Some(s.as_bytes().to_vec()),
        (_, Some(Value::Null), _) | (_, None, _) => None,
        (_, Some(v), _) => serde_json::to_vec(v).ok(),
    };
    let seen = p
        .tool_use_id()
        .and_then(|id| calls::lookup(ctx.home, p.session(), id));
    let record = LedgerEvent::Outcome(event::Outcome {
        origin: origin(event, p),
        tool: p.str("tool_name").unwrap_or_default().to_string(),
        tool_use_id: p.tool_use_id().map(str::to_string),
        server: None,
        decision_seq: seen.and_then(|s| s.seq),
        input_sha256: p.get("tool_input").map(Digest::of_json),
        outcome: OutcomeDetail {
            status: status.to_string(),
            duration_ms: p.u64("duration_ms"),
            is_error: None,
            output_bytes: output.as_ref().map(|b| b.len() as u64),
            output_sha256: output.as_deref().map(Digest::of),
            exit_code: p.str("error").and_then(exit_code),
            error: None,
        },
    });
    let post = match append(ctx.home, record.into_fields()) {
        Ok(a) => a,
        Err(e) => {
            let reason = format!("cannot write the ledger: {e:#}");
            return failure(ctx, event, Some(p), &reason);
        }
    };
    let quiet = || Handled::quiet(Answer::none()).recorded(Some(post.seq));
    let Some(id) = p.tool_use_id() else {
        return quiet();
    };
    let (kind, detail, decision_seq) = match seen {
        Some(Seen { denied: true, seq }) => (
            "denied_but_ran",
            "the call was denied at PreToolUse but ran anyway: the block did not hold",
            seq,
        ),
        Some(_) => return quiet(),
        // Only within sessions where PreToolUse did answer: a session that began before the
        // install has no index, and is no evidence of a gap.
        None if calls::session_known(ctx.home, p.session()) => (
            "no_decision",
            "the call ran without a PreToolUse decision: the hook did not fire, was killed or timed out",
            None,
        ),
        None => return quiet(),
    };
    let gap = LedgerEvent::EnforcementGap(event::EnforcementGap {
        origin: origin(event, p),
        tool: p.str("tool_name").unwrap_or_default().to_string(),
        tool_use_id: Some(id.to_string()),
        gap: kind.to_string(),
        decision_seq,
        outcome_seq: post.seq,
        detail: detail.to_string(),
    });
    let gap_seq = append(ctx.home, gap.into_fields()).ok().map(|a| a.seq);
    let alert = alerts::for_gap(
        p.session(),
        p.str("tool_name"),
        id,
        detail,
        decision_seq,
        gap_seq,
    );
    let webhook = Gate::open(ctx.home, ctx.policy, &adapter::project_dir(p))
        .ok()
        .and_then(|g| g.policy().webhook().map(str::to_string));
    Handled {
        answer: Answer::none(),
        alerts: vec![alert],
        webhook,
        last_seq: gap_seq.or(Some(post.seq)),
    }
}

/// An internal error: recorded where possible, then answered per the policy mode.
pub fn failure(ctx: HookCtx<'_>, event: &Event, p: Option<&Payload>, reason: &str) -> Handled {
    let mut r = match p {
        Some(p) => base("hook.error", event, p),
        None => {
            let mut r = Map::new();
            r.insert("event".into(), json!("hook.error"));
            r.insert("door".into(), json!("hook"));
            r.insert("agent".into(), json!(AGENT));
            r.insert("hook_event".into(), json!(event.name()));
            r
        }
    };
    r.insert("error".into(), json!(adapter::one_line(reason)));
    r.insert("policy_mode".into(), json!(ctx.mode.as_str()));
    let recorded = append(ctx.home, r).ok().map(|a| a.seq);
    if let Some(p) = p
        && *event == Event::PreToolUse
    {
        let denied = ctx.mode.fail_closed();
        let input = Digest::of_json(p.get("tool_input").unwrap_or(&Value::Null));
        remember(ctx.home, p, Seen { denied, seq: None }, &input);
    }
    Handled::quiet(adapter::failure(
        Some(event.name()),
        ctx.mode.fail_closed(),
        reason,
    ))
    .recorded(recorded)
}

fn remember(home: &Home, p: &Payload, seen: Seen, input: &Digest) {
    if let Some(id) = p.tool_use_id()
        && let Err(e) = calls::remember(home, p.session(), id, seen, input)
    {
        tracing::warn!("cannot index the call {id}: {e}");
    }
}

/// The origin fields every hook record carries (typed form of [`base`]).
fn origin(event: &Event, p: &Payload) -> event::Origin {
    let s = |k: &str| p.str(k).map(str::to_string);
    event::Origin {
        door: Some(event::DoorName::Hook),
        session: p.session().map(str::to_string),
        agent: Some(AGENT.to_string()),
        cwd: Some(adapter::call_cwd(p).display().to_string()),
        hook_event: Some(event.name().to_string()),
        agent_id: s("agent_id"),
        agent_type: s("agent_type"),
        permission_mode: s("permission_mode"),
    }
}

/// Fields every hook record carries.
fn base(kind: &str, event: &Event, p: &Payload) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("event".into(), json!(kind));
    r.insert("door".into(), json!("hook"));
    r.insert("agent".into(), json!(AGENT));
    r.insert("hook_event".into(), json!(event.name()));
    if let Some(s) = p.session() {
        r.insert("session".into(), json!(s));
    }
    r.insert("cwd".into(), json!(adapter::call_cwd(p)));
    copy(&mut r, p, &["agent_id", "agent_type", "permission_mode"]);
    r
}

/// Copies the named fields when present as strings (never free text such as prompts or output).
fn copy(r: &mut Map<String, Value>, p: &Payload, keys: &[&str]) {
    for k in keys {
        if let Some(v) = p.str(k) {
            r.insert((*k).into(), json!(v));
        }
    }
}

fn append(home: &Home, fields: Map<String, Value>) -> anyhow::Result<Appended> {
    home.ensure()?;
    Ledger::open(&home.ledger_dir())?.append(fields)
}

/// The exit code from a Bash failure's first line `Exit code N`.
fn exit_code(error: &str) -> Option<i64> {
    error
        .lines()
        .next()?
        .trim()
        .strip_prefix("Exit code ")?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names() {
        assert_eq!(Event::parse("PreToolUse"), Event::PreToolUse);
        assert_eq!(Event::parse("pre-tool-use"), Event::PreToolUse);
        assert_eq!(
            Event::parse("post-tool-use-failure"),
            Event::PostToolUseFailure
        );
        assert_eq!(Event::parse("subagent-stop"), Event::SubagentStop);
        assert_eq!(
            Event::parse("Notification"),
            Event::Other("Notification".into())
        );
        assert_eq!(Event::parse("config-change").name(), "ConfigChange");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code("Exit code 127\nnot found"), Some(127));
        assert_eq!(exit_code("boom"), None);
    }
}
