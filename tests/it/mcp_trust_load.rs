//! The HTTP door under abuse, loopback only and bounded: 2,000 connections that never finish
//! their headers do not stop a client's `tools/call` (answered within 1 s), and 1,000 open
//! sessions of `serve --http` stay under a memory bound (the resident size is printed).

use crate::mcp_trust_common::{Place, http, http_port, post_until, rss_kib, session_id};
use serde_json::json;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `serve --http 127.0.0.1:0 --max-sessions N` (builtin tools only); returns it and its port.
fn serve_http(place: &Place, max_sessions: &str) -> (Child, u16) {
    let mut child = place
        .cmd(&[
            "--policy",
            "standard",
            "serve",
            "--http",
            "127.0.0.1:0",
            "--max-sessions",
            max_sessions,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = http_port(&mut child);
    (child, port)
}

fn init_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "load-test", "version": "1"}}})
    .to_string()
}

#[test]
fn stalled_connections_do_not_lock_out_a_client() {
    let place = Place::new();
    std::fs::write(place.dir.path().join("project/notes.txt"), "n\n").unwrap();
    let (mut gateway, port) = serve_http(&place, "64");
    // 2,000 connections that send half a request and then nothing.
    let mut stalled = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .unwrap();
        stalled.push(s);
    }
    let started = Instant::now();
    let init = http(port, "POST", None, &init_body());
    assert!(init.starts_with("HTTP/1.1 200"), "{init}");
    let session = session_id(&init);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post_until(port, &session, &initialized.to_string(), "HTTP/1.1 202");
    let called = Instant::now();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "read_file", "arguments": {"path": "notes.txt"}}});
    let answer = post_until(port, &session, &call.to_string(), "\"id\":2");
    let took = called.elapsed();
    assert!(answer.contains("\"id\":2"), "{answer}");
    assert!(took < Duration::from_secs(1), "tools/call took {took:?}");
    eprintln!(
        "with 2,000 stalled connections: tools/call {took:?}, initialize+call {:?}",
        started.elapsed()
    );
    drop(stalled);
    let _ = gateway.kill();
    let _ = gateway.wait();
}

/// The documented bound (docs/mcp.md): 1,000 idle sessions of `serve --http` with builtin
/// tools stay under 256 MiB resident.
#[test]
fn a_thousand_sessions_stay_under_the_memory_bound() {
    let place = Place::new();
    let (mut gateway, port) = serve_http(&place, "1000");
    let before = rss_kib(gateway.id());
    for i in 0..1000 {
        let r = http(port, "POST", None, &init_body());
        assert!(r.starts_with("HTTP/1.1 200"), "session {i}: {r}");
    }
    // The 1,001st is refused by the session cap, with the reason.
    let over = http(port, "POST", None, &init_body());
    assert!(over.contains("at most 1000 MCP sessions"), "{over}");
    let after = rss_kib(gateway.id());
    eprintln!("serve --http RSS: {before} KiB idle, {after} KiB with 1,000 sessions");
    assert!(after < 256 * 1024, "{after} KiB with 1,000 sessions");
    let _ = gateway.kill();
    let _ = gateway.wait();
}
