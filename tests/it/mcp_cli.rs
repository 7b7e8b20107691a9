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
fn a_token_on_the_command_line_is_refused() {
    let out = gateway()
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--auth-token",
            "s3cret-token-0123456",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auth-token is no longer accepted"), "{err}");
    assert!(err.contains("--auth-token-file"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
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

const TOKEN: &str = "cli-tests-bearer-token-77a1";

/// Starts `serve --http ADDR` with extra args and environment; returns the child, its port
/// and everything it printed up to the listening line.
fn http_gateway_at(addr: &str, extra: &[&str], env: &[(&str, &str)]) -> (Child, u16, String) {
    let mut cmd = gateway();
    cmd.args(["serve", "--http", addr])
        .args(extra)
        .env_remove("PATCHWORK_HTTP_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let port = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("gateway exited before listening: {said}"))
            .unwrap();
        said.push_str(&line);
        said.push('\n');
        if let Some(rest) = line.split("MCP at http://").nth(1) {
            break rest
                .trim_end_matches("/mcp")
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
    };
    // The token lines follow the listening line.
    if let Some(Ok(line)) = lines.next() {
        said.push_str(&line);
        said.push('\n');
        if line.contains("generated") {
            for line in lines.by_ref().take(1).flatten() {
                said.push_str(&line);
                said.push('\n');
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, port, said)
}

/// `serve --http 127.0.0.1:0` with `PATCHWORK_HTTP_TOKEN` set to [`TOKEN`].
fn http_gateway(extra: &[&str]) -> (Child, u16) {
    let (child, port, _) =
        http_gateway_at("127.0.0.1:0", extra, &[("PATCHWORK_HTTP_TOKEN", TOKEN)]);
    (child, port)
}

fn post_status_host(port: u16, host: &str, headers: &str) -> u16 {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{headers}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

fn post_status(port: u16, headers: &str) -> u16 {
    post_status_host(port, &format!("127.0.0.1:{port}"), headers)
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bearer_token_is_required_even_on_loopback() {
    let (child, port) = http_gateway(&[]);
    assert_eq!(post_status(port, ""), 401);
    assert_eq!(post_status(port, "Authorization: Bearer wrong\r\n"), 401);
    // A prefix, a longer string and another scheme are all wrong.
    let prefix = format!("Authorization: Bearer {}\r\n", &TOKEN[..TOKEN.len() - 1]);
    assert_eq!(post_status(port, &prefix), 401);
    let longer = format!("Authorization: Bearer {TOKEN}x\r\n");
    assert_eq!(post_status(port, &longer), 401);
    let basic = format!("Authorization: Basic {TOKEN}\r\n");
    assert_eq!(post_status(port, &basic), 401);
    let right = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(post_status(port, &right), 200);
    kill(child);
}

#[test]
fn the_token_is_generated_once_private_and_shown_once() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let env = [("PATCHWORK_HOME", home.path().to_str().unwrap())];
    let (child, port, said) = http_gateway_at("127.0.0.1:0", &[], &env);
    let file = home.path().join("keys/http.token");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "{token}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(said.contains("claude mcp add --transport http"), "{said}");
    assert!(
        said.contains(&format!("--header \"Authorization: Bearer {token}\"")),
        "{said}"
    );
    assert_eq!(post_status(port, ""), 401);
    let right = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(post_status(port, &right), 200);
    kill(child);
    // The next start uses the same token and does not print it again.
    let (child, port, said) = http_gateway_at("127.0.0.1:0", &[], &env);
    assert!(!said.contains(&token), "{said}");
    assert!(said.contains("keys/http.token"), "{said}");
    assert_eq!(post_status(port, &right), 200);
    kill(child);
    // A token file others can read is refused, naming the fix.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = gateway()
        .args(["serve", "--http", "127.0.0.1:0"])
        .env("PATCHWORK_HOME", home.path())
        .env_remove("PATCHWORK_HTTP_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn auth_token_file_is_read() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .unwrap();
    writeln!(f, "file-token-0123456789abcdef").unwrap();
    let (child, port, _) = http_gateway_at(
        "127.0.0.1:0",
        &["--auth-token-file", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(
        post_status(port, "Authorization: Bearer wrong-token-0123456789\r\n"),
        401
    );
    assert_eq!(
        post_status(
            port,
            "Authorization: Bearer file-token-0123456789abcdef\r\n"
        ),
        200
    );
    kill(child);
}

#[test]
fn foreign_host_is_refused_unless_allowed() {
    let (child, port) = http_gateway(&[]);
    let right = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(post_status_host(port, "attacker.example", &right), 403);
    assert_eq!(post_status_host(port, "mcp.example.test:8443", &right), 403);
    kill(child);
    // On all interfaces with --allow-host, remote clients using that name get in (with the
    // token), other names are still refused, and no token is still 401.
    let (child, port, _) = http_gateway_at(
        "0.0.0.0:0",
        &["--allow-host", "mcp.example.test"],
        &[("PATCHWORK_HTTP_TOKEN", TOKEN)],
    );
    assert_eq!(post_status_host(port, "mcp.example.test:8443", &right), 200);
    assert_eq!(post_status_host(port, "mcp.example.test", &right), 200);
    assert_eq!(post_status_host(port, "attacker.example", &right), 403);
    assert_eq!(post_status_host(port, "mcp.example.test", ""), 401);
    kill(child);
    let out = gateway()
        .args(["serve", "--http", "0", "--allow-host", "https://x.example"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a host name"));
}

#[test]
fn a_unix_socket_serves_this_user_without_a_token() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::UnixStream;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pg.sock");
    let mut child = gateway()
        .args(["serve", "--http", &format!("unix:{}", sock.display())])
        .env_remove("PATCHWORK_HTTP_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().expect("gateway exited").unwrap();
    assert!(line.contains("MCP at unix:"), "{line}");
    std::thread::spawn(move || for _ in lines {});
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let mut s = UnixStream::connect(&sock).unwrap();
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[9..12], b"200");
    // A second gateway cannot take over the live socket.
    let out = gateway()
        .args(["serve", "--http", &format!("unix:{}", sock.display())])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    kill(child);
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

#[test]
fn request_bodies_are_bounded_in_time_and_size() {
    let (child, port) = http_gateway(&[]);
    let head = |len: usize| {
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: {len}\r\n\r\n"
        )
    };
    let status = |s: &mut TcpStream| {
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        got
    };
    // A body announced but never finished: 408 after the body timeout, connection closed.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(slow, "{}{{\"jsonrpc\"", head(200)).unwrap();
    let started = std::time::Instant::now();
    let got = status(&mut slow);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("did not arrive within 10 s"), "{got}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // A body above the cap is refused from its announced length, before it is sent.
    let mut big = TcpStream::connect(("127.0.0.1", port)).unwrap();
    big.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(big, "{}", head(33 << 20)).unwrap();
    let got = status(&mut big);
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert!(got.contains("cap of 32 MiB"), "{got}");
    // The door still serves.
    let right = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(post_status(port, &right), 200);
    kill(child);
}
