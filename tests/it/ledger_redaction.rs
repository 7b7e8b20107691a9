//! Redaction of credentials given on command lines, through the real hook door: the clear text
//! reaches neither the ledger's files nor `log` output, and ordinary neighbours (`docker run -u
//! 1000:1000`, a URL with a port and an `@` in its path) are recorded as they are.

use crate::hook_common::*;
use serde_json::json;

const SECRETS: &[(&str, &str)] = &[
    (
        "curl -u alice:Cu7lPass https://api.example.com/v1",
        "Cu7lPass",
    ),
    (
        "curl --user 'alice:Cu7l Quoted' https://x.example",
        "Cu7l Quoted",
    ),
    (
        "docker login -u bob -p D0ckerPass registry.example.com",
        "D0ckerPass",
    ),
    (
        "docker login --password=D0ckerEq registry.example.com",
        "D0ckerEq",
    ),
    (
        "curl --oauth2-bearer 0auth2Tok https://x.example",
        "0auth2Tok",
    ),
    (
        "aws configure set aws_secret_access_key AwsShortV",
        "AwsShortV",
    ),
    ("htpasswd -b /srv/.htpasswd bob HtPassW0rd", "HtPassW0rd"),
    (
        "git clone https://bob:sl/ash@git.example.com/r.git",
        "sl/ash",
    ),
    ("DOCKER_PASSWORD=EnvPr3fix docker login -u bob", "EnvPr3fix"),
];

const NEIGHBOURS: &[&str] = &[
    "docker run --rm -u 1000:1000 -p 8080:80 nginx",
    "curl -s https://host.example:8080/path/user@example.com",
];

fn bash(s: &Sandbox, command: &str) {
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": command}}),
    );
    let out = s.hook(&["hook", "PreToolUse"], &payload);
    assert!(out.status.code().is_some(), "{}", stderr(&out));
}

fn log_output(s: &Sandbox, args: &[&str]) -> String {
    let out = s.cmd(args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn command_line_credentials_reach_neither_the_ledger_nor_log() {
    let s = Sandbox::new();
    for (command, _) in SECRETS {
        bash(&s, command);
    }
    // The same credentials as arguments of a wrapped MCP tool.
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "mcp__deploy__run", "tool_input": {
            "command": "curl -u ci:McpArgPass https://x.example",
            "login": "docker login -p McpD0cker reg.example"
        }}),
    );
    s.hook(&["hook", "PreToolUse"], &payload);
    for n in NEIGHBOURS {
        bash(&s, n);
    }
    let ledger = String::from_utf8_lossy(&s.ledger_bytes()).into_owned();
    let log = log_output(&s, &["log"]);
    let log_json = log_output(&s, &["log", "--json"]);
    assert_eq!(s.records().len(), SECRETS.len() + 1 + NEIGHBOURS.len());
    let secrets = SECRETS
        .iter()
        .map(|(_, secret)| *secret)
        .chain(["McpArgPass", "McpD0cker"]);
    for secret in secrets {
        for (name, text) in [
            ("ledger", &ledger),
            ("log", &log),
            ("log --json", &log_json),
        ] {
            assert!(!text.contains(secret), "{secret:?} in {name}");
        }
    }
    assert!(ledger.contains("[REDACTED:"));
    // Neighbours keep their text (as the targets the gate recorded).
    assert!(ledger.contains("-u 1000:1000 -p 8080:80"), "{ledger}");
    assert!(
        ledger.contains("host.example:8080/path/user@example.com"),
        "{ledger}"
    );
}
