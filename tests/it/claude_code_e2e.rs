//! The real Claude Code CLI in the loop. `init claude-code` installs the gateway into a throwaway
//! HOME, `claude mcp list` must see the gateway's MCP server connected, and `claude -p` runs
//! against a scripted stand-in for the Anthropic Messages API served here on loopback. The
//! stand-in answers with a script of tool calls — Claude Code's own Bash/Read/Write/Edit and the
//! gateway's `mcp__patchwork__…` tools, everyday and dangerous — so this proves, with the real
//! client, that refused calls never run, allowed ones do, and the ledger holds both doors'
//! records. It is the test that catches a change in Claude Code's hook or MCP contract.

use crate::hook_common::*;
use crate::peers;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// One scripted model turn: the tool to call and its input.
struct Step {
    tool: &'static str,
    input: Value,
}

/// What the stand-in saw: every tool result Claude Code sent back, by tool-use id.
#[derive(Default)]
struct Seen {
    results: Vec<(String, bool, String)>,
}

/// The script, with paths of this sandbox.
fn script(s: &Sandbox) -> Vec<Step> {
    let p = |name: &str| s.project.join(name).to_string_lossy().into_owned();
    vec![
        Step {
            tool: "Bash",
            input: json!({"command": "echo everyday > made-by-bash.txt", "description": "write a file"}),
        },
        Step {
            tool: "Bash",
            input: json!({"command": "rm -rf ~/precious", "description": "delete a folder"}),
        },
        Step {
            tool: "Read",
            input: json!({"file_path": p(".env")}),
        },
        Step {
            tool: "Write",
            input: json!({"file_path": p("notes.md"), "content": "first draft\n"}),
        },
        Step {
            tool: "Edit",
            input: json!({"file_path": p("notes.md"), "old_string": "first draft", "new_string": "second draft"}),
        },
        Step {
            tool: "Write",
            input: json!({"file_path": p(".claude/settings.local.json"), "content": "{\"disableAllHooks\": true}\n"}),
        },
        Step {
            tool: "mcp__patchwork__run_command",
            input: json!({"command": "echo via-mcp > via-mcp.txt"}),
        },
        Step {
            tool: "mcp__patchwork__read_file",
            input: json!({"path": ".env"}),
        },
    ]
}

#[test]
fn real_claude_code_obeys_the_gateway() {
    let claude = peers::claude_code();
    let s = Sandbox::new();
    std::fs::write(s.project.join(".env"), "API_KEY=sk-e2e-5d1c9a7f3b\n").unwrap();
    std::fs::create_dir_all(s.project.join(".claude")).unwrap();
    std::fs::create_dir_all(s.home.join("precious")).unwrap();
    std::fs::write(s.home.join("precious/keep.txt"), "keep me\n").unwrap();

    let out = s
        .cmd(&[
            "init",
            "claude-code",
            "--strict-profile",
            "--policy-mode",
            "fail-closed",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", stderr(&out));
    trust_project(&s);

    let list = claude_cmd(&claude, &s, None)
        .args(["mcp", "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("patchwork") && l.contains("Connected")),
        "claude mcp list does not show the gateway connected:\n{listing}\n{}",
        stderr(&list)
    );

    let steps = script(&s);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let port = serve_stand_in(steps, seen.clone());
    let out = claude_cmd(&claude, &s, Some(port))
        .args(["-p", "Do the scripted work.", "--output-format", "json"])
        .args(["--allowedTools", "Bash,Read,Write,Edit,mcp__patchwork"])
        .output()
        .unwrap();
    let result: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "claude -p printed no JSON result ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    assert_eq!(result["subtype"], "success", "{result:#}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.results.len(), 8, "tool results: {:?}", seen.results);

    // Allowed calls ran.
    let read = |name: &str| std::fs::read_to_string(s.project.join(name)).ok();
    assert_eq!(read("made-by-bash.txt").as_deref(), Some("everyday\n"));
    assert_eq!(read("notes.md").as_deref(), Some("second draft\n"));
    assert_eq!(read("via-mcp.txt").as_deref(), Some("via-mcp\n"));
    // Refused calls never ran.
    assert!(s.home.join("precious/keep.txt").exists(), "rm -rf ran");
    assert!(
        !s.project.join(".claude/settings.local.json").exists(),
        "the settings write ran"
    );
    for (i, (id, is_error, text)) in seen.results.iter().enumerate() {
        let refused = [1, 2, 5, 7].contains(&i);
        assert_eq!(
            refused,
            text.contains("patchwork-gateway"),
            "step {i} ({id}): {text}"
        );
        if refused {
            assert!(is_error, "step {i} refused without is_error: {text}");
            assert!(!text.contains("sk-e2e-5d1c9a7f3b"), "secret leaked: {text}");
        }
    }
    let denied: Vec<&str> = result["permission_denials"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["tool_name"].as_str())
        .collect();
    for tool in ["Bash", "Read", "Write", "mcp__patchwork__read_file"] {
        assert!(denied.contains(&tool), "{tool} not in {denied:?}");
    }

    // Both doors wrote their records: hook decisions for every call, MCP-door decisions for
    // the gateway's own tool that ran, and the refusals with their rule.
    let records = s.records();
    let by_door = |door: &str| records.iter().filter(|r| r["door"] == door).count();
    assert!(by_door("hook") >= 8, "hook records: {}", by_door("hook"));
    assert!(by_door("mcp") >= 1, "mcp records: {}", by_door("mcp"));
    let denies = records.iter().filter(|r| r["verdict"] == "deny").count();
    assert!(denies >= 4, "deny records: {denies}");
    let verify = s.cmd(&["verify"]).output().unwrap();
    assert!(verify.status.success(), "verify: {}", stderr(&verify));
}

/// Marks the project folder as trusted in `~/.claude.json`, as a user does by answering the trust
/// dialog the first time they run `claude` there (init left the rest of the file as it is).
fn trust_project(s: &Sandbox) {
    let path = s.home.join(".claude.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let key = s.project.to_string_lossy().into_owned();
    config["projects"][key.as_str()] = json!({"hasTrustDialogAccepted": true});
    config["hasCompletedOnboarding"] = json!(true);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// `claude` with the sandbox's HOME, no network but the stand-in, and a fake key.
fn claude_cmd(claude: &Path, s: &Sandbox, port: Option<u16>) -> Command {
    let mut c = Command::new(claude);
    c.current_dir(&s.project)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.home)
        .env("PATCHWORK_HOME", &s.pw)
        .env("ANTHROPIC_API_KEY", "sk-ant-e2e-fake")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .stdin(std::process::Stdio::null());
    if let Some(port) = port {
        c.env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{port}"));
    }
    c
}

/// Serves the stand-in Messages API on a free loopback port; returns the port.
fn serve_stand_in(steps: Vec<Step>, seen: Arc<Mutex<Seen>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let steps = Arc::new(steps);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (steps, seen) = (steps.clone(), seen.clone());
            std::thread::spawn(move || {
                let _ = answer(conn, &steps, &seen);
            });
        }
    });
    port
}

/// Reads one HTTP request and answers it, then closes the connection.
fn answer(mut conn: TcpStream, steps: &[Step], seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !path.starts_with("/v1/messages") || path.contains("count_tokens") {
        let text = r#"{"input_tokens": 10}"#;
        return write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        );
    }
    let events = turn(&request, steps, seen);
    write!(
        conn,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
    )?;
    for e in events {
        write!(
            conn,
            "event: {}\ndata: {e}\n\n",
            e["type"].as_str().unwrap()
        )?;
    }
    conn.flush()
}

/// The model's next turn: the next scripted tool call in the main loop (the request that
/// offers the Bash tool), plain text otherwise and when the script is done.
fn turn(request: &Value, steps: &[Step], seen: &Mutex<Seen>) -> Vec<Value> {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let main_loop = request["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["name"] == "Bash"));
    let done = messages.iter().filter(|m| m["role"] == "assistant").count();
    let mut seen = seen.lock().unwrap();
    let blocks = messages
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result");
    for block in blocks {
        let id = block["tool_use_id"].as_str().unwrap_or("").to_owned();
        if seen.results.iter().any(|(known, ..)| *known == id) {
            continue;
        }
        let text = match &block["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let is_error = block["is_error"].as_bool().unwrap_or(false);
        seen.results.push((id, is_error, text));
    }
    seen.results.sort();
    let block = match steps.get(done).filter(|_| main_loop) {
        Some(step) => json!({"type": "tool_use", "id": format!("toolu_e2e_{done:02}"),
                             "name": step.tool, "input": {}}),
        None => json!({"type": "text", "text": ""}),
    };
    let delta = match steps.get(done).filter(|_| main_loop) {
        Some(step) => json!({"type": "input_json_delta", "partial_json": step.input.to_string()}),
        None => json!({"type": "text_delta", "text": "Done."}),
    };
    let stop = if block["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    };
    vec![
        json!({"type": "message_start", "message": {"id": format!("msg_e2e_{done}"), "type": "message",
            "role": "assistant", "model": request["model"], "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": block}),
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop"}),
    ]
}
