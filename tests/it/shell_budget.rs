//! Bounded analysis through the real binary: shell commands whose analysis would cost time
//! doubling per level of nesting are refused at once by the hook door, with their own finding
//! id in the ledger, and the everyday nested neighbour is still judged normally.

use crate::hook_common::*;
use serde_json::json;

fn nested(form: &str, depth: usize) -> String {
    let mut s = "rm -rf /tmp/x".to_string();
    for _ in 0..depth {
        s = form.replace("{}", &s);
    }
    s
}

/// The hook's answer to a Bash call. A refusal for cost names `shell.analysis_budget`; one for
/// the door's deadline would name the deadline instead, so no timing is needed to tell them
/// apart.
fn bash(s: &Sandbox, command: &str) -> std::process::Output {
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": command}}),
    );
    s.hook(&["hook", "PreToolUse"], &payload)
}

#[test]
fn nested_case_is_denied_by_its_cost_at_once() {
    let s = Sandbox::new();
    // The reported shape: 26 nested `case` items (537 bytes; 93 s before), and the same with
    // a syntax error inside, which made every enclosing item parse its body again.
    for form in ["case $a in x) {} esac", "case $a in x) {} |;; esac"] {
        let command = nested(form, 26);
        let out = bash(&s, &command);
        assert_eq!(decision(&out).as_deref(), Some("deny"), "{}", stderr(&out));
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
    let out = bash(&s, command);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        matches!(decision(&out).as_deref(), None | Some("allow")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A deletion three levels down is still seen (and asked about, not refused for cost).
    let out = bash(
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
    let out = bash(&s, &command);
    assert_eq!(decision(&out).as_deref(), Some("deny"), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("shell.analysis_budget"));
}

#[test]
fn unclosed_substitutions_are_denied_by_their_cost() {
    let s = Sandbox::new();
    // Unclosed `"$(` and `<(` inside each other in a heredoc (the word grammar read each level twice: 25 s
    // for a 665-byte mix before its work was counted).
    let mut command = "rm -rf /tmp/x }".to_string();
    for _ in 0..14 {
        command = format!("echo \"$(cat <({command}");
    }
    let command = format!("x=$(cat <<EOF\n{command}\nEOF\n)");
    let out = bash(&s, &command);
    assert_eq!(decision(&out).as_deref(), Some("deny"), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("shell.analysis_budget"), "{text}");
    // The everyday neighbour: a quoted substitution in a substitution is judged normally.
    let out = bash(
        &s,
        "echo \"$(basename \"$(git rev-parse --show-toplevel)\")\"",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("shell.analysis_budget"), "{text}");
    assert!(out.status.success(), "{}", stderr(&out));
}
