//! Classification tests on a real fixture folder: the same secret, guard and persistence rules
//! must fire whichever tool reaches the file.

use super::*;
use crate::call::{Door, Flag};
use serde_json::json;
use std::fs;

struct Fixture {
    _dir: tempfile::TempDir,
    env: Env,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let project = root.join("project");
    let home = root.join("home");
    for d in ["src", ".git/hooks", ".claude"] {
        fs::create_dir_all(project.join(d)).unwrap();
    }
    for d in [".ssh", ".patchwork/keys", ".claude"] {
        fs::create_dir_all(home.join(d)).unwrap();
    }
    fs::write(project.join(".env"), "KEY=1").unwrap();
    fs::write(project.join(".env.example"), "KEY=").unwrap();
    fs::write(project.join("src/index.ts"), "").unwrap();
    fs::write(home.join(".ssh/id_ed25519"), "k").unwrap();
    fs::write(home.join(".patchwork/keys/seal.key"), "k").unwrap();
    std::os::unix::fs::symlink(".env", project.join("notes.txt")).unwrap();
    Fixture {
        _dir: dir,
        env: Env {
            patchwork_home: home.join(".patchwork"),
            home,
            project,
        },
    }
}

fn run(f: &Fixture, tool: &str, input: serde_json::Value) -> Classification {
    let call = ToolCall::new(Door::Hook, tool, input, f.env.project.clone());
    classify(&call, &f.env)
}

fn ids(c: &Classification) -> Vec<&str> {
    c.findings.iter().map(|f| f.id.as_str()).collect()
}

#[test]
fn read_of_a_secret_through_a_symlink_is_a_secret_read() {
    let f = fixture();
    let p = f.env.project.join("notes.txt");
    let c = run(&f, "Read", json!({"file_path": p}));
    assert_eq!(c.action, Some(Action::FileRead));
    assert!(ids(&c).contains(&"secrets.read"), "{c:?}");
    assert!(c.risk() >= Risk::High);
    let ok = run(
        &f,
        "Read",
        json!({"file_path": f.env.project.join(".env.example")}),
    );
    assert!(ok.findings.is_empty(), "{ok:?}");
}

#[test]
fn seal_key_reads_are_critical_self_protection() {
    let f = fixture();
    let key = f.env.patchwork_home.join("keys/seal.key");
    let c = run(&f, "mcp__fs__read_text_file", json!({"path": key}));
    assert!(c.flags().contains(&Flag::SelfProtection), "{c:?}");
    assert_eq!(c.risk(), Risk::Critical);
}

#[test]
fn guard_files_cannot_be_written_by_any_tool() {
    let f = fixture();
    let settings = f.env.home.join(".claude/settings.json");
    for (tool, input) in [
        ("Write", json!({"file_path": settings, "content": "{}"})),
        (
            "Edit",
            json!({"file_path": settings, "old_string": "a", "new_string": "b"}),
        ),
        (
            "mcp__fs__write_file",
            json!({"path": settings, "content": "{}"}),
        ),
        (
            "write_file",
            json!({"path": f.env.project.join(".claude/settings.local.json"), "content": "{}"}),
        ),
    ] {
        let c = run(&f, tool, input);
        assert!(ids(&c).contains(&"self.tamper"), "{tool}: {c:?}");
    }
}

#[test]
fn git_hooks_are_persistence() {
    let f = fixture();
    let c = run(
        &f,
        "Write",
        json!({"file_path": f.env.project.join(".git/hooks/pre-commit"), "content": "x"}),
    );
    assert!(c.flags().contains(&Flag::Persistence), "{c:?}");
}

#[test]
fn mcp_arguments_are_walked_for_paths() {
    let f = fixture();
    let c = run(
        &f,
        "mcp__fs__read_multiple_files",
        json!({"paths": [f.env.project.join("src/index.ts"), f.env.project.join(".env")]}),
    );
    assert!(ids(&c).contains(&"secrets.read"), "{c:?}");
    let c = run(
        &f,
        "mcp__github__list_issues",
        json!({"owner": "acme", "repo": "app"}),
    );
    assert!(c.findings.is_empty(), "{c:?}");
    assert_eq!(c.action, Some(Action::McpToolCall));
}

#[test]
fn ordinary_project_work_has_no_findings() {
    let f = fixture();
    let p = &f.env.project;
    for (tool, input) in [
        ("Read", json!({"file_path": p.join("src/index.ts")})),
        (
            "Write",
            json!({"file_path": p.join("src/new.ts"), "content": "export {}"}),
        ),
        ("Glob", json!({"pattern": "src/**/*.ts", "path": p})),
        ("Grep", json!({"pattern": "KEY", "path": p.join("src")})),
        ("WebSearch", json!({"query": "tokio select"})),
        ("TodoWrite", json!({"todos": []})),
        ("Agent", json!({"prompt": "review"})),
    ] {
        let c = run(&f, tool, input);
        assert!(c.findings.is_empty(), "{tool}: {c:?}");
    }
}

#[test]
fn unknown_tools_and_bad_input_are_findings_not_crashes() {
    let f = fixture();
    let c = run(&f, "Teleport", json!({"where": "mars"}));
    assert!(c.flags().contains(&Flag::UnknownTool));
    let c = run(&f, "Bash", json!({"command": 42}));
    assert!(ids(&c).contains(&"input.invalid"));
    let c = run(&f, "Read", json!(null));
    assert!(ids(&c).contains(&"input.invalid"));
}
