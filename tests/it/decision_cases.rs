//! Regression cases for the strict profile: every `tests/cases/*.jsonl` (corpus format, one
//! family of bypasses or ordinary dev work per line) run through `policy test` in a fixture
//! project with fake secrets, a symlink to `.env` and a fake home.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
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
    for cases in files {
        let out = Command::new(crate::hook_common::BIN)
            .args(["--policy", "strict", "policy", "test"])
            .arg(&cases)
            .current_dir(&p)
            .env("HOME", &h)
            .env("PATCHWORK_HOME", h.join(".patchwork"))
            .env("CLAUDE_PROJECT_DIR", &p)
            .output()
            .unwrap();
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
