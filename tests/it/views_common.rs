//! A session driven through both real doors (hook processes and an MCP server on stdio) into a
//! sandbox ledger, for the views tests.
#![allow(dead_code)]

use crate::hook_common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

/// The session id of [`drive_session`].
pub const SESSION: &str = "sess-views-0001";

/// A hostile string an agent could get into the ledger through a file name.
pub const HOSTILE: &str =
    "x</script><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">\u{1b}[2J";

/// A sandbox whose hook payloads carry `session`.
pub struct Driven {
    pub s: Sandbox,
    pub session: String,
}

impl Driven {
    pub fn hook(&self, event: &str, extra: Value) -> Output {
        let mut p: Value = serde_json::from_slice(&self.s.payload(event, extra)).unwrap();
        p["session_id"] = json!(self.session);
        let out = self.s.hook(
            &["--policy", "strict", "hook", event],
            &serde_json::to_vec(&p).unwrap(),
        );
        assert_eq!(out.status.code(), Some(0), "{event}: {}", stderr(&out));
        out
    }

    /// Runs the CLI with the sandbox's environment.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.s.cmd(args).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    }
}

/// A whole session: start, prompt, allowed and refused built-in calls with outcomes, a call of
/// the gateway's own MCP tool seen by both doors, refused MCP calls, a denied call that ran
/// anyway (enforcement gap), a file with a hostile name, and the end.
pub fn drive_session(session: &str) -> Driven {
    let d = Driven {
        s: Sandbox::new(),
        session: session.to_string(),
    };
    let p = &d.s.project;
    std::fs::write(p.join("notes.txt"), "hello\n").unwrap();
    std::fs::write(p.join(".env"), "TOKEN=never-show-this\n").unwrap();
    d.hook(
        "SessionStart",
        json!({"source": "startup", "model": "claude-test"}),
    );
    d.hook("UserPromptSubmit", json!({"prompt": "tidy the project"}));
    let main_rs = p.join("src/main.rs");
    d.hook("PreToolUse", json!({"tool_name": "Read", "tool_input": {"file_path": main_rs}, "tool_use_id": "toolu_read"}));
    d.hook("PostToolUse", json!({"tool_name": "Read", "tool_input": {"file_path": main_rs}, "tool_use_id": "toolu_read", "tool_response": {"content": "fn main() {}"}, "duration_ms": 7}));
    let hostile = p.join(HOSTILE);
    d.hook("PreToolUse", json!({"tool_name": "Write", "tool_input": {"file_path": hostile, "content": "x"}, "tool_use_id": "toolu_write"}));
    d.hook("PostToolUse", json!({"tool_name": "Write", "tool_input": {"file_path": hostile, "content": "x"}, "tool_use_id": "toolu_write", "tool_response": {"ok": true}, "duration_ms": 3}));
    d.hook("PreToolUse", json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_use_id": "toolu_test"}));
    d.hook("PostToolUseFailure", json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_use_id": "toolu_test", "error": "Exit code 101\nfailed", "duration_ms": 900}));
    d.hook("PreToolUse", json!({"tool_name": "Read", "tool_input": {"file_path": p.join(".env")}, "tool_use_id": "toolu_env"}));
    // Denied, then ran anyway: an enforcement gap.
    d.hook("PreToolUse", json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "tool_use_id": "toolu_rm"}));
    d.hook("PostToolUse", json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "tool_use_id": "toolu_rm", "tool_response": {"stdout": ""}}));
    // The gateway's own MCP tool: the hook decides `mcp__patchwork__read_file`, then the MCP
    // door decides and runs `read_file` with the same arguments.
    let args = json!({"path": "notes.txt"});
    d.hook("PreToolUse", json!({"tool_name": "mcp__patchwork__read_file", "tool_input": args, "tool_use_id": "toolu_mcp"}));
    let answers = mcp_calls(
        &d,
        &[
            ("read_file", args.clone()),
            ("run_command", json!({"command": "rm -rf ~"})),
        ],
    );
    assert_ne!(answers[0]["isError"], true, "{}", answers[0]);
    assert_eq!(answers[1]["isError"], true, "{}", answers[1]);
    d.hook("PostToolUse", json!({"tool_name": "mcp__patchwork__read_file", "tool_input": args, "tool_use_id": "toolu_mcp", "tool_response": answers[0].clone(), "duration_ms": 15}));
    d.hook("SessionEnd", json!({"reason": "other"}));
    d
}

/// Calls tools on the gateway's MCP server (stdio) in the session; returns the results.
pub fn mcp_calls(d: &Driven, calls: &[(&str, Value)]) -> Vec<Value> {
    let mut child =
        d.s.cmd(&["--policy", "strict", "serve"])
            .env("CLAUDE_CODE_SESSION_ID", &d.session)
            .current_dir(&d.s.project)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |msg: Value| {
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    };
    let mut wait = |id: u64| loop {
        let line = lines.next().expect("gateway closed stdout").unwrap();
        let msg: Value = serde_json::from_str(&line).unwrap();
        if msg["id"] == id {
            return msg;
        }
    };
    send(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "claude-code", "version": "1"}}}),
    );
    wait(0);
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let mut out = Vec::new();
    for (i, (tool, args)) in calls.iter().enumerate() {
        let id = i as u64 + 1;
        send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": tool, "arguments": args}}));
        out.push(wait(id)["result"].clone());
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    out
}

/// The binary, for tests that need a plain command.
pub fn bin() -> Command {
    Command::new(BIN)
}
