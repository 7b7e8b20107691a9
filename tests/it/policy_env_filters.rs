//! An environment dump piped into a filter (`env | grep JAVA`) is judged by what the filter
//! lets through, against the variables present in the environment the gateway runs in (the
//! agent's): a search that matches a line of a secret variable there prints it, one that
//! matches none prints no secret.

use std::fs;
use std::process::Command;

/// Runs `policy test` on `cases` under strict in the corpus fixture, with `extra` added to
/// the environment; returns its standard output.
fn decide(cases: &str, extra: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let (p, h) = crate::decision_cases::fixture(&root, false);
    let file = root.join("cases.jsonl");
    fs::write(&file, cases).unwrap();
    let mut cmd = Command::new(crate::hook_common::BIN);
    cmd.args(["--policy", "strict", "policy", "test"])
        .arg(&file)
        .current_dir(&p)
        .env("HOME", &h)
        .env("PATCHWORK_HOME", h.join(".patchwork"))
        .env("CLAUDE_PROJECT_DIR", &p)
        .env_remove("DEMO_BILLING_TOKEN");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn case(id: &str, expect: &str, command: &str) -> String {
    format!(
        "{}\n",
        serde_json::json!({"id": id, "expect": expect, "tool_name": "Bash",
            "tool_input": {"command": command}})
    )
}

#[test]
fn a_filtered_environment_dump_is_judged_by_the_secrets_present() {
    let with_secret = [
        case("billing", "block", "env | grep BILLING"),
        case("billing-i", "block", "printenv | grep -i demo_billing"),
        case("value", "block", "env | grep -F s3cr3t-v4lue"),
        case("path", "allow", "env | grep PATH"),
        case("names", "allow", "env | cut -d= -f1 | grep BILLING"),
    ]
    .concat();
    let out = decide(&with_secret, &[("DEMO_BILLING_TOKEN", "s3cr3t-v4lue")]);
    assert!(out.contains("5 passed, 0 failed"), "{out}");
    // Without the variable, nothing secret matches the same search.
    let out = decide(&case("billing", "allow", "env | grep BILLING"), &[]);
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}
