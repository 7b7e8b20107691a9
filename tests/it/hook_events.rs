//! Every hook event through the real binary: decisions, outcome records linked by tool_use_id
//! (one schema with the MCP door: `outcome`, `tool`, `sha256:` digests),
//! prompt hashes, session and subagent events, unknown events, enforcement gaps.

use crate::hook_common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn strict(s: &Sandbox, event: &str, extra: Value) -> std::process::Output {
    s.hook(
        &["--policy", "strict", "hook", event],
        &s.payload(event, extra),
    )
}

fn records_of(s: &Sandbox, event: &str) -> Vec<Value> {
    s.records()
        .into_iter()
        .filter(|r| r["event"] == event)
        .collect()
}

#[test]
fn allowed_call_then_outcome_linked_by_tool_use_id() {
    let s = Sandbox::new();
    let file = s.project.join("src/main.rs");
    let out = strict(
        &s,
        "PreToolUse",
        json!({"tool_name": "Read", "tool_input": {"file_path": file}, "tool_use_id": "toolu_r1"}),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = assert_one_json_object(&out);
    assert_ne!(decision(&out).as_deref(), Some("deny"), "{v}");
    assert_ne!(decision(&out).as_deref(), Some("ask"), "{v}");
    let d = records_of(&s, "decision");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["tool_use_id"], "toolu_r1");
    assert_eq!(d[0]["door"], "hook");
    assert_eq!(d[0]["agent"], "claude-code");

    let response = json!({"type": "text", "file": {"filePath": file, "content": "TOP-SECRET-CONTENT", "numLines": 1}});
    let out = strict(
        &s,
        "PostToolUse",
        json!({"tool_name": "Read", "tool_input": {"file_path": file}, "tool_use_id": "toolu_r1", "tool_response": response, "duration_ms": 12}),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(assert_one_json_object(&out), json!({}));
    let post = records_of(&s, "outcome");
    assert_eq!(post.len(), 1);
    let p = &post[0];
    assert_eq!(p["tool_use_id"], "toolu_r1");
    assert_eq!(p["tool"], "Read");
    assert_eq!(p["decision_seq"], d[0]["seq"], "linked to its decision");
    assert_eq!(
        p["input_sha256"], d[0]["input_sha256"],
        "same input digest as the decision"
    );
    assert_eq!(p["session"], "sess-test");
    assert_eq!(p["outcome"]["status"], "ok");
    assert_eq!(p["outcome"]["duration_ms"], 12);
    let bytes = serde_json::to_vec(&response).unwrap();
    assert_eq!(p["outcome"]["output_sha256"], sha(&bytes));
    assert_eq!(p["outcome"]["output_bytes"], bytes.len());
    assert!(p["input_sha256"].is_string());
    let ledger = String::from_utf8_lossy(&s.ledger_bytes()).into_owned();
    assert!(
        !ledger.contains("TOP-SECRET-CONTENT"),
        "outputs are hashed, never stored"
    );
    assert!(records_of(&s, "enforcement.gap").is_empty());
}

#[test]
fn failure_outcome() {
    let s = Sandbox::new();
    let out = strict(
        &s,
        "PostToolUseFailure",
        json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_use_id": "toolu_f", "error": "Exit code 101\nthread panicked", "duration_ms": 900}),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let p = &records_of(&s, "outcome")[0];
    assert_eq!(p["outcome"]["status"], "error");
    assert_eq!(p["outcome"]["exit_code"], 101);
    assert_eq!(p["hook_event"], "PostToolUseFailure");
    assert_eq!(
        p["outcome"]["output_sha256"],
        sha(b"Exit code 101\nthread panicked")
    );
    // No PreToolUse ever ran in this session (e.g. installed mid-session): no gap claimed.
    assert!(records_of(&s, "enforcement.gap").is_empty());
}

#[test]
fn prompt_is_hashed_never_stored() {
    let s = Sandbox::new();
    let prompt = "deploy it, the password is hunter2-PROMPT-XYZ";
    let out = s.hook(
        &["hook", "user-prompt-submit"],
        &s.payload("UserPromptSubmit", json!({"prompt": prompt})),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(assert_one_json_object(&out), json!({}));
    let r = &records_of(&s, "prompt.submit")[0];
    assert_eq!(r["prompt_sha256"], sha(prompt.as_bytes()));
    assert_eq!(r["prompt_bytes"], prompt.len());
    assert!(!String::from_utf8_lossy(&s.ledger_bytes()).contains("PROMPT-XYZ"));
}

#[test]
fn denied_call_that_runs_anyway_is_an_enforcement_gap() {
    let s = Sandbox::new();
    let out = strict(
        &s,
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "tool_use_id": "toolu_bad"}),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(decision(&out).as_deref(), Some("deny"));
    let reason = assert_one_json_object(&out)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("rule"), "{reason}");
    let seq = records_of(&s, "decision")[0]["seq"].as_u64().unwrap();
    assert!(reason.contains(&format!("seq {seq}")), "{reason}");

    let out = strict(
        &s,
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "tool_use_id": "toolu_bad", "tool_response": {"stdout": "", "stderr": "", "interrupted": false}}),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(assert_one_json_object(&out), json!({}));
    let gaps = records_of(&s, "enforcement.gap");
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0]["gap"], "denied_but_ran");
    assert_eq!(gaps[0]["tool_use_id"], "toolu_bad");
    assert_eq!(gaps[0]["decision_seq"], seq);

    // An outcome for a call PreToolUse never answered, in a session where it did answer others:
    // the hook did not fire for it (or was killed, or timed out).
    strict(
        &s,
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_use_id": "toolu_unseen", "tool_response": {"stdout": ""}}),
    );
    let gaps = records_of(&s, "enforcement.gap");
    assert_eq!(gaps.len(), 2);
    assert_eq!(gaps[1]["gap"], "no_decision");
    assert_eq!(gaps[1]["tool_use_id"], "toolu_unseen");

    // After SessionEnd the index is gone: nothing more to compare against.
    strict(&s, "SessionEnd", json!({"reason": "other"}));
    strict(
        &s,
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_use_id": "toolu_late", "tool_response": {}}),
    );
    assert_eq!(records_of(&s, "enforcement.gap").len(), 2);
}

#[test]
fn permission_request_is_answered_in_its_own_shape() {
    let s = Sandbox::new();
    let out = strict(
        &s,
        "PermissionRequest",
        json!({"tool_name": "Bash", "tool_input": {"command": "sudo rm /etc/hosts"}}),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = assert_one_json_object(&out);
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert!(v["hookSpecificOutput"].get("permissionDecision").is_none());
}

#[test]
fn permission_request_after_pre_tool_use_links_to_the_first_decision() {
    let s = Sandbox::new();
    let input = json!({"command": "sudo rm /etc/hosts", "description": "clean up"});
    let out = strict(
        &s,
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": input, "tool_use_id": "toolu_p"}),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = records_of(&s, "decision");
    assert_eq!(first.len(), 1);
    // Claude Code sends the same input, keys in another order, without a tool_use_id.
    let reordered: Value =
        serde_json::from_str(r#"{"description":"clean up","command":"sudo rm /etc/hosts"}"#)
            .unwrap();
    let out = strict(
        &s,
        "PermissionRequest",
        json!({"tool_name": "Bash", "tool_input": reordered}),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = assert_one_json_object(&out);
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"],
        "PermissionRequest"
    );
    assert_eq!(records_of(&s, "decision").len(), 1, "no second decision");
    let pr = records_of(&s, "permission.request");
    assert_eq!(pr.len(), 1);
    assert_eq!(pr[0]["decision_seq"], first[0]["seq"]);
    assert_eq!(pr[0]["input_sha256"], first[0]["input_sha256"]);
    assert_eq!(pr[0]["verdict"], first[0]["verdict"]);
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    // A different call still gets its own decision.
    strict(
        &s,
        "PermissionRequest",
        json!({"tool_name": "Bash", "tool_input": {"command": "sudo rm /etc/passwd"}}),
    );
    assert_eq!(records_of(&s, "decision").len(), 2);
}

#[test]
fn session_subagent_and_unknown_events_are_recorded() {
    let s = Sandbox::new();
    let runs = [
        (
            "SessionStart",
            json!({"source": "startup", "model": "claude-opus"}),
        ),
        (
            "SubagentStart",
            json!({"agent_id": "a1", "agent_type": "Explore"}),
        ),
        (
            "SubagentStop",
            json!({"agent_id": "a1", "agent_type": "Explore", "last_assistant_message": "SUBAGENT-TEXT"}),
        ),
        (
            "Notification",
            json!({"message": "NOTIFY-TEXT", "notification_type": "idle_prompt"}),
        ),
        ("SessionEnd", json!({"reason": "logout"})),
    ];
    for (event, extra) in runs {
        // No event argument: taken from hook_event_name.
        let out = s.hook(&["hook"], &s.payload(event, extra));
        assert_eq!(out.status.code(), Some(0), "{event}: {}", stderr(&out));
        assert_eq!(
            assert_one_json_object(&out),
            json!({}),
            "{event}: no decision"
        );
    }
    let kinds: Vec<String> = s
        .records()
        .iter()
        .map(|r| r["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "session.start",
            "subagent.start",
            "subagent.stop",
            "hook.event",
            "session.end"
        ]
    );
    let rs = s.records();
    let start = rs.iter().find(|r| r["event"] == "session.start").unwrap();
    assert_eq!(start["source"], "startup");
    let sub = rs.iter().find(|r| r["event"] == "subagent.stop").unwrap();
    assert_eq!(sub["agent_type"], "Explore");
    let other = rs.iter().find(|r| r["event"] == "hook.event").unwrap();
    assert_eq!(other["hook_event"], "Notification");
    assert_eq!(other["notification_type"], "idle_prompt");
    let ledger = String::from_utf8_lossy(&s.ledger_bytes()).into_owned();
    assert!(!ledger.contains("NOTIFY-TEXT") && !ledger.contains("SUBAGENT-TEXT"));
}
