//! The shared vocabulary of the pipeline: what a tool call is, what it does, how risky it is,
//! and what the Gate decided about it. Doors build [`ToolCall`]s and render [`Verdict`]s; the
//! policy turns calls into [`Classification`]s; the ledger records all of it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

/// Which door a call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Door {
    /// A Claude Code hook process.
    Hook,
    /// The MCP server (builtin tools or a wrapped upstream).
    Mcp,
}

impl Door {
    /// The name written to the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Hook => "hook",
            Door::Mcp => "mcp",
        }
    }
}

/// A tool call as the Gate sees it, whichever door it came through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCall {
    /// The door that received the call.
    pub door: Door,
    /// The tool name as the agent used it: `Bash`, `Read`, `mcp__fs__read_file`, `run_command`…
    pub tool: String,
    /// The tool's arguments, verbatim.
    pub input: serde_json::Value,
    /// Working directory the call runs in (relative paths resolve against it).
    pub cwd: PathBuf,
    /// Agent session id, when known.
    pub session: Option<String>,
    /// Agent name (`claude-code`, an MCP client's name…), when known.
    pub agent: Option<String>,
    /// Claude Code's `tool_use_id`, linking a decision to its outcome.
    pub tool_use_id: Option<String>,
    /// For wrapped MCP upstreams: the upstream server's name.
    pub server: Option<String>,
    /// For wrapped MCP upstreams: what the door saw of the tool's definition (pin state and
    /// the texts written for the model), for the Gate to judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tool: Option<UpstreamTool>,
}

/// An upstream MCP tool's definition as the MCP door saw it. The door only reports; the
/// classifier turns this into findings and the policy decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTool {
    /// The definition compared with its pin.
    pub pin: PinState,
    /// The texts the upstream wrote for the model: title, description, parameter descriptions.
    pub descriptions: Vec<String>,
}

/// How an upstream tool's definition compares with the one the user trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    /// Identical to the pinned definition.
    #[default]
    Pinned,
    /// First sight of this server: pinned now (trust on first use).
    FirstSeen,
    /// Differs from the pinned definition, and the user has not approved the change.
    Changed,
    /// A tool that appeared after the server's first listing, not yet approved.
    New,
    /// The upstream never listed a tool of this name.
    Unlisted,
}

impl PinState {
    /// The snake_case name used in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            PinState::Pinned => "pinned",
            PinState::FirstSeen => "first_seen",
            PinState::Changed => "changed",
            PinState::New => "new",
            PinState::Unlisted => "unlisted",
        }
    }
}

impl ToolCall {
    /// A call with no session context; convenient for tests and `policy explain`.
    pub fn new(
        door: Door,
        tool: impl Into<String>,
        input: serde_json::Value,
        cwd: PathBuf,
    ) -> Self {
        ToolCall {
            door,
            tool: tool.into(),
            input,
            cwd,
            session: None,
            agent: None,
            tool_use_id: None,
            server: None,
            upstream_tool: None,
        }
    }
}

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    FileRead,
    FileWrite,
    FileCreate,
    FileEdit,
    FileDelete,
    FileGlob,
    FileGrep,
    CommandExecute,
    WebFetch,
    WebSearch,
    McpToolCall,
    TaskDelegate,
    SessionStart,
    SessionEnd,
    PromptSubmit,
    SubagentStart,
    SubagentStop,
}

impl Action {
    /// Every action, for validation messages.
    pub const ALL: [Action; 17] = [
        Action::FileRead,
        Action::FileWrite,
        Action::FileCreate,
        Action::FileEdit,
        Action::FileDelete,
        Action::FileGlob,
        Action::FileGrep,
        Action::CommandExecute,
        Action::WebFetch,
        Action::WebSearch,
        Action::McpToolCall,
        Action::TaskDelegate,
        Action::SessionStart,
        Action::SessionEnd,
        Action::PromptSubmit,
        Action::SubagentStart,
        Action::SubagentStop,
    ];

    /// The snake_case name used in policies and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::FileRead => "file_read",
            Action::FileWrite => "file_write",
            Action::FileCreate => "file_create",
            Action::FileEdit => "file_edit",
            Action::FileDelete => "file_delete",
            Action::FileGlob => "file_glob",
            Action::FileGrep => "file_grep",
            Action::CommandExecute => "command_execute",
            Action::WebFetch => "web_fetch",
            Action::WebSearch => "web_search",
            Action::McpToolCall => "mcp_tool_call",
            Action::TaskDelegate => "task_delegate",
            Action::SessionStart => "session_start",
            Action::SessionEnd => "session_end",
            Action::PromptSubmit => "prompt_submit",
            Action::SubagentStart => "subagent_start",
            Action::SubagentStop => "subagent_stop",
        }
    }

    /// True for actions that change files.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::FileWrite | Action::FileCreate | Action::FileEdit | Action::FileDelete
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How risky a call is. Ordered: `None < Low < Medium < High < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    #[default]
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    /// The lowercase name used in policies and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call is risky. Policies match on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    DangerousCommand,
    Destructive,
    SensitivePath,
    SecretRead,
    SelfProtection,
    NetworkEgress,
    Exfiltration,
    RemoteShell,
    Privilege,
    Persistence,
    Obfuscation,
    Unresolvable,
    PipeToShell,
    CodeExecution,
    GitHistory,
    EnvDump,
    SystemDestruction,
    CloudDestruction,
    OutsideProject,
    UnknownTool,
}

impl Flag {
    /// Every flag, for validation messages.
    pub const ALL: [Flag; 20] = [
        Flag::DangerousCommand,
        Flag::Destructive,
        Flag::SensitivePath,
        Flag::SecretRead,
        Flag::SelfProtection,
        Flag::NetworkEgress,
        Flag::Exfiltration,
        Flag::RemoteShell,
        Flag::Privilege,
        Flag::Persistence,
        Flag::Obfuscation,
        Flag::Unresolvable,
        Flag::PipeToShell,
        Flag::CodeExecution,
        Flag::GitHistory,
        Flag::EnvDump,
        Flag::SystemDestruction,
        Flag::CloudDestruction,
        Flag::OutsideProject,
        Flag::UnknownTool,
    ];

    /// The snake_case name used in policies and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::DangerousCommand => "dangerous_command",
            Flag::Destructive => "destructive",
            Flag::SensitivePath => "sensitive_path",
            Flag::SecretRead => "secret_read",
            Flag::SelfProtection => "self_protection",
            Flag::NetworkEgress => "network_egress",
            Flag::Exfiltration => "exfiltration",
            Flag::RemoteShell => "remote_shell",
            Flag::Privilege => "privilege",
            Flag::Persistence => "persistence",
            Flag::Obfuscation => "obfuscation",
            Flag::Unresolvable => "unresolvable",
            Flag::PipeToShell => "pipe_to_shell",
            Flag::CodeExecution => "code_execution",
            Flag::GitHistory => "git_history",
            Flag::EnvDump => "env_dump",
            Flag::SystemDestruction => "system_destruction",
            Flag::CloudDestruction => "cloud_destruction",
            Flag::OutsideProject => "outside_project",
            Flag::UnknownTool => "unknown_tool",
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of thing a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A filesystem path, resolved to an absolute path.
    Path,
    /// A canonical shell command segment (argv joined with spaces).
    Command,
    /// A URL or host.
    Url,
    /// Free text such as a search query or a prompt hash.
    Text,
}

/// One thing a call touches, with the action it performs on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub kind: TargetKind,
    pub action: Action,
    pub value: String,
}

/// One risk finding: a built-in risk rule that recognised something in the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id of the risk rule, e.g. `rm.recursive_outside_project`.
    pub id: String,
    pub risk: Risk,
    pub flags: Vec<Flag>,
    /// What was recognised, written for the agent and a human.
    pub detail: String,
    /// The canonical segment (or path) it fired on.
    pub span: String,
}

impl Finding {
    /// One line for people, after the risk: `id [flags]: detail (on: span)`.
    pub fn explained(&self) -> String {
        let flags: Vec<&str> = self.flags.iter().map(|x| x.as_str()).collect();
        format!(
            "{} [{}]: {} (on: {})",
            self.id,
            flags.join(", "),
            self.detail,
            self.span
        )
    }
}

/// Everything classification learned about a call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Classification {
    /// The primary action of the call.
    pub action: Option<Action>,
    /// Everything the call touches.
    pub targets: Vec<Target>,
    /// Canonical command segments (argv joined), for shell calls.
    pub segments: Vec<Vec<String>>,
    /// Risk findings; the call's risk is the worst of them.
    pub findings: Vec<Finding>,
    /// For a tool acting on one file or folder (read, write, edit, list, search): the object
    /// judged, which the gateway's own tools then act on exactly, or refuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<crate::policy::paths::Object>,
}

impl Classification {
    /// The worst risk of all findings.
    pub fn risk(&self) -> Risk {
        self.findings
            .iter()
            .map(|f| f.risk)
            .max()
            .unwrap_or_default()
    }

    /// The union of all findings' flags.
    pub fn flags(&self) -> BTreeSet<Flag> {
        self.findings
            .iter()
            .flat_map(|f| f.flags.iter().copied())
            .collect()
    }
}

/// The effect of a decision. Ordered by restrictiveness: `Allow < Flag < Ask < Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    Flag,
    Ask,
    Deny,
}

impl Effect {
    /// The lowercase name used in policies and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Flag => "flag",
            Effect::Ask => "ask",
            Effect::Deny => "deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the Gate decided about a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub effect: Effect,
    /// Ids of the policy rules that produced this effect (most restrictive first).
    pub rules: Vec<String>,
    /// Why, written for the agent: what fired and what to do instead.
    pub reason: String,
    pub risk: Risk,
    pub flags: BTreeSet<Flag>,
    /// True when a policy rule explicitly allowed the call (not just "nothing matched").
    pub explicit_allow: bool,
    /// True when the policy is in audit mode and this verdict was relaxed to allow.
    pub audited: bool,
    /// The effect the policy would have enforced (differs from `effect` only in audit mode).
    pub would_be: Effect,
    /// Ledger sequence number of the decision record, once written.
    pub seq: Option<u64>,
}

impl Verdict {
    /// A fail-closed deny for an internal error, naming what went wrong.
    pub fn internal_deny(rule: &str, reason: impl Into<String>) -> Self {
        Verdict {
            effect: Effect::Deny,
            rules: vec![rule.to_string()],
            reason: reason.into(),
            risk: Risk::Critical,
            flags: BTreeSet::new(),
            explicit_allow: false,
            audited: false,
            would_be: Effect::Deny,
            seq: None,
        }
    }

    /// True when the call must not run.
    pub fn blocks(&self) -> bool {
        matches!(self.effect, Effect::Deny | Effect::Ask)
    }
}
