//! Command-line behaviour of the MCP door that needs no Node peers: exposure rules, bearer
//! tokens, argument errors, and the stdio server's answers to a raw JSON-RPC client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

fn gateway() -> Command {
    let mut cmd = Command::new(crate::hook_common::BIN);
    cmd.env(
        "PATCHWORK_HOME",
        std::env::temp_dir().join("pg-mcp-cli-home"),
    );
    cmd
}

#[test]
fn non_loopback_http_needs_an_auth_token() {
    let out = gateway()
        .args(["serve", "--http", "0.0.0.0:0"])
        .env_remove("PATCHWORK_MCP_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auth-token"), "{err}");
}

#[test]
fn wrap_needs_exactly_one_upstream() {
    let out = gateway().arg("wrap").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to wrap"));
    let out = gateway()
        .args(["wrap", "--url", "http://127.0.0.1:9/mcp", "--", "true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not both"));
}

/// Starts `serve --http 127.0.0.1:0` with extra args; returns the child and its port.
fn http_gateway(extra: &[&str]) -> (Child, u16) {
    let mut child = gateway()
        .args(["serve", "--http", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("gateway exited before listening")
            .unwrap();
        if let Some(rest) = line.split("MCP at http://127.0.0.1:").nth(1) {
            break rest.trim_end_matches("/mcp").parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

fn post_status(port: u16, headers: &str) -> u16 {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{headers}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[test]
fn bearer_token_is_required_when_configured() {
    let (mut child, port) = http_gateway(&["--auth-token", "s3cret-token"]);
    assert_eq!(post_status(port, ""), 401);
    assert_eq!(post_status(port, "Authorization: Bearer wrong\r\n"), 401);
    assert_eq!(
        post_status(port, "Authorization: Bearer s3cret-token\r\n"),
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn foreign_host_is_refused() {
    let (mut child, port) = http_gateway(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: attacker.example\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[9..12], b"403");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn stdio_refusal_is_a_tool_result_and_unknown_tools_are_protocol_errors() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join(".env"), "TOKEN=never-show-this\n").unwrap();
    let mut child = gateway()
        .args(["--policy", "strict", "serve"])
        .env("PATCHWORK_HOME", home.path())
        .current_dir(project.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ask = |msg: &str| {
        writeln!(stdin, "{msg}").unwrap();
        if msg.contains("\"id\"") {
            serde_json::from_str::<serde_json::Value>(&out.next().unwrap().unwrap()).unwrap()
        } else {
            serde_json::Value::Null
        }
    };
    let init = ask(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
    );
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], true);
    ask(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let refused = ask(
        r#"{"jsonrpc":"2.0","id":"r","method":"tools/call","params":{"name":"read_file","arguments":{"path":".env"}}}"#,
    );
    assert_eq!(refused["id"], "r", "the id keeps its JSON type");
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("patchwork-gateway policy"), "{text}");
    assert!(!refused.to_string().contains("never-show-this"));
    let unknown = ask(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#,
    );
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the server must exit cleanly on stdin EOF"
    );
}

#[test]
fn example_agent_configs_are_valid_and_run_the_gateway() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for file in [
        "claude-code/.mcp.json",
        "claude-code/wrap-filesystem.mcp.json",
        "cursor/mcp.json",
        "gemini-cli/settings.json",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        for (name, server) in v["mcpServers"].as_object().unwrap() {
            assert_eq!(server["command"], "patchwork-gateway", "{file}: {name}");
            let args: Vec<&str> = server["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert!(
                args.contains(&"serve") || args.contains(&"wrap"),
                "{file}: {name}"
            );
        }
    }
    let settings: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("claude-code/settings.json")).unwrap(),
    )
    .unwrap();
    let deny = settings["permissions"]["deny"].as_array().unwrap();
    for tool in ["Bash", "Read", "Write", "Edit"] {
        assert!(deny.iter().any(|d| d == tool), "{tool} is not denied");
    }
}
