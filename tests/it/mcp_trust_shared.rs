//! `wrap --http` shares its upstream among sessions: many sessions, one `node` process (or
//! `--max-upstreams N`); a crash fails the calls in flight with a clear error and one restart
//! serves every session; a session's end does not stop the upstream of the others; 1,000
//! sessions stay under the memory bound documented in docs/mcp.md.

use crate::mcp_trust_common::{
    Place, TOKEN, events, http, http_port, malicious, post_until, rss_kib, session_id,
};
use serde_json::json;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `wrap --http 127.0.0.1:0 EXTRA… -- node tests/interop/crashy.mjs`; returns it and its port.
fn wrap_crashy(place: &Place, extra: &[&str]) -> (Child, u16) {
    let crashy = crate::peers::interop_dir().join("crashy.mjs");
    let mut args = vec![
        "--policy",
        "standard",
        "wrap",
        "--name",
        "crashy",
        "--http",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    args.extend(["--", "node", crashy.to_str().unwrap()]);
    let mut child = place.cmd(&args).stderr(Stdio::piped()).spawn().unwrap();
    let port = http_port(&mut child);
    (child, port)
}

/// A new initialized session; its id.
fn open_session(port: u16) -> String {
    open_session_with(port, json!({}))
}

/// A new initialized session whose client declared `capabilities`; its id.
fn open_session_with(port: u16, capabilities: serde_json::Value) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": capabilities,
        "clientInfo": {"name": "shared-test", "version": "1"}}});
    let r = http(port, "POST", None, &init.to_string());
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let session = session_id(&r);
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r = post_until(port, &session, &note.to_string(), "HTTP/1.1 202");
    assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    session
}

/// `tools/call` of `tool` in `session`; the raw answer (an SSE event or JSON).
fn call(port: u16, session: &str, id: u64, tool: &str, args: serde_json::Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": args}});
    post_until(port, session, &body.to_string(), &format!("\"id\":{id}"))
}

/// The pid `crashy`'s `echo` reports (the upstream process that answered), if it answered.
fn try_echo_pid(port: u16, session: &str, id: u64) -> Option<u32> {
    let answer = call(port, session, id, "echo", json!({"text": "hi"}));
    let at = answer.find("hi from ")?;
    answer[at + 8..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The pid `crashy`'s `echo` reports.
fn echo_pid(port: u16, session: &str, id: u64) -> u32 {
    try_echo_pid(port, session, id).expect("echo did not answer")
}

/// The `node` processes whose parent is `pid`.
fn node_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) && head.ends_with("(node") {
            out.push(child);
        }
    }
    out
}

/// Waits until `f` holds, for at most `limit`.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sessions_share_one_upstream_that_survives_their_ends_and_restarts_once_after_a_crash() {
    let place = Place::new();
    let (gateway, port) = wrap_crashy(&place, &[]);
    let a = open_session(port);
    let b = open_session(port);
    let c = open_session(port);
    let pid = echo_pid(port, &a, 2);
    assert_eq!(echo_pid(port, &b, 2), pid, "session b has its own upstream");
    assert_eq!(echo_pid(port, &c, 2), pid, "session c has its own upstream");
    assert_eq!(node_children(gateway.id()), vec![pid]);

    // A session's end does not stop the upstream the others use.
    let r = http(port, "DELETE", Some(&a), "");
    assert!(r.starts_with("HTTP/1.1 2"), "{r}");
    assert_eq!(echo_pid(port, &b, 3), pid);

    // b's call is in flight when c crashes the upstream: b gets a clear error at once (not a
    // timeout), c's own call fails, and one restart serves both sessions.
    let slow = std::thread::spawn(move || call(port, &b, 4, "sleep", json!({"ms": 20_000})));
    assert!(
        wait_until(Duration::from_secs(10), || {
            let r = call(port, &c, 5, "echo", json!({"text": "x"}));
            r.contains("x from")
        }),
        "the upstream did not answer c"
    );
    let started = Instant::now();
    let crashed = call(port, &c, 6, "crash", json!({}));
    assert!(crashed.contains("stopped before it answered"), "{crashed}");
    let slept = slow.join().unwrap();
    assert!(
        slept.contains("stopped before it answered") && slept.contains("retry"),
        "{slept}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    // The first call after the crash may still meet the old connection; the restart follows.
    let mut c_pid = 0;
    let mut id = 7;
    assert!(
        wait_until(Duration::from_secs(15), || {
            id += 1;
            c_pid = try_echo_pid(port, &c, id).unwrap_or(pid);
            c_pid != pid
        }),
        "the upstream was not restarted"
    );
    let b = open_session(port);
    assert_eq!(echo_pid(port, &b, 2), c_pid, "the restart was not shared");
    assert!(
        wait_until(Duration::from_secs(5), || node_children(gateway.id())
            == vec![c_pid]),
        "upstream processes: {:?}",
        node_children(gateway.id())
    );
    stop(gateway);
}

#[test]
fn max_upstreams_bounds_a_pool_that_spreads_sessions() {
    let place = Place::new();
    let (gateway, port) = wrap_crashy(&place, &["--max-upstreams", "2"]);
    let sessions: Vec<String> = (0..5).map(|_| open_session(port)).collect();
    let mut pids: Vec<u32> = sessions.iter().map(|s| echo_pid(port, s, 2)).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 2, "5 sessions over --max-upstreams 2: {pids:?}");
    assert_eq!(node_children(gateway.id()).len(), 2);
    stop(gateway);
}

/// The documented bound (docs/mcp.md): 1,000 sessions of `wrap --http` around a Node stdio
/// server use one upstream process, and the gateway stays under 256 MiB resident.
#[test]
fn a_thousand_wrap_sessions_share_one_upstream_under_the_memory_bound() {
    let place = Place::new();
    let (gateway, port) = wrap_crashy(&place, &["--max-sessions", "1000"]);
    let first = open_session(port);
    let pid = echo_pid(port, &first, 2);
    let before = rss_kib(gateway.id());
    let started = Instant::now();
    for _ in 1..1000 {
        open_session(port);
    }
    let opened = started.elapsed();
    assert_eq!(node_children(gateway.id()), vec![pid]);
    let last = open_session_refused(port);
    assert!(last.contains("at most 1000 MCP sessions"), "{last}");
    // An authorised client still completes a call, through the same upstream.
    let called = Instant::now();
    assert_eq!(echo_pid(port, &first, 3), pid);
    let took = called.elapsed();
    let after = rss_kib(gateway.id());
    let upstream = rss_kib(pid);
    eprintln!(
        "wrap --http, 1,000 sessions: 1 upstream process ({upstream} KiB), gateway RSS \
         {before} KiB with 1 session, {after} KiB with 1,000 (opened in {opened:?}); \
         tools/call {took:?}"
    );
    assert!(after < 256 * 1024, "{after} KiB with 1,000 sessions");
    assert!(took < Duration::from_secs(2), "tools/call took {took:?}");
    stop(gateway);
}

/// The answer to one `initialize` too many.
fn open_session_refused(port: u16) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "shared-test", "version": "1"}}});
    http(port, "POST", None, &init.to_string())
}

#[test]
fn a_server_request_goes_to_the_session_it_belongs_to_or_is_refused_when_that_is_unclear() {
    let place = Place::new();
    let mut args = vec![
        "--policy",
        "strict",
        "wrap",
        "--name",
        "mal",
        "--http",
        "127.0.0.1:0",
        "--",
    ];
    let m = malicious(&place.state());
    args.extend(m.iter().map(String::as_str));
    let mut gateway = place.cmd(&args).stderr(Stdio::piped()).spawn().unwrap();
    let port = http_port(&mut gateway);
    let caps = json!({"elicitation": {}, "sampling": {}});
    let a = open_session_with(port, caps.clone());
    let b = open_session_with(port, caps);
    // a calls `ask` while b is idle: the upstream's elicitation reaches a (on a's stream),
    // and a leaves it unanswered, so a's call stays in flight.
    let (asked_tx, asked_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "ask", "arguments": {}}})
        .to_string();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             MCP-Protocol-Version: 2025-06-18\r\nMcp-Session-Id: {a}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("elicitation/create") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        asked_tx
            .send(String::from_utf8_lossy(&got).into_owned())
            .unwrap();
        let _ = done_rx.recv_timeout(Duration::from_secs(60));
    });
    let stream = asked_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(stream.contains("Your API token, please"), "{stream}");
    // Now both sessions have a call in flight: b's elicitation cannot be told apart from a's,
    // so it is refused, recorded, and asked of nobody.
    let answer = call(port, &b, 3, "ask", json!({}));
    assert!(
        answer.contains("2 sessions have requests in flight"),
        "{answer}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            events(&place.records(), "mcp.server_request")
                .iter()
                .any(|r| r["status"] == "unroutable" && r["method"] == "elicitation/create")
        }),
        "no unroutable record: {:?}",
        events(&place.records(), "mcp.server_request")
    );
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    stop(gateway);
}

#[test]
fn list_changed_from_a_shared_upstream_reaches_every_session() {
    let place = Place::new();
    let (gateway, port) = wrap_crashy(&place, &[]);
    let a = open_session(port);
    let b = open_session(port);
    // b listens on its standalone stream (GET /mcp) for what the server sends unasked.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let listening = b.clone();
    let listener = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Accept: text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n\
             Mcp-Session-Id: {listening}\r\n\r\n"
        )
        .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let mut told = false;
        while !String::from_utf8_lossy(&got).contains("notifications/tools/list_changed") {
            if !told && String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                ready_tx.send(()).unwrap();
                told = true;
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let grown = call(port, &a, 2, "grow", json!({}));
    assert!(grown.contains("grown"), "{grown}");
    let heard = listener.join().unwrap();
    assert!(
        heard.contains("notifications/tools/list_changed"),
        "session b did not hear the change: {heard}"
    );
    // b's next listing has the new tool, reviewed against the pins like any other.
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let tools = post_until(port, &b, &list.to_string(), "\"id\":3");
    assert!(tools.contains("\"extra\""), "{tools}");
    stop(gateway);
}

/// POSTs `body` in `session` on a connection of its own and reads the whole answer stream.
fn post_all(port: u16, session: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-06-18\r\nMcp-Session-Id: {session}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    got
}

#[test]
fn each_session_gets_its_own_progress_from_a_shared_upstream() {
    let place = Place::new();
    let everything = crate::peers::interop_dir()
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let mut gateway = place
        .cmd(&[
            "--policy",
            "standard",
            "wrap",
            "--name",
            "everything",
            "--http",
            "127.0.0.1:0",
            "--",
            "node",
            everything.to_str().unwrap(),
            "stdio",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = http_port(&mut gateway);
    // Both sessions use the same progress token at the same time; each must see its own
    // three steps, and only those.
    let runs: Vec<_> = (0..2)
        .map(|n| {
            let session = open_session(port);
            std::thread::spawn(move || {
                let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                    "params": {"name": "trigger-long-running-operation",
                        "arguments": {"duration": 1 + n, "steps": 3},
                        "_meta": {"progressToken": "same"}}});
                post_all(port, &session, &body.to_string())
            })
        })
        .collect();
    for (n, run) in runs.into_iter().enumerate() {
        let stream = run.join().unwrap();
        let progress = stream.matches("notifications/progress").count();
        assert_eq!(progress, 3, "session {n}: {stream}");
        assert!(stream.contains("\"progressToken\":\"same\""), "{stream}");
        assert!(
            stream.contains(&format!("Duration: {} seconds", 1 + n)),
            "session {n} got another's answer: {stream}"
        );
    }
    assert_eq!(node_children(gateway.id()).len(), 1);
    stop(gateway);
}
