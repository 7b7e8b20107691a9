//! Regression cases for the strict profile: `tests/cases/strict.jsonl` (corpus format, one
//! family of bypasses or ordinary dev work per line) run through `policy test` in a fixture
//! project with fake secrets, a symlink to `.env` and a fake home.

use std::fs;
use std::path::Path;
use std::process::Command;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn strict_profile_decides_every_regression_case() {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let (p, h) = (root.join("project"), root.join("home"));
    for (file, text) in [
        (p.join(".env"), "API_KEY=fake\n"),
        (p.join(".env.example"), "API_KEY=\n"),
        (p.join(".env.production"), "DB=fake\n"),
        (p.join(".env.local"), "T=fake\n"),
        (p.join("src/index.ts"), "export {}\n"),
        (p.join("package.json"), "{}\n"),
        (p.join("certs/server.key"), "-----BEGIN PRIVATE KEY-----\n"),
        (p.join("scripts/build.sh"), "#!/bin/sh\nnpm run build\n"),
        (p.join("data.csv"), "a\n"),
        (p.join(".claude/settings.json"), "{}\n"),
        (
            h.join(".ssh/id_ed25519"),
            "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        ),
        (h.join(".aws/credentials"), "[default]\n"),
        (h.join(".netrc"), "machine x\n"),
        (h.join(".npmrc"), "//r/:_authToken=x\n"),
        (h.join(".kube/config"), "x\n"),
        (h.join(".docker/config.json"), "{}\n"),
        (h.join(".claude/settings.json"), "{}\n"),
        (h.join(".bashrc"), "# rc\n"),
    ] {
        write(&file, text);
    }
    std::os::unix::fs::symlink(".env", p.join("notes.txt")).unwrap();
    fs::create_dir_all(p.join(".git/hooks")).unwrap();
    fs::create_dir_all(h.join(".patchwork/keys")).unwrap();
    fs::write(h.join(".patchwork/keys/seal.key"), "k").unwrap();

    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/strict.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_patchwork-gateway"))
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
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}
