//! The built-in profiles with the real classifier, on a real project and home folder on disk
//! (secret files, a symlink to `.env`, Claude Code settings, the gateway's home).

use patchwork_gateway::call::{Door, Effect, ToolCall};
use patchwork_gateway::policy::{Env, Policy, classify, paths};
use serde_json::{Value, json};

struct Fixture {
    _dir: tempfile::TempDir,
    env: Env,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = paths::physical(dir.path());
        let env = Env {
            home: root.join("home"),
            patchwork_home: root.join("home/.patchwork"),
            project: root.join("project"),
        };
        let files = [
            (env.project.join(".env"), "TOKEN=fake\n"),
            (env.project.join("src/index.ts"), "export {}\n"),
            (env.project.join(".claude/settings.json"), "{}\n"),
            (env.home.join(".ssh/id_ed25519"), "fake\n"),
            (env.home.join(".claude/settings.json"), "{}\n"),
            (env.patchwork_home.join("keys/seal.key"), "fake\n"),
            (env.patchwork_home.join("ledger/events.jsonl"), ""),
        ];
        for (path, text) in files {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::os::unix::fs::symlink(".env", env.project.join("notes.txt")).unwrap();
        Fixture { _dir: dir, env }
    }

    /// `{P}` and `{H}` in string values stand for the project and the home folder.
    fn input(&self, v: Value) -> Value {
        let s = v
            .to_string()
            .replace("{P}", &self.env.project.to_string_lossy())
            .replace("{H}", &self.env.home.to_string_lossy());
        serde_json::from_str(&s).unwrap()
    }

    fn decide(&self, profile: &str, tool: &str, input: Value) -> (Effect, Vec<String>) {
        let policy = Policy::load(Some(profile), &self.env).unwrap();
        let call = ToolCall::new(
            Door::Hook,
            tool,
            self.input(input),
            self.env.project.clone(),
        );
        let cls = classify(&call, &self.env);
        let v = policy.evaluate(&call, &cls, &self.env);
        (v.would_be, v.rules)
    }
}

fn blocks(e: Effect) -> bool {
    matches!(e, Effect::Deny | Effect::Ask)
}

#[test]
fn strict_and_standard_guard_the_gateway_through_every_file_tool() {
    let f = Fixture::new();
    let cases = [
        ("Read", json!({"file_path": "{H}/.patchwork/keys/seal.key"})),
        (
            "Write",
            json!({"file_path": "{H}/.claude/settings.json", "content": "{}"}),
        ),
        (
            "Edit",
            json!({"file_path": "{P}/.claude/settings.json", "old_string": "{", "new_string": "["}),
        ),
        (
            "Write",
            json!({"file_path": "{P}/.claude/settings.local.json", "content": "{}"}),
        ),
        (
            "Write",
            json!({"file_path": "{P}/.mcp.json", "content": "{}"}),
        ),
        (
            "Write",
            json!({"file_path": "{H}/.patchwork/ledger/events.jsonl", "content": ""}),
        ),
        (
            "Write",
            json!({"file_path": "{P}/.patchwork/policy.yaml", "content": "name: x\n"}),
        ),
        (
            "mcp__fs__write_file",
            json!({"path": "{H}/.claude/settings.json", "content": "{}"}),
        ),
    ];
    for profile in ["strict", "standard"] {
        for (tool, input) in &cases {
            let (effect, rules) = f.decide(profile, tool, input.clone());
            assert_eq!(effect, Effect::Deny, "{profile} {tool} {input}: {rules:?}");
        }
    }
}

#[test]
fn secret_reads_are_blocked_and_dev_work_is_not() {
    let f = Fixture::new();
    for profile in ["strict", "standard"] {
        for (tool, input) in [
            ("Read", json!({"file_path": "{P}/.env"})),
            ("Read", json!({"file_path": "{P}/notes.txt"})),
            ("Read", json!({"file_path": "{H}/.ssh/id_ed25519"})),
            (
                "mcp__fs__read_multiple_files",
                json!({"paths": ["{P}/src/index.ts", "{P}/.env"]}),
            ),
        ] {
            let (effect, rules) = f.decide(profile, tool, input.clone());
            assert!(
                blocks(effect),
                "{profile} {tool} {input}: {effect} {rules:?}"
            );
        }
        for (tool, input) in [
            ("Read", json!({"file_path": "{P}/src/index.ts"})),
            (
                "Write",
                json!({"file_path": "{P}/src/new.ts", "content": "export {}\n"}),
            ),
            (
                "Edit",
                json!({"file_path": "{P}/src/index.ts", "old_string": "export", "new_string": "export"}),
            ),
            ("Glob", json!({"pattern": "src/**/*.ts", "path": "{P}"})),
            ("TodoWrite", json!({"todos": []})),
        ] {
            let (effect, rules) = f.decide(profile, tool, input.clone());
            assert!(
                !blocks(effect),
                "{profile} {tool} {input}: {effect} {rules:?}"
            );
        }
    }
    // strict names the rule.
    let (_, rules) = f.decide("strict", "Read", json!({"file_path": "{P}/.env"}));
    assert!(rules.contains(&"secret-files".to_string()), "{rules:?}");
}

#[test]
fn audit_profile_blocks_nothing_but_knows_what_it_would_do() {
    let f = Fixture::new();
    let policy = Policy::load(Some("audit"), &f.env).unwrap();
    let call = ToolCall::new(
        Door::Hook,
        "Read",
        f.input(json!({"file_path": "{H}/.patchwork/keys/seal.key"})),
        f.env.project.clone(),
    );
    let v = policy.evaluate(&call, &classify(&call, &f.env), &f.env);
    assert_eq!(
        (v.effect, v.would_be, v.audited),
        (Effect::Allow, Effect::Deny, true)
    );
}
