//! Caps of the MCP door: an upstream answer above 10 MiB becomes a clear `isError` result, and
//! `--http` serves at most `--max-sessions` sessions (each `wrap` session is an upstream
//! process), with a clear error beyond and the slot given back when a session ends.

use crate::mcp_trust_common::{Place, http, http_port, malicious, session_id, text};
use serde_json::json;
use std::process::{Child, Stdio};
use std::time::Duration;

#[test]
fn answers_above_the_cap_are_refused_with_a_reason() {
    let place = Place::new();
    let mut mcp = place.wrap("standard");
    mcp.tool_names();
    let small = mcp.call("big", json!({"mib": 1}));
    assert_eq!(text(&small).len(), 1 << 20);
    let big = mcp.call("big", json!({"mib": 11}));
    assert_eq!(big["isError"], true, "{}", &big.to_string()[..200]);
    assert!(text(&big).contains("cap of 10 MiB"), "{}", text(&big));
    let outcomes = |p: &Place| {
        p.records()
            .into_iter()
            .filter(|r| r["event"] == "outcome" && r["tool"] == "mcp__mal__big")
            .collect::<Vec<_>>()
    };
    crate::hook_common::wait_until(Duration::from_secs(10), "two outcome records", || {
        outcomes(&place).len() == 2
    });
    drop(mcp);
    assert_eq!(outcomes(&place)[1]["outcome"]["status"], "failed");
}

/// Starts `wrap --http 127.0.0.1:0 --max-sessions 2` and returns it with its port.
fn http_gateway(place: &Place) -> (Child, u16) {
    let m = malicious(&place.state());
    let mut args = vec![
        "--policy",
        "standard",
        "wrap",
        "--name",
        "mal",
        "--http",
        "127.0.0.1:0",
        "--max-sessions",
        "2",
        "--",
    ];
    args.extend(m.iter().map(String::as_str));
    let mut child = place.cmd(&args).stderr(Stdio::piped()).spawn().unwrap();
    let port = http_port(&mut child);
    (child, port)
}

#[test]
fn http_sessions_are_capped() {
    let place = Place::new();
    let (mut gateway, port) = http_gateway(&place);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "cap-test", "version": "1"}}})
    .to_string();
    let first = http(port, "POST", None, &init);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let second = http(port, "POST", None, &init);
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let third = http(port, "POST", None, &init);
    assert!(!third.starts_with("HTTP/1.1 200"), "{third}");
    assert!(third.contains("at most 2 MCP sessions"), "{third}");
    // Ending a session gives its slot back.
    let ended = http(port, "DELETE", Some(&session_id(&first)), "");
    assert!(ended.starts_with("HTTP/1.1 2"), "{ended}");
    let mut again = String::new();
    crate::hook_common::wait_until(Duration::from_secs(10), "a freed session slot", || {
        again = http(port, "POST", None, &init);
        again.starts_with("HTTP/1.1 200")
    });
    let _ = gateway.kill();
    let _ = gateway.wait();
}
