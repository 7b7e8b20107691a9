//! Policy files: YAML with ordered rules, loading, validation and evaluation.

use super::Env;
use crate::call::{Classification, ToolCall, Verdict};
use anyhow::Result;

/// `mode:` of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Verdicts are enforced.
    Enforce,
    /// Verdicts are recorded; calls are allowed.
    Audit,
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    hash: String,
}

impl Policy {
    /// Loads the policy named by `spec` (a profile name or a file path); with no spec,
    /// `<project>/.patchwork/policy.yaml`, then `$PATCHWORK_HOME/policy.yaml`, then the
    /// built-in `standard` profile.
    pub fn load(_spec: Option<&str>, _env: &Env) -> Result<Policy> {
        anyhow::bail!("policies are not built yet")
    }

    /// `sha256:<hex>` of the policy's source text.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Decides a classified call. Most restrictive matching rule wins.
    pub fn evaluate(&self, _call: &ToolCall, _cls: &Classification, _env: &Env) -> Verdict {
        Verdict::internal_deny("policy.unbuilt", "policies are not built yet")
    }
}
