//! `doctor` and `status` after a real `init`, and the SessionStart self-test.

use crate::hook_common::*;
use serde_json::{Value, json};

#[test]
fn doctor_and_status_after_init() {
    let s = Sandbox::new();
    // Before init: doctor fails and says how to fix it.
    let out = s.cmd(&["doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("run `patchwork-gateway init claude-code`"),
        "{}",
        stdout(&out)
    );

    let init = s
        .cmd(&["init", "claude-code", "--strict-profile"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", stderr(&init));
    let out = s.cmd(&["doctor"]).output().unwrap();
    let report = stdout(&out);
    for check in [
        "[pass] policy: `strict`",
        "[pass] self-test",
        "[pass] ledger",
        "[pass] hooks in",
        "[pass] MCP registration",
    ] {
        assert!(report.contains(check), "{check}: {report}");
    }
    // The sandbox has no watchdog timer: at most that check fails, with its fix.
    let failed: Vec<&str> = report.lines().filter(|l| l.starts_with("[FAIL]")).collect();
    assert!(
        failed.iter().all(|l| l.starts_with("[FAIL] watchdog")),
        "{report}"
    );
    if !failed.is_empty() {
        assert!(report.contains("fix: run `patchwork-gateway watchdog --install`"));
        assert_eq!(out.status.code(), Some(1));
    }

    let out = s.cmd(&["status"]).output().unwrap();
    assert!(out.status.success());
    let st = stdout(&out);
    assert!(st.contains("policy:   strict"), "{st}");
    assert!(st.contains("fail-closed"), "{st}");
    assert!(st.contains("ledger:"), "{st}");
}

#[test]
fn session_start_records_whether_the_gate_is_armed() {
    let s = Sandbox::new();
    let payload = s.payload("SessionStart", json!({"source": "startup"}));
    let out = s.hook(&["--policy", "strict", "hook", "SessionStart"], &payload);
    assert_eq!(assert_one_json_object(&out), json!({}));
    // The audit profile allows everything: the self-test says so, and the user is warned.
    let out = s.hook(&["--policy", "audit", "hook", "SessionStart"], &payload);
    let v = assert_one_json_object(&out);
    assert!(
        v["systemMessage"].as_str().unwrap().contains("NOT armed"),
        "{v}"
    );
    let starts: Vec<Value> = s
        .records()
        .into_iter()
        .filter(|r| r["event"] == "session.start")
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0]["armed"], true);
    assert_eq!(starts[1]["armed"], false);
}
