//! The watchdog repairs wiped or altered hook installations and records each repair.

use crate::hook_common::*;
use serde_json::{Value, json};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn our_pre_tool_use(settings: &Value) -> Vec<Value> {
    settings["hooks"]["PreToolUse"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
        .filter(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.ends_with("patchwork-gateway"))
        })
        .collect()
}

#[test]
fn repairs_a_wiped_settings_file_and_registration() {
    let s = Sandbox::new();
    let settings = s.home.join(".claude/settings.json");
    std::fs::write(&settings, r#"{"model":"opus"}"#).unwrap();
    ok(&s.cmd(&["init", "claude-code"]).output().unwrap());
    let installed = std::fs::read(&settings).unwrap();

    // Nothing to do when intact.
    let report = ok(&s.cmd(&["watchdog", "--once"]).output().unwrap());
    assert!(!report.contains("repaired"), "{report}");
    assert_eq!(std::fs::read(&settings).unwrap(), installed);

    // Wiped: the file is gone, and the MCP registration too.
    std::fs::remove_file(&settings).unwrap();
    std::fs::write(s.home.join(".claude.json"), "{}").unwrap();
    let report = ok(&s.cmd(&["watchdog", "--once"]).output().unwrap());
    assert!(report.contains("repaired"), "{report}");
    let v: Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    assert_eq!(our_pre_tool_use(&v).len(), 1);
    let c: Value =
        serde_json::from_slice(&std::fs::read(s.home.join(".claude.json")).unwrap()).unwrap();
    assert!(c["mcpServers"]["patchwork"].is_object());

    // Altered: our handler demoted to audit mode and its timeout changed by someone else.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    for g in v["hooks"]["PreToolUse"].as_array_mut().unwrap() {
        for h in g["hooks"].as_array_mut().unwrap() {
            h["args"] = json!(["hook", "PreToolUse", "--policy-mode", "audit"]);
            h["timeout"] = json!(2000);
        }
    }
    std::fs::write(&settings, serde_json::to_vec(&v).unwrap()).unwrap();
    let report = ok(&s.cmd(&["watchdog", "--once"]).output().unwrap());
    assert!(report.contains("PreToolUse (repaired)"), "{report}");
    let v: Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    let h = &our_pre_tool_use(&v)[0];
    assert_eq!(h["timeout"], 10);
    assert!(h["args"].to_string().contains("fail-closed"));

    let repairs: Vec<Value> = s
        .records()
        .into_iter()
        .filter(|r| r["event"] == "watchdog.repair")
        .collect();
    assert_eq!(
        repairs.len(),
        3,
        "two files on the wipe, one on the alteration"
    );
}

#[test]
fn says_so_when_nothing_is_installed() {
    let s = Sandbox::new();
    let out = s.cmd(&["watchdog", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("init claude-code"));
}
