//! Webhook alerts: delivered to a local HTTP server, off the decision path, with retry;
//! failures recorded in the ledger.

use crate::hook_common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// Serves `statuses` in turn (one per connection) and sends each request body to the channel.
fn webhook(statuses: Vec<u16>) -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for status in statuses {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                line.clear();
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tx.send(
                json!({"status": status, "body": serde_json::from_slice::<Value>(&body).unwrap()}),
            );
        }
    });
    (url, rx)
}

fn deny_rm_rf(s: &Sandbox, url: &str, id: &str) -> std::process::Output {
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /", "description": "SECRET-DESC"}, "tool_use_id": id}),
    );
    let mut cmd = s.cmd(&["--policy", "strict", "hook", "PreToolUse"]);
    cmd.env("PATCHWORK_WEBHOOK_URL", url);
    run_with_stdin(cmd, &payload)
}

#[test]
fn deny_alert_is_delivered_with_retry() {
    let s = Sandbox::new();
    let (url, rx) = webhook(vec![500, 200]);
    let out = deny_rm_rf(&s, &url, "toolu_alert");
    assert_eq!(decision(&out).as_deref(), Some("deny"), "{}", stderr(&out));
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("first attempt");
    assert_eq!(first["status"], 500);
    let second = rx.recv_timeout(Duration::from_secs(20)).expect("retry");
    assert_eq!(second["status"], 200);
    let body = &second["body"];
    assert_eq!(body["kind"], "deny");
    assert_eq!(body["tool"], "Bash");
    assert_eq!(body["tool_use_id"], "toolu_alert");
    assert_eq!(body["session"], "sess-test");
    assert!(!body["rules"].as_array().unwrap().is_empty());
    assert!(body["seq"].is_u64());
    assert!(
        !body.to_string().contains("SECRET-DESC"),
        "no tool input in alerts"
    );
    // The spool is emptied once delivered.
    let spool = s.pw.join("state/alerts/spool");
    wait_until(Duration::from_secs(10), "an empty alert spool", || {
        std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0) == 0
    });
}

#[test]
fn failed_delivery_is_recorded() {
    let s = Sandbox::new();
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = deny_rm_rf(&s, &format!("http://127.0.0.1:{port}/x"), "toolu_fail");
    assert_eq!(decision(&out).as_deref(), Some("deny"));
    let find = || {
        s.records()
            .into_iter()
            .find(|r| r["event"] == "alert.failed")
    };
    wait_until(Duration::from_secs(20), "an alert.failed record", || {
        find().is_some()
    });
    let r = find().unwrap();
    assert_eq!(r["alert_kind"], "deny");
    assert_eq!(r["webhook_host"], format!("127.0.0.1:{port}"));
}

#[test]
fn no_webhook_no_spool() {
    let s = Sandbox::new();
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "tool_use_id": "t"}),
    );
    let out = s.hook(&["--policy", "strict", "hook", "PreToolUse"], &payload);
    assert_eq!(decision(&out).as_deref(), Some("deny"));
    assert!(!s.pw.join("state/alerts/spool").exists());
}

/// `alerts.webhook` in the policy is used when `PATCHWORK_WEBHOOK_URL` is not set.
#[test]
fn the_policy_names_the_webhook() {
    let s = Sandbox::new();
    let (url, rx) = webhook(vec![200]);
    let policy = write_policy(
        s.dir.path(),
        "alerting.yaml",
        &format!(
            "name: alerting\ndefault: allow\nalerts:\n  webhook: {url}\nrules:\n  - id: no.rm\n    \
             effect: deny\n    reason: no rm\n    command: [rm, \"**\"]\n"
        ),
    );
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}, "tool_use_id": "toolu_pol"}),
    );
    let out = s.hook(
        &["--policy", policy.to_str().unwrap(), "hook", "PreToolUse"],
        &payload,
    );
    assert_eq!(decision(&out).as_deref(), Some("deny"), "{}", stderr(&out));
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("an alert at the policy's webhook");
    assert_eq!(got["body"]["tool_use_id"], "toolu_pol");
    assert_eq!(got["body"]["kind"], "deny");
}
