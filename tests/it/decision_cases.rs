//! Regression cases for the strict profile: every `tests/cases/*.jsonl` (corpus format, one
//! family of bypasses or ordinary dev work per line) run through `policy test` in a fixture
//! project with fake secrets, a symlink to `.env` and a fake home.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What may decide a blocked case: the finding ids of the registry (`policy findings`), and
/// the ids of the strict profile's rules that match on paths alone (`protect`, the seal key).
fn known_deciders() -> Vec<String> {
    let out = Command::new(crate::hook_common::BIN)
        .args(["policy", "findings", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<String> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    ids.extend(["protect".to_string(), "seal-key".to_string()]);
    ids
}

/// Every blocked case records the finding that must decide it, and that id exists, so a case
/// blocked for another reason (or naming a finding that was renamed) fails.
fn every_block_names_its_finding(file: &Path, known: &[String]) {
    let text = fs::read_to_string(file).unwrap();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let case: Value = serde_json::from_str(line).unwrap();
        if case["expect"] != "block" {
            continue;
        }
        let at = format!("{}:{} ({})", file.display(), n + 1, case["id"]);
        let finding = case["finding"].as_str();
        assert!(finding.is_some(), "{at}: a blocked case names no `finding`");
        let finding = finding.unwrap();
        assert!(
            known.iter().any(|k| k == finding),
            "{at}: `{finding}` is neither a registered finding nor a path rule"
        );
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn a_case_blocked_by_another_finding_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = fs::canonicalize(dir.path()).unwrap();
    write(&p.join(".env"), "TOKEN=fake-value-123\n");
    let run = |finding: &str| {
        let line = format!(
            "{{\"id\": \"c1\", \"expect\": \"block\", \"finding\": \"{finding}\", \
             \"tool_name\": \"Bash\", \"tool_input\": {{\"command\": \"cat .env\"}}}}\n"
        );
        write(&p.join("cases.jsonl"), &line);
        Command::new(crate::hook_common::BIN)
            .args(["--policy", "strict", "policy", "test", "cases.jsonl"])
            .current_dir(&p)
            .env("HOME", p.join("home"))
            .env("PATCHWORK_HOME", p.join("home/.patchwork"))
            .env("CLAUDE_PROJECT_DIR", &p)
            .output()
            .unwrap()
    };
    let right = run("secrets.read");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stdout)
    );
    let wrong = run("git.force_push");
    let out = String::from_utf8_lossy(&wrong.stdout);
    assert_eq!(wrong.status.code(), Some(1), "{out}");
    assert!(
        out.contains("MISS c1: expected block by git.force_push, got block"),
        "{out}"
    );
    assert!(out.contains("findings secrets.read"), "{out}");
}

/// `policy test CASES` under `profile`, run in the fixture's project `p` with its home `h`.
pub fn policy_test(profile: &str, cases: &Path, p: &Path, h: &Path) -> std::process::Output {
    Command::new(crate::hook_common::BIN)
        .args(["--policy", profile, "policy", "test"])
        .arg(cases)
        .current_dir(p)
        .env("HOME", h)
        .env("PATCHWORK_HOME", h.join(".patchwork"))
        .env("CLAUDE_PROJECT_DIR", p)
        .output()
        .unwrap()
}

/// The shared corpus runner's fixture (`run-cases`) under `root`: a project with fake secrets
/// and a fake home, plus the seal key; with `trap`, the `notes.txt -> .env` symlink too (the
/// real-world set runs without it, `--plain`). Returns (project, home).
pub fn fixture(root: &Path, trap: bool) -> (PathBuf, PathBuf) {
    let (p, h) = (root.join("project"), root.join("home"));
    // The same files as the shared corpus runner's fixture (`run-cases`), plus the seal key.
    for (file, text) in [
        (
            p.join(".env"),
            "OPENAI_API_KEY=sk-FAKEFAKEFAKEFAKEFAKEFAKE\nDB_PASSWORD=hunter2-fake\n",
        ),
        (p.join(".env.example"), "OPENAI_API_KEY=\nDB_PASSWORD=\n"),
        (p.join(".env.production"), "DB_PASSWORD=prod-fake\n"),
        (p.join(".env.local"), "TOKEN=fake\n"),
        (
            p.join("src/index.ts"),
            "import { app } from './app';\napp.listen(3000);\n",
        ),
        (p.join("src/middleware.ts"), "export function auth() {}\n"),
        (p.join("src/utils.ts"), "export const a = 1\nconst a = 1\n"),
        (
            p.join("package.json"),
            "{\"name\": \"app\", \"version\": \"1.0.0\", \"dependencies\": {}}\n",
        ),
        (
            p.join("certs/server.key"),
            "-----BEGIN PRIVATE KEY-----\nFAKE\n-----END PRIVATE KEY-----\n",
        ),
        (p.join("config/app.json"), "{}\n"),
        (p.join("sub/readme.txt"), "x\n"),
        (p.join("scripts/build.sh"), "#!/bin/sh\n"),
        (p.join("docs/setup.md"), "no sudo needed\n"),
        (p.join(".gitignore"), ".env\nnode_modules\n"),
        (p.join(".claude/settings.json"), "{\"hooks\": {}}\n"),
        (p.join("data.csv"), "a\nb\na\n"),
        (
            h.join(".ssh/id_ed25519"),
            "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE\n-----END OPENSSH PRIVATE KEY-----\n",
        ),
        (
            h.join(".aws/credentials"),
            "[default]\naws_secret_access_key=FAKE\n",
        ),
        (h.join(".netrc"), "machine x login y password z\n"),
        (h.join(".npmrc"), "//registry/:_authToken=FAKE\n"),
        (h.join(".docker/config.json"), "{\"auths\": {}}\n"),
        (h.join(".kube/config"), "apiVersion: v1\n"),
        (h.join(".claude/settings.json"), "{\"hooks\": {}}\n"),
        (h.join(".bashrc"), "# rc\n"),
    ] {
        write(&file, text);
    }
    if trap {
        std::os::unix::fs::symlink(".env", p.join("notes.txt")).unwrap();
    }
    fs::create_dir_all(p.join(".git/hooks")).unwrap();
    fs::create_dir_all(h.join(".patchwork/keys")).unwrap();
    fs::write(h.join(".patchwork/keys/seal.key"), "k").unwrap();

    (p, h)
}

#[test]
fn strict_profile_decides_every_regression_case() {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let (p, h) = fixture(&root, true);

    // Every case file in tests/cases/ (one per family group), each run on its own.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let known = known_deciders();
    for cases in &files {
        every_block_names_its_finding(cases, &known);
    }
    for cases in files {
        let out = policy_test("strict", &cases, &p, &h);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {stdout}\n{}",
            cases.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(" 0 failed"),
            "{}: {stdout}",
            cases.display()
        );
    }
}
