//! Bounded analysis through the real binary: shell commands whose analysis would cost time
//! doubling per level of nesting are refused at once by the hook door, with their own finding
//! id in the ledger, and the everyday nested neighbour is still judged normally.

use crate::hook_common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn nested(form: &str, depth: usize) -> String {
    let mut s = "rm -rf /tmp/x".to_string();
    for _ in 0..depth {
        s = form.replace("{}", &s);
    }
    s
}

fn bash(s: &Sandbox, command: &str) -> (std::process::Output, Duration) {
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": command}}),
    );
    let started = Instant::now();
    let out = s.hook(&["hook", "PreToolUse"], &payload);
    (out, started.elapsed())
}

#[test]
fn nested_case_is_denied_by_its_cost_at_once() {
    let s = Sandbox::new();
    // The reported shape: 26 nested `case` items (537 bytes; 93 s before), and the same with
    // a syntax error inside, which made every enclosing item parse its body again.
    for form in ["case $a in x) {} esac", "case $a in x) {} |;; esac"] {
        let command = nested(form, 26);
        let (out, took) = bash(&s, &command);
        assert_eq!(decision(&out).as_deref(), Some("deny"), "{}", stderr(&out));
        // Far under the hook's 5 s deadline: the cost is known before parsing.
        assert!(took < Duration::from_secs(2), "{took:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("shell.analysis_budget"), "{text}");
    }
    let records = s.records();
    let decisions: Vec<_> = records
        .iter()
        .filter(|r| r["event"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 2);
    for r in decisions {
        assert_eq!(r["verdict"], "deny");
        assert!(
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "shell.analysis_budget"),
            "{r}"
        );
    }
}

#[test]
fn everyday_nested_case_is_judged_normally() {
    let s = Sandbox::new();
    let command = "case \"$1\" in\n  test)\n    case \"$2\" in\n      unit) cargo test --lib ;;\n      *) cargo test ;;\n    esac\n    ;;\n  *) cargo build\nesac";
    let (out, _) = bash(&s, command);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        matches!(decision(&out).as_deref(), None | Some("allow")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A deletion three levels down is still seen (and asked about, not refused for cost).
    let (out, _) = bash(
        &s,
        &nested("case $a in x) {}\nesac", 3).replace("/tmp/x", "~"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("shell.analysis_budget"), "{text}");
    assert!(
        matches!(decision(&out).as_deref(), Some("ask" | "deny")),
        "{text}"
    );
}

#[test]
fn doubling_variables_are_denied_not_run_out_of_memory() {
    let s = Sandbox::new();
    let command = format!("a=xxxxxxxx; {}eval \"$a\"", "a=$a$a; ".repeat(40));
    let (out, took) = bash(&s, &command);
    assert_eq!(decision(&out).as_deref(), Some("deny"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("shell.analysis_budget"));
}
