//! The MCP door against real peers: the official TypeScript SDK client drives the gateway over
//! stdio and Streamable HTTP, and the gateway wraps the reference servers server-filesystem and
//! server-everything. The Node side lives in tests/interop/client.mjs; its packages are
//! installed (pinned) on first use by `peers::interop_dir`.

use crate::hook_common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "sk-interop-7f3a9c1e5b2d4086";

fn interop_dir() -> PathBuf {
    crate::peers::interop_dir()
}

/// A project with an ordinary file and a `.env` holding the secret.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "line one\nline two\n").unwrap();
    std::fs::write(dir.path().join(".env"), format!("API_KEY={SECRET}\n")).unwrap();
    std::fs::create_dir(dir.path().join(".claude")).unwrap();
    std::fs::write(dir.path().join(".claude/settings.json"), "{\"hooks\":{}}\n").unwrap();
    dir
}

/// Runs one scenario of client.mjs; returns the gateway's home for ledger checks.
fn scenario(name: &str) -> tempfile::TempDir {
    let dir = interop_dir();
    let project = project();
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("node")
        .arg(dir.join("client.mjs"))
        .arg(name)
        .env("GATEWAY", BIN)
        .env("PROJECT", project.path())
        .env("SECRET", SECRET)
        .env("POLICY", "strict")
        .env("PATCHWORK_HOME", home.path())
        .env_remove("CLAUDE_PROJECT_DIR")
        .output()
        .expect("cannot run node: Node.js 20+ is required for the MCP interop tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scenario {name} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        !stdout.contains(SECRET),
        "the secret appeared on the client's stdout"
    );
    home
}

/// Decisions were recorded for allowed and refused calls, outcomes for the calls that ran,
/// and the secret is nowhere in the ledger.
fn assert_ledger(home: &Path, tool: &str) {
    let records = ledger_records(home);
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(SECRET), "the secret is in the ledger");
    let outcomes: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "outcome" && r["tool"] == tool)
        .collect();
    assert!(!outcomes.is_empty(), "no outcome record for {tool}: {text}");
    for o in &outcomes {
        let outcome = &o["outcome"];
        assert!(outcome["status"].is_string(), "{o}");
        assert!(outcome["duration_ms"].is_u64(), "{o}");
    }
    assert!(
        outcomes.iter().any(|o| o["outcome"]["output_sha256"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:"))),
        "{text}"
    );
    assert!(
        records.len() > outcomes.len(),
        "decision records are missing: {text}"
    );
}

#[test]
fn sdk_client_over_stdio_uses_builtin_tools_through_the_gate() {
    let home = scenario("builtins-stdio");
    assert_ledger(home.path(), "run_command");
}

#[test]
fn sdk_client_over_streamable_http_with_host_and_origin_checks() {
    let home = scenario("builtins-http");
    assert_ledger(home.path(), "write_file");
}

#[test]
fn wrap_server_filesystem_passes_allowed_calls_and_stops_refused_ones() {
    let home = scenario("wrap-filesystem");
    assert_ledger(home.path(), "mcp__fs__read_text_file");
    // The refused write has a deny decision and no outcome: it never ran.
    let records = ledger_records(home.path());
    let denied: Vec<&Value> = records
        .iter()
        .filter(|r| r["tool"] == "mcp__fs__write_file" && r["verdict"] == "deny")
        .collect();
    assert_eq!(denied.len(), 1, "{records:?}");
    let seq = &denied[0]["seq"];
    assert!(
        !records
            .iter()
            .any(|r| r["event"] == "outcome" && r["decision_seq"] == *seq),
        "a refused call has an outcome record"
    );
}

#[test]
fn wrap_server_everything_passes_everything_else_through() {
    let home = scenario("wrap-everything");
    assert_ledger(home.path(), "mcp__everything__echo");
}

#[test]
fn aggregation_times_out_slow_calls_and_restarts_a_crashed_upstream() {
    let home = scenario("aggregate");
    assert_ledger(home.path(), "mcp__crashy__echo");
    let records = ledger_records(home.path());
    assert!(
        records
            .iter()
            .any(|r| r["tool"] == "mcp__crashy__sleep" && r["outcome"]["status"] == "timeout"),
        "no timeout outcome for the slow call"
    );
    assert!(
        records
            .iter()
            .any(|r| r["tool"] == "mcp__crashy__crash" && r["outcome"]["status"] == "failed"),
        "no failed outcome for the crash"
    );
}
