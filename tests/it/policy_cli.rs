//! The `policy` commands, run as real processes against real files in a scratch home and
//! project.

use crate::hook_common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch user home, gateway home and project folder.
struct Sandbox {
    _dir: tempfile::TempDir,
    home: PathBuf,
    patchwork_home: PathBuf,
    project: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("project");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        Sandbox {
            patchwork_home: home.join(".patchwork"),
            home,
            project,
            _dir: dir,
        }
    }

    /// Runs the binary in the project folder with a clean environment.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(&self.project)
            .env("HOME", &self.home)
            .env("PATCHWORK_HOME", &self.patchwork_home)
            .env_remove("CLAUDE_PROJECT_DIR")
            .env_remove("PATCHWORK_POLICY")
            .output()
            .unwrap()
    }
}

fn config(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn init_writes_the_profile_and_never_overwrites() {
    let s = Sandbox::new();
    let o = s.run(&["policy", "init"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file = s.patchwork_home.join("policy.yaml");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        config("standard.yaml")
    );
    assert!(stdout(&o).contains(&file.display().to_string()));

    // A second init refuses, names the file and leaves it alone.
    std::fs::write(&file, "name: mine\n").unwrap();
    let o = s.run(&["policy", "init", "--strict"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&file.display().to_string()),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("not overwriting"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "name: mine\n");
}

#[test]
fn init_project_strict_writes_into_the_project() {
    let s = Sandbox::new();
    let o = s.run(&["policy", "init", "--strict", "--project"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file = s.project.join(".patchwork/policy.yaml");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        config("strict.yaml")
    );
    assert!(!s.patchwork_home.join("policy.yaml").exists());
    let again = s.run(&["policy", "init", "--project"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        config("strict.yaml")
    );
}

#[test]
fn validate_accepts_good_files_and_names_line_and_field_of_bad_ones() {
    let s = Sandbox::new();
    for profile in ["strict.yaml", "standard.yaml", "audit.yaml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(profile);
        let o = s.run(&["policy", "validate", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{profile}: {}", stderr(&o));
        assert!(stdout(&o).contains(": ok: policy"), "{}", stdout(&o));
    }

    let bad = s.project.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nrules:\n  - id: a\n    effect: deny\n    reason: r\n    paths: [\"src/[x\"]\n",
    )
    .unwrap();
    let o = s.run(&["policy", "validate", "bad.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("bad.yaml:6: rules[0].paths[0]: "), "{err}");

    std::fs::write(
        &bad,
        "name: bad\nrules:\n  - id: a\n    effect: deny\n    reason: r\n    risk: high\n  - id: a\n    effect: ask\n    reason: r\n    flags: [sekret]\n",
    )
    .unwrap();
    let o = s.run(&["policy", "validate", "bad.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("bad.yaml:10: rules[1].flags"), "{err}");
    assert!(err.contains("sekret"), "{err}");

    let o = s.run(&["policy", "validate", "missing.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.yaml"), "{}", stderr(&o));
}

#[test]
fn validate_rejects_unknown_finding_ids_and_names_the_nearest() {
    let s = Sandbox::new();
    let bad = s.project.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nrules:\n  - id: a\n    effect: deny\n    reason: r\n    findings: [git.force_push, net.pipe_to_shell]\n",
    )
    .unwrap();
    let o = s.run(&["policy", "validate", "bad.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.starts_with("bad.yaml:6: rules[0].findings: "), "{err}");
    assert!(err.contains("did you mean `shell.pipe_to_shell`?"), "{err}");
    // The same file with the id the registry knows is fine.
    std::fs::write(
        &bad,
        "name: bad\nrules:\n  - id: a\n    effect: deny\n    reason: r\n    findings: [git.force_push, shell.pipe_to_shell]\n",
    )
    .unwrap();
    let o = s.run(&["policy", "validate", "bad.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn findings_prints_the_catalogue_and_one_entry() {
    let s = Sandbox::new();
    let o = s.run(&["policy", "findings", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = all.iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(ids.len() > 50, "{ids:?}");
    for id in [
        "secrets.read",
        "shell.pipe_to_shell",
        "mcp.desc.tag",
        "files.delete_foundation",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let table = stdout(&s.run(&["policy", "findings"]));
    assert_eq!(table.lines().count(), ids.len(), "{table}");
    for e in &all {
        assert!(!e["title"].as_str().unwrap().is_empty(), "{e}");
        assert!(!e["explanation"].as_str().unwrap().is_empty(), "{e}");
    }

    let o = s.run(&["policy", "findings", "files.delete_foundation"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let one = stdout(&o);
    assert!(one.starts_with("files.delete_foundation: "), "{one}");
    assert!(one.contains("risk:  critical"), "{one}");
    assert!(
        one.contains("flags: destructive, dangerous_command"),
        "{one}"
    );

    let o = s.run(&["policy", "findings", "git.force_push", "--json"]);
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(entry["risk"], "high");
    assert_eq!(
        entry["flags"],
        serde_json::json!(["git_history", "destructive"])
    );

    let o = s.run(&["policy", "findings", "secret.read"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("did you mean `secrets.read`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn show_prints_where_the_policy_came_from_then_its_yaml() {
    let s = Sandbox::new();
    let o = s.run(&["policy", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("# source: built-in profile `standard`"),
        "{out}"
    );
    assert!(
        out.contains("# name:   standard\n# mode:   enforce\n# hash:   sha256:"),
        "{out}"
    );
    assert!(out.ends_with(&config("standard.yaml")), "{out}");

    let o = s.run(&["--policy", "audit", "policy", "show"]);
    assert!(stdout(&o).contains("# mode:   audit"), "{}", stdout(&o));

    // The project's policy wins over the home folder's.
    assert_eq!(s.run(&["policy", "init"]).status.code(), Some(0));
    assert_eq!(
        s.run(&["policy", "init", "--strict", "--project"])
            .status
            .code(),
        Some(0)
    );
    let out = stdout(&s.run(&["policy", "show"]));
    assert!(out.contains(".patchwork/policy.yaml"), "{out}");
    assert!(out.contains("# name:   strict"), "{out}");
}

#[test]
fn explain_names_the_rule_and_the_verdict() {
    let s = Sandbox::new();
    let o = s.run(&[
        "--policy",
        "strict",
        "policy",
        "explain",
        "--tool",
        "Read",
        r#"{"file_path": "~/.patchwork/keys/seal.key"}"#,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"]["effect"], "deny");
    assert_eq!(v["policy"]["name"], "strict");
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "seal-key"),
        "{v}"
    );

    let o = s.run(&[
        "--policy",
        "strict",
        "policy",
        "explain",
        "--tool",
        "Read",
        r#"{"file_path": "src/main.rs"}"#,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("verdict    allow"), "{out}");
    assert!(out.contains("file_read"), "{out}");

    // A command string is a Bash call.
    let o = s.run(&[
        "--policy",
        "strict",
        "policy",
        "explain",
        "git push --force origin main",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(r#"call       Bash {"command":"git push --force origin main"}"#),
        "{out}"
    );
    assert!(
        out.contains("segments   1. git push --force origin main\n"),
        "{out}"
    );
    assert!(out.contains("verdict    deny"), "{out}");
    assert!(
        out.contains("reason     patchwork-gateway denied this: remote-history: "),
        "{out}"
    );

    let o = s.run(&[
        "--policy",
        "strict",
        "policy",
        "explain",
        "git status && ls -la",
    ]);
    let out = stdout(&o);
    assert!(out.contains("1. git status\n"), "{out}");
    assert!(out.contains("verdict    allow"), "{out}");

    // Wrappers are peeled before rules see the command.
    let o = s.run(&[
        "--policy",
        "strict",
        "policy",
        "explain",
        "--json",
        "env GIT_TRACE=1 timeout 60 git push origin +main",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"]["rules"][0], "remote-history", "{v}");

    let o = s.run(&["policy", "explain", "--tool", "Read", "not json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("JSON"), "{}", stderr(&o));
}

#[test]
fn test_runs_a_case_file_and_reports_misses() {
    let s = Sandbox::new();
    let cases = s.project.join("cases.jsonl");
    std::fs::write(
        &cases,
        [
            r#"{"id":"keys","expect":"block","tool_name":"Read","tool_input":{"file_path":"{H}/.patchwork/keys/seal.key"}}"#,
            r#"{"id":"settings","expect":"block","tool_name":"Write","tool_input":{"file_path":"{H}/.claude/settings.json","content":"{}"}}"#,
            r#"{"id":"src","expect":"allow","tool_name":"Read","tool_input":{"file_path":"{P}/src/main.rs"}}"#,
            "",
        ]
        .join("\n"),
    )
    .unwrap();
    let o = s.run(&["--policy", "strict", "policy", "test", "cases.jsonl"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).ends_with("3 passed, 0 failed\n"),
        "{}",
        stdout(&o)
    );

    // A wrong expectation and a malformed line are both failures.
    let mut text = std::fs::read_to_string(&cases).unwrap();
    text.push_str(r#"{"id":"wrong","expect":"block","tool_name":"Read","tool_input":{"file_path":"{P}/README.md"}}"#);
    text.push_str("\n{not json}\n");
    std::fs::write(&cases, text).unwrap();
    let o = s.run(&["--policy", "strict", "policy", "test", "cases.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("MISS wrong: expected block, got allow"),
        "{out}"
    );
    assert!(out.contains("BAD  cases.jsonl:5:"), "{out}");
    assert!(out.ends_with("3 passed, 2 failed\n"), "{out}");
}

#[test]
fn a_reader_closing_the_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let sb = Sandbox::new();
    // A pipe whose reading end is closed before the command starts, as after `| head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .args(["--policy", "strict", "policy", "show"])
        .current_dir(&sb.project)
        .env("HOME", &sb.home)
        .env("PATCHWORK_HOME", &sb.patchwork_home)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}
