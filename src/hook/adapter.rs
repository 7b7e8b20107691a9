//! Translation only: a Claude Code payload becomes a [`ToolCall`]; a [`Verdict`] becomes the
//! hook's stdout and exit code in the shape each event expects. Nothing is decided here.

use super::payload::Payload;
use crate::call::{Door, Effect, ToolCall, Verdict};
use serde_json::{Value, json};
use std::path::PathBuf;

/// The agent name written for calls that come through the hook door.
pub const AGENT: &str = "claude-code";

/// What the hook process answers: one JSON object on stdout, an exit code, maybe a stderr line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub stdout: String,
    pub code: i32,
    pub stderr: Option<String>,
}

impl Answer {
    /// Exit 0 with no decision (`{}`).
    pub fn none() -> Answer {
        Answer {
            stdout: "{}".into(),
            code: 0,
            stderr: None,
        }
    }

    fn json(value: Value) -> Answer {
        Answer {
            stdout: value.to_string(),
            code: 0,
            stderr: None,
        }
    }
}

/// The project root: `CLAUDE_PROJECT_DIR`, else the payload's `cwd`, else the process's cwd.
pub fn project_dir(payload: &Payload) -> PathBuf {
    std::env::var_os("CLAUDE_PROJECT_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            payload
                .str("cwd")
                .filter(|c| !c.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The working directory of the call: the payload's `cwd`, else the project root.
pub fn call_cwd(payload: &Payload) -> PathBuf {
    payload
        .str("cwd")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| project_dir(payload))
}

/// Builds the Gate's view of a tool event: tool name and `tool_input` verbatim.
/// `None` when the payload names no tool.
pub fn tool_call(payload: &Payload) -> Option<ToolCall> {
    let tool = payload.str("tool_name").filter(|t| !t.is_empty())?;
    let input = payload.get("tool_input").cloned().unwrap_or(Value::Null);
    let mut call = ToolCall::new(Door::Hook, tool, input, call_cwd(payload));
    call.session = payload.session().map(str::to_string).or_else(|| {
        std::env::var("CLAUDE_CODE_SESSION_ID")
            .ok()
            .filter(|s| !s.is_empty())
    });
    call.agent = Some(AGENT.to_string());
    call.tool_use_id = payload.tool_use_id().map(str::to_string);
    Some(call)
}

/// No decision, with a warning shown to the user.
pub fn warning(message: &str) -> Answer {
    Answer::json(json!({"systemMessage": message}))
}

/// The reason Claude (or the user) reads: the Gate's reason, the rules and the ledger seq.
pub fn reason_text(v: &Verdict) -> String {
    let reason = v.reason.trim();
    let mut s = if reason.starts_with("patchwork-gateway") {
        reason.to_string()
    } else {
        format!("patchwork-gateway: {reason}")
    };
    if !v.rules.is_empty() {
        s.push_str(&format!(" (rule {}", v.rules.join(", ")));
        match v.seq {
            Some(seq) => s.push_str(&format!(", ledger seq {seq})")),
            None => s.push(')'),
        }
    }
    s
}

/// PreToolUse: deny and ask are answered; allow only when a rule explicitly allowed the call.
pub fn pre_tool_use(v: &Verdict) -> Answer {
    let decision = match v.effect {
        Effect::Deny => "deny",
        Effect::Ask => "ask",
        Effect::Allow if v.explicit_allow => "allow",
        Effect::Allow | Effect::Flag => return Answer::none(),
    };
    Answer::json(json!({"hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": decision,
        "permissionDecisionReason": reason_text(v),
    }}))
}

/// PermissionRequest: deny, or allow on an explicit allow rule; ask leaves the dialog to the user.
pub fn permission_request(v: &Verdict) -> Answer {
    let decision = match v.effect {
        Effect::Deny => json!({"behavior": "deny", "message": reason_text(v)}),
        Effect::Allow if v.explicit_allow => json!({"behavior": "allow"}),
        _ => return Answer::none(),
    };
    Answer::json(json!({"hookSpecificOutput": {
        "hookEventName": "PermissionRequest",
        "decision": decision,
    }}))
}

/// The answer to an internal error (bad payload, policy, ledger, panic, deadline) for `event`.
/// Fail-closed: deny in the event's shape and exit 2 (PermissionRequest ignores exit 2, so its
/// deny is JSON with exit 0). Audit: no decision, exit 0. Either way the reason goes to stderr.
pub fn failure(event: Option<&str>, fail_closed: bool, reason: &str) -> Answer {
    let line = one_line(reason);
    if !fail_closed {
        return Answer {
            stderr: Some(format!("patchwork-gateway (audit mode, allowed): {line}")),
            ..Answer::none()
        };
    }
    let text = format!("patchwork-gateway: failing closed: {line}");
    let (stdout, code) = match event {
        Some("PreToolUse") => (
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse",
                "permissionDecision": "deny", "permissionDecisionReason": text}})
            .to_string(),
            2,
        ),
        Some("PermissionRequest") => (
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                "decision": {"behavior": "deny", "message": text}}})
            .to_string(),
            0,
        ),
        _ => ("{}".to_string(), 2),
    };
    Answer {
        stdout,
        code,
        stderr: Some(text),
    }
}

/// Collapses a message to one line of bounded length.
pub fn one_line(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &joined[..i]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Risk;
    use std::collections::BTreeSet;

    fn verdict(effect: Effect, explicit_allow: bool) -> Verdict {
        Verdict {
            effect,
            rules: vec!["git.force_push".into()],
            reason: "force-push is denied; push a new branch instead".into(),
            risk: Risk::High,
            flags: BTreeSet::new(),
            explicit_allow,
            audited: false,
            would_be: effect,
            seq: Some(7),
        }
    }

    fn decision(a: &Answer) -> Option<String> {
        let v: Value = serde_json::from_str(&a.stdout).unwrap();
        v["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .map(str::to_string)
    }

    #[test]
    fn pre_tool_use_shapes() {
        let deny = pre_tool_use(&verdict(Effect::Deny, false));
        assert_eq!(deny.code, 0);
        assert_eq!(decision(&deny).as_deref(), Some("deny"));
        assert!(deny.stdout.contains("git.force_push, ledger seq 7"));
        assert!(!deny.stdout.contains('\n'));
        assert_eq!(
            decision(&pre_tool_use(&verdict(Effect::Ask, false))).as_deref(),
            Some("ask")
        );
        assert_eq!(pre_tool_use(&verdict(Effect::Allow, false)), Answer::none());
        assert_eq!(pre_tool_use(&verdict(Effect::Flag, false)), Answer::none());
        assert_eq!(
            decision(&pre_tool_use(&verdict(Effect::Allow, true))).as_deref(),
            Some("allow")
        );
    }

    #[test]
    fn permission_request_shapes() {
        let deny: Value =
            serde_json::from_str(&permission_request(&verdict(Effect::Deny, false)).stdout)
                .unwrap();
        assert_eq!(
            deny["hookSpecificOutput"]["hookEventName"],
            "PermissionRequest"
        );
        assert_eq!(deny["hookSpecificOutput"]["decision"]["behavior"], "deny");
        assert_eq!(
            permission_request(&verdict(Effect::Ask, false)),
            Answer::none()
        );
    }

    #[test]
    fn failures_deny_and_exit_2_unless_audit() {
        let a = failure(Some("PreToolUse"), true, "bad\npayload");
        assert_eq!(a.code, 2);
        assert_eq!(decision(&a).as_deref(), Some("deny"));
        assert!(!a.stderr.unwrap().contains('\n'));
        assert_eq!(failure(Some("PermissionRequest"), true, "x").code, 0);
        assert_eq!(failure(None, true, "x").code, 2);
        assert_eq!(failure(Some("PreToolUse"), false, "x").code, 0);
    }
}
