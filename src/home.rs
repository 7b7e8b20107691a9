//! The gateway's home folder (`--home`, `PATCHWORK_HOME`, default `~/.patchwork`): where the
//! ledger, the seal key and the user's policy live. Created with mode 0700.

use anyhow::{Context, Result};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Paths under the gateway's home folder.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Uses `dir` if given, otherwise `~/.patchwork`. Does not touch the filesystem.
    pub fn locate(dir: Option<&Path>) -> Result<Home> {
        let root = match dir {
            Some(d) => d.to_path_buf(),
            None => home_dir()
                .context("cannot find the home folder: set HOME or pass --home")?
                .join(".patchwork"),
        };
        Ok(Home { root })
    }

    /// Creates the home folder (0700) if it does not exist.
    pub fn ensure(&self) -> Result<()> {
        create_private_dir(&self.root)
    }

    /// The home folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ledger/`: the JSONL ledger and its state.
    pub fn ledger_dir(&self) -> PathBuf {
        self.root.join("ledger")
    }

    /// `keys/`: the seal key.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// `pins/`: pinned upstream MCP tool definitions.
    pub fn pins_dir(&self) -> PathBuf {
        self.root.join("pins")
    }

    /// `policy.yaml`: the user-level policy written by `policy init`.
    pub fn policy_file(&self) -> PathBuf {
        self.root.join("policy.yaml")
    }
}

/// The user's home folder from `$HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Creates `dir` and its parents; the leaf gets mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}
