//! The Gate: the one place that decides. classify → evaluate the policy → append the decision
//! record → return the verdict. Both doors call it.

use crate::call::{ToolCall, Verdict};
use crate::home::Home;
use crate::ledger::{Appended, Ledger};
use crate::policy::{Env, Policy};
use anyhow::Result;
use serde_json::{Map, Value};
use std::path::Path;

/// A ready Gate: a loaded policy and an open ledger.
#[derive(Debug)]
pub struct Gate {
    policy: Policy,
    ledger: Ledger,
    env: Env,
}

impl Gate {
    /// Loads the policy (`spec` as for `--policy`) and opens the ledger under `home`.
    /// `project` is the project root (Claude Code's `CLAUDE_PROJECT_DIR`, or the cwd).
    pub fn open(home: &Home, spec: Option<&str>, project: &Path) -> Result<Gate> {
        let env = Env {
            home: crate::home::home_dir().unwrap_or_else(|| "/".into()),
            patchwork_home: home.root().to_path_buf(),
            project: project.to_path_buf(),
        };
        home.ensure()?;
        let policy = Policy::load(spec, &env)?;
        let ledger = Ledger::open(&home.ledger_dir())?;
        Ok(Gate {
            policy,
            ledger,
            env,
        })
    }

    /// Decides one call and records the decision before returning. Never fails: any internal
    /// error is a deny verdict naming what went wrong.
    pub fn decide(&self, _call: &ToolCall) -> Verdict {
        let _ = (&self.policy, &self.env);
        Verdict::internal_deny("gate.unbuilt", "the gate is not built yet")
    }

    /// Appends a non-decision record (outcome, session event, repair…) to the ledger.
    pub fn record(&self, fields: Map<String, Value>) -> Result<Appended> {
        self.ledger.append(fields)
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The ledger decisions go to.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}
