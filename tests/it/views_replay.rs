//! `replay`, `log` and the record schema over a session driven through both real doors.

use crate::hook_common::stderr;
use crate::peers;
use crate::views_common::*;
use patchwork_gateway::ledger::event::{LedgerEvent, StoredRecord};
use serde_json::Value;

fn text(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn replay_tells_every_call_with_its_outcome_and_refusal() {
    let d = drive_session(SESSION);
    let out = text(&d.run(&["replay", "sess-views"]));
    for want in [
        "Session sess-views-0001",
        "agent     claude-code",
        "Read",
        "→ ok in 7 ms",
        "cargo test",
        "exit 101",
        "deny  high     Read",
        "→ not run (refused)",
        "ENFORCEMENT GAP denied_but_ran",
        "mcp__patchwork__read_file",
        "mcp door: allow",
        "run_command",
        "destructive",
        "Summary",
        "7 calls, 3 refused, 1 failed, 1 enforcement gaps",
        "session.end",
        "record hashes match; whole chain verified",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // Terminal control characters from the ledger are shown, never sent to the terminal.
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(out.contains("\\u{1b}[2J"), "{out}");
    // `latest` is this session; filters narrow the timeline, not the summary.
    let refused = text(&d.run(&["replay", "latest", "--refused-only"]));
    assert!(!refused.contains("Bash  cargo test"), "{refused}");
    assert!(refused.contains("ENFORCEMENT GAP"), "{refused}");
    assert!(refused.contains("7 calls, 3 refused"), "{refused}");
}

#[test]
fn one_row_per_call_across_both_doors() {
    let d = drive_session(SESSION);
    let rows: Vec<Value> =
        serde_json::from_slice(&d.run(&["log", "--session", "latest", "--json"]).stdout).unwrap();
    let calls: Vec<&Value> = rows.iter().filter(|r| r["event"] == "decision").collect();
    assert_eq!(calls.len(), 7, "{rows:#?}");
    let mcp = calls
        .iter()
        .find(|r| r["tool"] == "mcp__patchwork__read_file")
        .expect("the hook's mcp__ decision");
    assert_eq!(
        mcp["linked_verdict"], "allow",
        "both verdicts on one row: {mcp}"
    );
    assert_eq!(mcp["status"], "ok");
    assert!(
        !calls.iter().any(|r| r["tool"] == "read_file"),
        "the MCP door's decision of the same call is not a second row"
    );
    let read = calls.iter().find(|r| r["tool"] == "Read").unwrap();
    assert_eq!(
        (read["status"].as_str(), read["duration_ms"].as_u64()),
        (Some("ok"), Some(7))
    );
    assert!(read["outcome_seq"].is_u64());
    let rm = calls
        .iter()
        .find(|r| r["target"].to_string().contains("rm -rf /"))
        .unwrap();
    assert_eq!(rm["gap"], "denied_but_ran");
    assert!(rows.iter().all(|r| r["session"] == SESSION));
}

#[test]
fn log_filters() {
    let d = drive_session(SESSION);
    let rows = |args: &[&str]| -> Vec<Value> {
        let mut a = vec!["log", "--json"];
        a.extend_from_slice(args);
        serde_json::from_slice(&d.run(&a).stdout).unwrap()
    };
    let deny = rows(&["--verdict", "deny"]);
    assert_eq!(deny.len(), 3, "{deny:#?}");
    assert!(deny.iter().all(|r| r["verdict"] == "deny"));
    let mcp = rows(&["--door", "mcp"]);
    assert!(mcp.iter().any(|r| r["tool"] == "run_command"), "{mcp:#?}");
    assert_eq!(rows(&["--tool", "mcp__*"]).len(), 1);
    assert_eq!(rows(&["--tool", "BASH"]).len(), 2);
    assert_eq!(
        rows(&["--risk", "critical"]).len(),
        2,
        "{:#?}",
        rows(&["--risk", "critical"])
    );
    assert_eq!(rows(&["--rule", "secret-files"]).len(), 1);
    assert_eq!(rows(&["--grep", "CARGO TEST"]).len(), 1);
    assert_eq!(
        rows(&["--action", "file_read", "--verdict", "allow"]).len(),
        1
    );
    assert_eq!(rows(&["--limit", "2"]).len(), 2);
    assert_eq!(rows(&["--since", "1h"]).len(), rows(&[]).len());
    assert!(rows(&["--until", "1h"]).is_empty());
    assert!(rows(&["--since", "2099-01-01T00:00:00Z"]).is_empty());
    let out = d.s.cmd(&["log", "--since", "yesterday"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("RFC 3339"), "{}", stderr(&out));
    let out = d.s.cmd(&["log", "--session", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no session `nope`"),
        "{}",
        stderr(&out)
    );
    // JSON Lines are the stored records, byte for byte (grouped by call).
    let lines = String::from_utf8(d.run(&["log", "--jsonl", "--session", SESSION]).stdout).unwrap();
    let ledger = std::fs::read_to_string(d.s.pw.join("ledger/ledger.jsonl")).unwrap();
    let mut got: Vec<&str> = lines.lines().collect();
    let mut want: Vec<&str> = ledger.lines().collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // The table fits the width it is given.
    let table = d.s.cmd(&["log"]).env("COLUMNS", "100").output().unwrap();
    assert!(text(&table).starts_with("TIME"));
}

/// Checks every line of `ledger` against the typed schema and, with `check-jsonschema`, against
/// what `schema ledger` prints; returns the event kinds seen.
fn check_schema(ledger: &std::path::Path) -> std::collections::BTreeSet<String> {
    let ledger = std::fs::read_to_string(ledger).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for (i, line) in ledger.lines().enumerate() {
        let r: StoredRecord = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("record {i} does not match the schema: {e}\n{line}"));
        let v: Value = serde_json::from_str(line).unwrap();
        kinds.insert(v["event"].as_str().unwrap().to_string());
        if let LedgerEvent::Outcome(o) = &r.event {
            assert!(o.input_sha256.is_some(), "{line}");
        }
        let f = dir.path().join(format!("r{i}.json"));
        std::fs::write(&f, line).unwrap();
        files.push(f);
    }
    let schema = dir.path().join("schema.json");
    let printed = bin().args(["schema", "ledger"]).output().unwrap();
    assert!(printed.status.success(), "{}", stderr(&printed));
    std::fs::write(&schema, printed.stdout).unwrap();
    let out = std::process::Command::new(peers::python_tools().join("check-jsonschema"))
        .arg("--schemafile")
        .arg(&schema)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    kinds
}

#[test]
fn every_record_matches_the_schema() {
    let d = drive_session(SESSION);
    // A writer killed mid-line: the next append cuts it off and records the repair.
    let log = d.s.pw.join("ledger/ledger.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, b"{\"seq\":99,\"torn").unwrap();
    d.hook(
        "SubagentStart",
        serde_json::json!({"agent_id": "a1", "agent_type": "x"}),
    );
    let kinds = check_schema(&log);
    for kind in [
        "session.start",
        "prompt.submit",
        "decision",
        "outcome",
        "enforcement.gap",
        "session.end",
        "ledger_recovery",
        "subagent.start",
    ] {
        assert!(kinds.contains(kind), "{kind} not seen: {kinds:?}");
    }
    let records = d.s.records();
    let torn = records
        .iter()
        .find(|r| r["event"] == "ledger_recovery")
        .unwrap();
    assert_eq!(torn["kind"], "torn_tail", "{torn}");
}

#[test]
fn mcp_trust_records_match_the_schema() {
    use crate::mcp_trust_common::Place;
    let place = Place::new();
    let mut mcp = place.wrap("strict");
    mcp.tool_names();
    // The server asks for sampling and elicitation, then changes its tools (a rug pull).
    mcp.call("ask", serde_json::json!({}));
    mcp.wait_note("notifications/tools/list_changed");
    mcp.tool_names();
    drop(mcp);
    let kinds = check_schema(&place.pw().join("ledger/ledger.jsonl"));
    for kind in [
        "mcp.tool_changed",
        "mcp.description_finding",
        "mcp.server_request",
    ] {
        assert!(kinds.contains(kind), "{kind} not seen: {kinds:?}");
    }
}

#[test]
fn replay_shows_the_diff_of_a_write_git_can_prove() {
    use serde_json::json;
    let d = Driven {
        s: crate::hook_common::Sandbox::new(),
        session: "sess-diff".into(),
    };
    let p = d.s.project.clone();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&p)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    let lib = p.join("src/lib.rs");
    std::fs::write(&lib, "pub fn one() -> u32 {\n    1\n}\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "v1"]);
    let write = |path: &std::path::Path, content: &str, id: &str| {
        let input = json!({"file_path": path, "content": content});
        d.hook(
            "PreToolUse",
            json!({"tool_name": "Write", "tool_input": input, "tool_use_id": id}),
        );
        std::fs::write(path, content).unwrap();
        d.hook(
            "PostToolUse",
            json!({"tool_name": "Write", "tool_input": input, "tool_use_id": id,
                   "tool_response": {"type": "update"}}),
        );
    };
    write(&lib, "pub fn one() -> u32 {\n    2\n}\n", "toolu_w1");
    // Written, then changed again by someone else: the written content is gone.
    let notes = p.join("notes.md");
    write(&notes, "draft\n", "toolu_w2");
    std::fs::write(&notes, "rewritten by hand\n").unwrap();
    let edit = json!({"file_path": lib, "old_string": "2", "new_string": "3"});
    d.hook(
        "PreToolUse",
        json!({"tool_name": "Edit", "tool_input": edit, "tool_use_id": "toolu_e"}),
    );
    d.hook(
        "PostToolUse",
        json!({"tool_name": "Edit", "tool_input": edit, "tool_use_id": "toolu_e",
               "tool_response": {}}),
    );
    let out = text(&d.run(&["replay", "sess-diff"]));
    for want in [
        "found in the work tree, proven by the recorded input digest",
        "@@ -1,3 +1,3 @@",
        "-    1",
        "+    2",
        "diff not recoverable: the written content is neither in the work tree nor",
        "diff not recoverable: the ledger keeps only a digest of an edit",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("+draft"), "{out}");
    let html = String::from_utf8(d.run(&["replay", "sess-diff", "--html"]).stdout).unwrap();
    assert!(
        html.contains(r#"<span class="d-add">+    2</span>"#),
        "{html}"
    );
    // Committed since: found in the commit, compared with its parent.
    git(&["commit", "-q", "-am", "v2"]);
    std::fs::write(&lib, "changed after the commit\n").unwrap();
    let out = text(&d.run(&["replay", "sess-diff"]));
    assert!(out.contains("(found in commit "), "{out}");
    assert!(out.contains("+    2"), "{out}");
}
