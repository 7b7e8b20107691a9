//! Shared helpers of the MCP trust tests: a raw JSON-RPC client for the gateway's stdio door
//! (it answers server-to-client requests like a client that declared sampling, elicitation and
//! roots), the malicious server of `tests/interop/malicious.mjs`, and ledger reading.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

pub use crate::hook_common::BIN;

/// The value an elicitation is answered with (it must never reach the ledger in clear).
pub const ELICITED: &str = "tok-elicited-4b1d8e";

/// `node tests/interop/malicious.mjs --state STATE`, with its packages installed.
pub fn malicious(state: &Path) -> Vec<String> {
    let dir = crate::peers::interop_dir();
    vec![
        "node".into(),
        dir.join("malicious.mjs").to_string_lossy().into_owned(),
        "--state".into(),
        state.to_string_lossy().into_owned(),
    ]
}

/// The malicious server serving HTTP (plus `extra` arguments, e.g. `--tls CERT KEY`) on a free
/// port; returns the process and the port it printed.
pub fn malicious_http(state: &Path, extra: &[&std::ffi::OsStr]) -> (Child, String) {
    let m = malicious(state);
    let mut server = Command::new(&m[0])
        .args(&m[1..])
        .args(["--http", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .expect(&line)
        .to_string();
    (server, port)
}

/// The port of a gateway started with `--http 127.0.0.1:0` and `stderr` piped: read from its
/// "MCP at http://…" line (the rest of stderr is drained in the background).
pub fn http_port(child: &mut Child) -> u16 {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("MCP at http://") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the gateway did not start"
        );
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/mcp");
    port.parse().unwrap()
}

/// A gateway process and its stdio MCP session.
pub struct Mcp {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    next: u64,
    /// Notifications received so far.
    pub notes: Vec<Value>,
    /// Server-to-client requests received so far.
    pub asked: Vec<Value>,
}

impl Mcp {
    /// Starts `cmd` (a gateway command) and completes the MCP initialization.
    pub fn start(mut cmd: Command) -> Mcp {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the gateway");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        let mut mcp = Mcp {
            child,
            stdin,
            lines,
            next: 1,
            notes: Vec::new(),
            asked: Vec::new(),
        };
        let init = mcp.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}},
                "clientInfo": {"name": "trust-test", "version": "1"}
            }),
        );
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        mcp.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, v: Value) {
        let mut line = serde_json::to_vec(&v).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns the whole response (`result` or `error`), answering the
    /// server's requests meanwhile.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method} within 60 s"));
            if msg.get("method").is_some() && msg.get("id").is_some() {
                self.answer(msg);
            } else if msg.get("method").is_some() {
                self.notes.push(msg);
            } else if msg["id"] == json!(id) {
                return msg;
            }
        }
    }

    fn answer(&mut self, req: Value) {
        let result = match req["method"].as_str().unwrap_or("") {
            "elicitation/create" => json!({"action": "accept", "content": {"token": ELICITED}}),
            "sampling/createMessage" => json!({"role": "assistant", "model": "test-model",
                "content": {"type": "text", "text": "sampled"}}),
            "roots/list" => json!({"roots": []}),
            _ => json!({}),
        };
        let id = req["id"].clone();
        self.asked.push(req);
        self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    /// Waits until a notification of `method` has arrived.
    pub fn wait_note(&mut self, method: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.notes.iter().any(|n| n["method"] == method) {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {method} within 20 s"));
            if msg.get("method").is_some() && msg.get("id").is_some() {
                self.answer(msg);
            } else if msg.get("method").is_some() {
                self.notes.push(msg);
            }
        }
    }

    /// The names of the tools listed.
    pub fn tool_names(&mut self) -> Vec<String> {
        let r = self.request("tools/list", json!({}));
        r["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools/list failed: {r}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// `tools/call` of `name`; returns the result object (a protocol error fails the test).
    pub fn call(&mut self, name: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": name, "arguments": args}));
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("tools/call {name} was a protocol error: {r}"))
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of a tool result.
pub fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Asserts a refusal (`isError`) naming `rule`.
pub fn assert_refused(result: &Value, rule: &str) {
    assert_eq!(result["isError"], true, "expected a refusal: {result}");
    let t = text(result);
    assert!(t.contains("patchwork-gateway policy"), "{t}");
    assert!(t.contains(rule), "refusal does not name {rule}: {t}");
}

/// A gateway home, a project and a state file for the malicious server.
pub struct Place {
    pub dir: tempfile::TempDir,
}

impl Place {
    pub fn new() -> Place {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home/.ssh")).unwrap();
        std::fs::write(dir.path().join("home/.ssh/id_rsa"), "PRIVATE-KEY-9c2e\n").unwrap();
        std::fs::create_dir_all(dir.path().join("project")).unwrap();
        Place { dir }
    }
    pub fn pw(&self) -> PathBuf {
        self.dir.path().join("pw")
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("listings")
    }

    /// The gateway binary with `args`, its homes in this place.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("HOME", self.home())
            .env("PATCHWORK_HOME", self.pw())
            .env("CLAUDE_PROJECT_DIR", self.dir.path().join("project"))
            .env("PATCHWORK_HTTP_TOKEN", TOKEN)
            .env_remove("PATCHWORK_POLICY")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .current_dir(self.dir.path().join("project"));
        c
    }

    /// `wrap --policy POLICY --name mal -- node malicious.mjs`, initialized.
    pub fn wrap(&self, policy: &str) -> Mcp {
        let mut args = vec!["--policy", policy, "wrap", "--name", "mal", "--"];
        let m = malicious(&self.state());
        args.extend(m.iter().map(String::as_str));
        Mcp::start(self.cmd(&args))
    }

    /// Every ledger record.
    pub fn records(&self) -> Vec<Value> {
        crate::hook_common::ledger_records(&self.pw())
    }
}

/// Records of `event`.
pub fn events<'a>(records: &'a [Value], event: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["event"] == event).collect()
}

/// The bearer token of the HTTP door in these tests (`PATCHWORK_HTTP_TOKEN`).
pub const TOKEN: &str = "trust-tests-bearer-token-5e1f";

/// One raw HTTP/1.1 request with the bearer token; returns the status line and headers (the body may stream on).
pub fn http(port: u16, method: &str, session: Option<&str>, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let session = session
        .map(|id| format!("Mcp-Session-Id: {id}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n\
         {session}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    // Read a little of the body too (an error message), without waiting for a stream's end.
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    if let Ok(n) = s.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

pub fn session_id(response: &str) -> String {
    response
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("mcp-session-id")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no session id in {response}"))
}

/// POSTs `body` on a new connection and reads until `needle` appears in the answer.
pub fn post_until(port: u16, session: &str, body: &str, needle: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n\
         Mcp-Session-Id: {session}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&got).contains(needle) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The resident size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}
