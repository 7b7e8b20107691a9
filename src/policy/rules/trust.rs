//! Trust for project policies. A repository can ship `.patchwork/policy.yaml`; used blindly, a
//! cloned repo could switch its own guard to audit mode. So a project policy is used only when
//! the user has trusted that exact file content: `$PATCHWORK_HOME/trusted-policies` holds one
//! line per trusted file, `sha256:<hex> <absolute path>`. The file lives under the gateway's
//! home, which the agent may not write; editing a trusted policy makes it untrusted until the
//! user runs `patchwork-gateway policy trust` again.

use crate::policy::Env;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file that lists trusted project policies.
pub fn trust_file(env: &Env) -> PathBuf {
    env.patchwork_home.join("trusted-policies")
}

fn entry(path: &Path, text: &str) -> String {
    format!(
        "sha256:{} {}",
        hex::encode(Sha256::digest(text.as_bytes())),
        path.display()
    )
}

/// True when `path` with exactly this `text` is listed as trusted.
pub fn is_trusted(path: &Path, text: &str, env: &Env) -> bool {
    let wanted = entry(path, text);
    std::fs::read_to_string(trust_file(env))
        .map(|list| list.lines().any(|l| l == wanted))
        .unwrap_or(false)
}

/// Records the current content of the policy at `path` as trusted; returns its line.
pub fn trust(path: &Path, env: &Env) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    let line = entry(path, &text);
    if is_trusted(path, &text, env) {
        return Ok(line);
    }
    crate::home::create_private_dir(&env.patchwork_home)?;
    let file = trust_file(env);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    writeln!(f, "{line}")
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_trusted_content_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env {
            home: dir.path().into(),
            patchwork_home: dir.path().join("pw"),
            project: dir.path().join("p"),
        };
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, "name: a\n").unwrap();
        assert!(!is_trusted(&policy, "name: a\n", &env));
        trust(&policy, &env).unwrap();
        trust(&policy, &env).unwrap();
        assert!(is_trusted(&policy, "name: a\n", &env));
        assert!(!is_trusted(&policy, "name: a\nmode: audit\n", &env));
        let lines = std::fs::read_to_string(trust_file(&env)).unwrap();
        assert_eq!(lines.lines().count(), 1, "trusting twice adds one line");
    }
}
