//! `log --follow` shows a record appended by another process within a second.

use crate::views_common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn follow_shows_a_record_from_another_process_within_a_second() {
    let d = Driven {
        s: crate::hook_common::Sandbox::new(),
        session: "sess-follow".into(),
    };
    d.hook("SessionStart", json!({"source": "startup"}));
    let mut child =
        d.s.cmd(&["log", "--follow", "--jsonl"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    // The existing record first.
    let (_, first) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("existing record");
    assert!(first.contains("session.start"), "{first}");
    d.hook("PreToolUse", json!({"tool_name": "Bash", "tool_input": {"command": "echo followed"}, "tool_use_id": "toolu_f"}));
    let written = Instant::now();
    let (seen, line) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the appended record");
    let _ = child.kill();
    let _ = child.wait();
    let r: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(r["event"], "decision");
    assert_eq!(r["target"][0], "command_execute:echo followed");
    let lag = seen.saturating_duration_since(written);
    assert!(
        lag < Duration::from_secs(1),
        "shown {lag:?} after it was written"
    );
}
