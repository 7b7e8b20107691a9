//! A project policy shipped in a repository is used only once the user trusts that exact
//! content: a cloned repo cannot switch its own guard off.

use std::path::Path;
use std::process::Command;

fn gateway(home: &Path, project: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(crate::hook_common::BIN)
        .args(args)
        .current_dir(project)
        .env("HOME", home)
        .env("PATCHWORK_HOME", home.join(".patchwork"))
        .env_remove("PATCHWORK_POLICY")
        .env_remove("CLAUDE_PROJECT_DIR")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn untrusted_project_policy_is_ignored_until_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join(".patchwork")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let weak = "name: weak\nmode: audit\nmax_risk: critical\ndefault: allow\non_error: allow\n";
    std::fs::write(project.join(".patchwork/policy.yaml"), weak).unwrap();

    let (ok, out) = gateway(&home, &project, &["policy", "show"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("# name:   standard"),
        "untrusted file must not be used:\n{out}"
    );

    let (ok, out) = gateway(&home, &project, &["policy", "trust"]);
    assert!(ok, "{out}");
    let (_, out) = gateway(&home, &project, &["policy", "show"]);
    assert!(
        out.contains("# name:   weak"),
        "trusted file is used:\n{out}"
    );

    std::fs::write(
        project.join(".patchwork/policy.yaml"),
        format!("{weak}# edited\n"),
    )
    .unwrap();
    let (_, out) = gateway(&home, &project, &["policy", "show"]);
    assert!(
        out.contains("# name:   standard"),
        "an edit revokes trust:\n{out}"
    );
}

#[test]
fn policy_init_project_trusts_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let (ok, out) = gateway(
        &home,
        &project,
        &["policy", "init", "--strict", "--project"],
    );
    assert!(ok, "{out}");
    let (_, out) = gateway(&home, &project, &["policy", "show"]);
    assert!(out.contains("# name:   strict"), "{out}");
}
