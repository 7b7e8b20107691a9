//! Automatic checkpoints from the MCP door: `serve` signs one every N records through the same
//! library function as the hook, and sends it to the witness named by `witness:` in its config.

use crate::evidence_common::{Home, Witness, text};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn the_mcp_door_checkpoints_every_n_records_and_sends_them_to_the_configured_witness() {
    let h = Home::new();
    h.append(1);
    let w = Witness::start(unsafe { libc::getuid() }, &h.pubkey());
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("gateway.yaml");
    std::fs::write(
        &config,
        format!("builtins: true\nwitness: unix:{}\n", w.socket()),
    )
    .unwrap();
    let mut child = h
        .cmd(&["--policy", "standard", "serve", "--config"])
        .arg(&config)
        .env("PATCHWORK_CHECKPOINT_EVERY", "4")
        .current_dir(project.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ask = |msg: String| {
        writeln!(stdin, "{msg}").unwrap();
        if msg.contains("\"id\"") {
            serde_json::from_str::<Value>(&out.next().unwrap().unwrap()).unwrap()
        } else {
            Value::Null
        }
    };
    ask(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#.into());
    ask(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into());
    for i in 1..=3 {
        let r = ask(format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"list_directory","arguments":{{"path":"."}}}}}}"#
        ));
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    // 1 + 3 decisions + 3 outcomes: due. The door signs within a few seconds, and the witness
    // named in the config cosigns it, with no `checkpoint` command run.
    let checkpoints = h.ledger_dir().join("checkpoints");
    let witnessed = || {
        std::fs::read_dir(&checkpoints)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".witnessed"))
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while witnessed() == 0 {
        assert!(Instant::now() < deadline, "no witnessed checkpoint");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let v: Value =
        serde_json::from_str(&h.ok(&["verify", "--json", "--witness", w.socket()])).unwrap();
    assert_eq!(v["intact"], true, "{v}");
    assert!(v["witness"]["witnessed_size"].as_u64().unwrap() >= 4, "{v}");
    assert_eq!(v["anchoring"]["witness_backlog"], 0, "{v}");
    // Everything after the witnessed checkpoint is the unanchored tail.
    assert!(
        v["anchoring"]["unanchored_records"].as_u64().unwrap() >= 1,
        "{v}"
    );
    let status = h.ok(&["status"]);
    assert!(status.contains("witnessed"), "{status}");
}

#[test]
fn a_witness_setting_that_is_not_a_unix_socket_is_refused_with_the_form() {
    let h = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, "witness: https://witness.example/\n").unwrap();
    let out = h
        .cmd(&["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("unix:PATH"), "{}", text(&out));
}
