//! Classification and policy: what a call does, how risky it is, and what the policy says.
//! No knowledge of doors: the Gate hands in a [`ToolCall`](crate::call::ToolCall) and gets back
//! a [`Classification`](crate::call::Classification) and a [`Verdict`](crate::call::Verdict).

pub mod classify;
pub mod explain;
pub mod findings;
pub mod paths;
pub mod profiles;
pub mod rules;
pub mod shell;

pub use classify::{classify, classify_definition};
pub use explain::{Explanation, explain};
pub use rules::{Mode, Policy};

use std::path::{Path, PathBuf};

/// The places that give paths their meaning: the user's home, the gateway's home and the
/// project. Shared by classification and policy globs (`~`, `${PATCHWORK_HOME}`, `${PROJECT}`).
#[derive(Debug, Clone)]
pub struct Env {
    /// The user's home folder (`$HOME`, `~`).
    pub home: PathBuf,
    /// The gateway's home folder (`$PATCHWORK_HOME`).
    pub patchwork_home: PathBuf,
    /// The project root (`$CLAUDE_PROJECT_DIR`, else the call's cwd).
    pub project: PathBuf,
}

impl Env {
    /// The physical paths for a gateway home and a project: `$HOME`, the gateway's home and the
    /// project, made absolute against the current folder with symlinks resolved.
    pub fn new(patchwork_home: &Path, project: &Path) -> Env {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let home = crate::home::home_dir().unwrap_or_else(|| PathBuf::from("/"));
        Env {
            home: paths::physical(&cwd.join(home)),
            patchwork_home: paths::physical(&cwd.join(patchwork_home)),
            project: paths::physical(&cwd.join(project)),
        }
    }
}
