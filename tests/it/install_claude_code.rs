//! `init claude-code` / `uninstall claude-code` against real files in a temporary HOME.

use crate::hook_common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

trait Files {
    fn settings(&self) -> PathBuf;
    fn claude_json(&self) -> PathBuf;
    fn run(&self, args: &[&str]) -> Output;
}

impl Files for Sandbox {
    fn settings(&self) -> PathBuf {
        self.home.join(".claude/settings.json")
    }

    fn claude_json(&self) -> PathBuf {
        self.home.join(".claude.json")
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
        out
    }
}

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn existing_settings() -> Value {
    json!({
        "model": "opus",
        "permissions": {"allow": ["Bash(npm run test:*)"], "deny": ["Read(./.env)"]},
        "env": {"FOO": "bar"},
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/lint-hook", "timeout": 5}]}
            ],
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
        }
    })
}

fn ours(settings: &Value, event: &str) -> Vec<Value> {
    settings["hooks"][event]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["hooks"].as_array().unwrap().clone())
        .filter(|h| {
            h["command"]
                .as_str()
                .unwrap()
                .ends_with("patchwork-gateway")
        })
        .collect()
}

#[test]
fn init_merges_is_idempotent_and_uninstall_restores() {
    let env = Sandbox::new();
    // Formatted the way Claude Code writes it, plus an odd layout for ~/.claude.json.
    let original = serde_json::to_string_pretty(&existing_settings()).unwrap() + "\n";
    std::fs::write(env.settings(), &original).unwrap();
    let claude_json = r#"{"numStartups": 3, "mcpServers": {"memory": {"command": "npx", "args": ["-y", "mem"]}}, "projects": {}}"#;
    std::fs::write(env.claude_json(), claude_json).unwrap();

    env.run(&["init", "claude-code"]);
    let s = read(&env.settings());
    assert_eq!(s["model"], "opus");
    assert_eq!(s["permissions"], existing_settings()["permissions"]);
    assert_eq!(s["env"], json!({"FOO": "bar"}));
    assert_eq!(s["hooks"]["Stop"], existing_settings()["hooks"]["Stop"]);
    let pre = s["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre[0], existing_settings()["hooks"]["PreToolUse"][0]);
    for event in [
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "PermissionRequest",
        "UserPromptSubmit",
        "SessionStart",
        "SessionEnd",
        "SubagentStart",
        "SubagentStop",
    ] {
        let h = ours(&s, event);
        assert_eq!(h.len(), 1, "{event}");
        let h = &h[0];
        assert_eq!(h["type"], "command");
        assert_eq!(h["timeout"], 10, "timeouts are seconds");
        assert!(Path::new(h["command"].as_str().unwrap()).is_absolute());
        let args: Vec<&str> = h["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.windows(2).any(|w| w == ["hook", event]), "{args:?}");
        assert!(
            args.windows(2)
                .any(|w| w == ["--policy-mode", "fail-closed"])
        );
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--home" && w[1] == env.pw.to_str().unwrap())
        );
    }
    let c = read(&env.claude_json());
    assert_eq!(c["numStartups"], 3);
    assert_eq!(c["mcpServers"]["memory"]["command"], "npx");
    assert_eq!(c["mcpServers"]["patchwork"]["type"], "stdio");
    assert_eq!(
        c["mcpServers"]["patchwork"]["args"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "serve"
    );
    assert!(
        env.home
            .join(".claude/settings.json.patchwork-backup")
            .exists()
    );

    let first = (
        std::fs::read(env.settings()).unwrap(),
        std::fs::read(env.claude_json()).unwrap(),
    );
    env.run(&["init", "claude-code"]);
    let second = (
        std::fs::read(env.settings()).unwrap(),
        std::fs::read(env.claude_json()).unwrap(),
    );
    assert!(first == second, "a second init must change nothing");

    env.run(&["uninstall", "claude-code"]);
    assert_eq!(std::fs::read_to_string(env.settings()).unwrap(), original);
    assert_eq!(
        std::fs::read_to_string(env.claude_json()).unwrap(),
        claude_json
    );
}

#[test]
fn uninstall_after_user_edits_removes_only_ours() {
    let env = Sandbox::new();
    std::fs::write(env.settings(), existing_settings().to_string()).unwrap();
    env.run(&["init", "claude-code", "--policy-mode", "audit"]);
    let mut s = read(&env.settings());
    assert!(
        ours(&s, "PreToolUse")[0]["args"]
            .to_string()
            .contains("audit")
    );
    s["theme"] = json!("dark");
    s["hooks"]["PostToolUse"]
        .as_array_mut()
        .unwrap()
        .push(json!({"hooks": [{"type": "command", "command": "/bin/true"}]}));
    std::fs::write(env.settings(), serde_json::to_vec(&s).unwrap()).unwrap();

    env.run(&["uninstall", "claude-code"]);
    let after = read(&env.settings());
    let mut expected = existing_settings();
    expected["theme"] = json!("dark");
    expected["hooks"]["PostToolUse"] =
        json!([{"hooks": [{"type": "command", "command": "/bin/true"}]}]);
    assert_eq!(after, expected);
    let c = read(&env.claude_json());
    assert!(c.get("mcpServers").is_none(), "{c}");
}

#[test]
fn project_scope_and_empty_start() {
    let env = Sandbox::new();
    let project = env.home.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let dir = project.to_str().unwrap();
    env.run(&["init", "claude-code", "--project", dir, "--strict-profile"]);
    // The project policy is written and trusted, so the Gate uses it there.
    assert!(project.join(".patchwork/policy.yaml").exists());
    let status = String::from_utf8(env.run(&["status", "--project", dir]).stdout).unwrap();
    assert!(status.contains("policy:   strict"), "{status}");
    let s = read(&project.join(".claude/settings.json"));
    assert_eq!(ours(&s, "PreToolUse").len(), 1);
    assert_eq!(s["hooks"]["PreToolUse"][0]["matcher"], "*");
    let m = read(&project.join(".mcp.json"));
    assert!(
        m["mcpServers"]["patchwork"]["command"]
            .as_str()
            .unwrap()
            .ends_with("patchwork-gateway")
    );
    assert!(!env.settings().exists(), "user scope untouched");
    env.run(&[
        "uninstall",
        "claude-code",
        "--project",
        project.to_str().unwrap(),
    ]);
    assert_eq!(read(&project.join(".claude/settings.json")), json!({}));
    assert_eq!(read(&project.join(".mcp.json")), json!({}));
}

#[test]
fn refuses_symlinked_settings() {
    let env = Sandbox::new();
    let real = env.home.join("real-settings.json");
    std::fs::write(&real, "{}\n").unwrap();
    std::os::unix::fs::symlink(&real, env.settings()).unwrap();
    let out = env.cmd(&["init", "claude-code"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("symlink"));
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "{}\n");
}

#[test]
fn refuses_to_clobber_invalid_json() {
    let env = Sandbox::new();
    std::fs::write(env.settings(), "{ not json").unwrap();
    let out = env.cmd(&["init", "claude-code"]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(env.settings()).unwrap(),
        "{ not json"
    );
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn installed_command_run_by_sh_blocks_rm_rf_root() {
    let env = Sandbox::new();
    env.run(&["init", "claude-code", "--strict-profile"]);
    assert!(
        std::fs::read_to_string(env.pw.join("policy.yaml"))
            .unwrap()
            .contains("strict")
    );
    let s = read(&env.settings());
    let h = &ours(&s, "PreToolUse")[0];
    let mut line = shell_quote(h["command"].as_str().unwrap());
    for a in h["args"].as_array().unwrap() {
        line.push(' ');
        line.push_str(&shell_quote(a.as_str().unwrap()));
    }
    let project = env.home.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let payload = json!({
        "session_id": "s-sh", "cwd": project, "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "tool_use_id": "toolu_sh"
    });
    // As Claude Code runs it: a shell, the user's HOME, no PATCHWORK_* variables.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env_clear()
        .env("HOME", &env.home)
        .env("PATH", "/usr/bin:/bin")
        .env("CLAUDE_PROJECT_DIR", &project)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let decision = v["hookSpecificOutput"]["permissionDecision"].as_str();
    assert!(matches!(decision, Some("deny" | "ask")), "{v}");
    assert_eq!(out.status.code(), Some(0));
    // The decision went to the gateway home named in the installed arguments.
    assert!(env.pw.join("ledger").exists());
}
