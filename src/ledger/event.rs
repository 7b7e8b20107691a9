//! The one record schema: a typed struct for every event the doors and the ledger write, shared
//! by the hook and MCP doors, and the JSON Schema of it (`patchwork-gateway schema ledger`).
//!
//! Writers build one of these structs and turn it into the record's fields with
//! [`LedgerEvent::into_fields`]; readers (views, exports) project records onto them. Old records
//! stay readable: the legacy hook outcome (`event: "tool.post"`, `tool_name`, bare-hex digests)
//! deserialises as an [`Outcome`] with prefixed digests. The verifier never reads through this
//! module: it checks bytes, not meaning.
//!
//! The event list and every field are documented in `docs/ledger.md` (section "Events").

use super::canonical;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest written as `sha256:<64 lowercase hex>`. Reading also accepts the bare hex
/// the hook wrote before the schema was unified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The digest of a JSON value's canonical form (RFC 8785), so that the same arguments give
    /// the same digest whatever their key order: the hook's `tool_input` of an `mcp__…` call and
    /// the MCP door's `arguments` of the same call hash alike.
    pub fn of_json(value: &Value) -> Digest {
        let mut v = value.clone();
        canonical::normalize(&mut v);
        match canonical::to_vec(&v) {
            Ok(bytes) => Digest::of(&bytes),
            Err(_) => Digest::of(&serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    /// Parses `sha256:<hex>` or bare 64-character hex (legacy hook records).
    pub fn parse(s: &str) -> Option<Digest> {
        let hex_part = s.strip_prefix("sha256:").unwrap_or(s);
        is_hex64(hex_part).then(|| Digest(format!("sha256:{hex_part}")))
    }

    /// The `sha256:<hex>` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part, without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }
}

/// 64 lowercase hex digits.
fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Digest, String> {
        // Already in the written form: keep the string.
        if s.strip_prefix("sha256:").is_some_and(is_hex64) {
            return Ok(Digest(s));
        }
        Digest::parse(&s).ok_or_else(|| format!("not a sha256 digest: {s:?}"))
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{64}$",
            "description": "SHA-256 digest, `sha256:` + 64 lowercase hex digits (bare hex in records written before the schema was unified)"
        })
    }
}

/// Which door saw the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DoorName {
    /// Claude Code hook.
    Hook,
    /// MCP server (builtin tools and wrapped upstreams).
    Mcp,
}

/// Fields every door-written record may carry: who and where.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Origin {
    /// `hook` or `mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door: Option<DoorName>,
    /// The agent's session id (Claude Code's `session_id`, or the MCP door's session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The agent (`claude-code`, or the MCP client's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Working directory of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The Claude Code hook event that wrote the record (`PreToolUse`, `PostToolUse`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_event: Option<String>,
    /// Claude Code subagent id, when a subagent made the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Claude Code subagent type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// Claude Code permission mode at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
}

/// The Gate's decision on one call: written before the call is answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    #[serde(flatten)]
    pub origin: Origin,
    /// Tool name as the door saw it (`Bash`, `mcp__fs__read_file`, `run_command`).
    pub tool: String,
    /// Claude Code's `tool_use_id`, when the door knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Upstream MCP server of a wrapped tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// What the call does (`file_write`, `command_execute`, …; `tool_call` when unknown).
    pub action: String,
    /// What it touches, `action:value` each (secrets redacted).
    #[serde(default)]
    pub target: Vec<String>,
    /// `none`, `low`, `medium`, `high` or `critical`.
    pub risk: String,
    /// Why the risk (`destructive`, `sensitive_path`, …).
    #[serde(default)]
    pub flags: Vec<String>,
    /// Classifier finding ids (`shell.recursive_delete`, …).
    #[serde(default)]
    pub findings: Vec<String>,
    /// `allow`, `flag`, `ask` or `deny`: what was answered.
    pub verdict: String,
    /// In audit mode, what the policy would have answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_be: Option<String>,
    /// Policy rule ids that matched.
    #[serde(default)]
    pub rules: Vec<String>,
    /// The reason given to the agent.
    #[serde(default)]
    pub reason: String,
    /// Hash of the policy in force.
    #[serde(default)]
    pub policy: String,
    /// Name of the policy in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// Digest of the tool input's canonical JSON (the input itself is never stored).
    pub input_sha256: Digest,
}

/// How a call that ran ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutcomeDetail {
    /// `ok`/`completed`, `error`/`failed`, `interrupted`, `timeout`, `cancelled`, `withheld`.
    pub status: String,
    /// Time the tool took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The MCP result's `isError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Size of the output (never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// Digest of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_sha256: Option<Digest>,
    /// Exit code of a failed shell command, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Error text of a failed call (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What happened after an allowed call ran, linked to its decision. Legacy hook records
/// (`event: "tool.post"`, `tool_name`) read as this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    #[serde(flatten)]
    pub origin: Origin,
    /// Tool name, as in the decision.
    #[serde(alias = "tool_name", default)]
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `seq` of the decision this outcome belongs to, when the door knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_seq: Option<u64>,
    /// Digest of the tool input (canonical JSON), to link when no id is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_sha256: Option<Digest>,
    pub outcome: OutcomeDetail,
}

/// A Claude Code `PermissionRequest` for a call PreToolUse already decided: linked to that
/// decision instead of a second decision record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PermissionRequest {
    #[serde(flatten)]
    pub origin: Origin,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// `seq` of the decision of this call.
    pub decision_seq: u64,
    pub input_sha256: Digest,
    /// The verdict answered to the permission dialog (the same policy as the decision).
    pub verdict: String,
    #[serde(default)]
    pub rules: Vec<String>,
}

/// A session began (Claude Code `SessionStart`), with the gateway's self-test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionStart {
    #[serde(flatten)]
    pub origin: Origin,
    /// `session_start`.
    #[serde(default)]
    pub action: String,
    /// `startup`, `resume`, `clear`, `compact`, `fork`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whether the policy refused the self-test call `rm -rf /`.
    pub armed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_armed_reason: Option<String>,
}

/// A session ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionEnd {
    #[serde(flatten)]
    pub origin: Origin,
    #[serde(default)]
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The user submitted a prompt: only its digest and size are kept, never the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromptSubmit {
    #[serde(flatten)]
    pub origin: Origin,
    #[serde(default)]
    pub action: String,
    pub prompt_sha256: Digest,
    pub prompt_bytes: u64,
}

/// A subagent started or stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subagent {
    #[serde(flatten)]
    pub origin: Origin,
    #[serde(default)]
    pub action: String,
}

/// A block did not hold: an outcome for a denied call, or for a call no decision was made for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnforcementGap {
    #[serde(flatten)]
    pub origin: Origin,
    #[serde(alias = "tool_name", default)]
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// `denied_but_ran` or `no_decision`.
    pub gap: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_seq: Option<u64>,
    pub outcome_seq: u64,
    pub detail: String,
}

/// The hook failed internally; it answered per its policy mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HookError {
    #[serde(flatten)]
    pub origin: Origin,
    pub error: String,
    /// `fail-closed` or `audit`.
    #[serde(default)]
    pub policy_mode: String,
}

/// A hook event the gateway records without deciding (Notification, Stop, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HookEvent {
    #[serde(flatten)]
    pub origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
}

/// What a `ledger_recovery` record repaired or noticed (`docs/ledger.md`, "Recovery").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryKind {
    /// An incomplete last line (a writer stopped mid-append) was cut off.
    TornTail,
    /// Complete but unsynced bytes after the last chained record were cut off.
    DiscardedTail,
    /// A line longer than any record after the last chained record was cut off.
    OversizeTail,
    /// Complete records past the state file were taken in (crash before the state update).
    StateRollforward,
    /// The state file was missing or damaged and was rebuilt from the log.
    StateRebuilt,
    /// The log ended before its state file (power loss before a sync): records never
    /// acknowledged were lost.
    UnsyncedTailLost,
    /// The log was deleted or replaced while in use; a fresh log starts with this record.
    LedgerLost,
    /// The log has another name (a hard link); appends are refused until it is removed.
    HardLink,
}

/// The ledger repaired a torn or damaged tail, or noticed its files were tampered with (never
/// silently). Which members a kind carries is listed in `docs/ledger.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Recovery {
    pub kind: RecoveryKind,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Cut tails: byte offset where the cut bytes began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Cut tails: how many bytes were cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded_len: Option<u64>,
    /// Cut tails: digest of the cut bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded_sha256: Option<Digest>,
    /// `oversize_tail`: digest of the first 4 MiB of the cut line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded_head_sha256: Option<Digest>,
    /// `state_rollforward`: records taken in; `state_rebuilt`: records the rebuilt state counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// `state_rollforward`: seq of the first record taken in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<u64>,
    /// `state_rebuilt`: bytes of the log the rebuilt state covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// `unsynced_tail_lost`: what the state file promised and what the log held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_records: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_records: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_bytes: Option<u64>,
    /// `ledger_lost`: records and tip of the lost log, when its state was readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_records: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_tip: Option<Digest>,
}

/// Fields of the MCP door's records about an upstream server (not a call decision): which
/// tool, of which server, in which session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Upstream {
    #[serde(flatten)]
    pub origin: Origin,
    /// The tool as the agent sees it (for a server request, `mcp__<server>__<operation>`).
    pub tool: String,
    /// The upstream server's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// An upstream tool's definition is not the pinned one (changed, new, or first seen) and waits
/// for the user's review (`pins diff`, `pins approve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpToolChanged {
    #[serde(flatten)]
    pub upstream: Upstream,
    /// The pin state: `changed`, `new`, `first_seen`, …
    pub change: String,
    /// Digest of the pinned definition (none for a new tool).
    #[serde(default)]
    pub old_sha256: Option<Digest>,
    /// Digest of the definition as listed now.
    pub new_sha256: Digest,
    /// What changed, one line per member (`description: "…" → "…"`).
    #[serde(default)]
    pub diff: Vec<String>,
    /// The policy's verdict on the listing (`allow`, `flag`, `ask`, `deny`).
    pub verdict: String,
    #[serde(default)]
    pub rules: Vec<String>,
    /// What the agent was shown: `listed`, `sanitised` or `withheld`.
    pub treatment: String,
}

/// An upstream tool's description (or schema text) carries prompt-injection markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpDescriptionFinding {
    #[serde(flatten)]
    pub upstream: Upstream,
    /// Marker ids found.
    pub findings: Vec<String>,
    /// Where each was found, in words.
    #[serde(default)]
    pub details: Vec<String>,
    /// Digest of the definition they were found in.
    pub definition_sha256: Digest,
    pub verdict: String,
    #[serde(default)]
    pub rules: Vec<String>,
    /// `listed`, `sanitised` or `withheld`.
    pub treatment: String,
}

/// An upstream server asked the agent's client something (sampling, elicitation, roots): judged
/// by the Gate like a call, recorded by size and digest (never the text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpServerRequest {
    #[serde(flatten)]
    pub upstream: Upstream,
    /// The JSON-RPC method (`sampling/createMessage`, `elicitation/create`, `roots/list`).
    pub method: String,
    pub request_bytes: u64,
    pub request_sha256: Digest,
    /// `seq` of the Gate's decision on the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_seq: Option<u64>,
    /// `answered`, `refused` or `failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_sha256: Option<Digest>,
    /// Why it was refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An alert could not be delivered to its webhook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertFailed {
    #[serde(default)]
    pub alert_kind: Value,
    #[serde(default)]
    pub alert_seq: Value,
    /// Host of the webhook (never the URL: it may carry a token).
    #[serde(default)]
    pub webhook_host: String,
    pub error: String,
}

/// The watchdog repaired the hook installation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WatchdogRepair {
    pub file: String,
    pub repaired: Vec<String>,
}

/// A signed checkpoint of the ledger was made (the signed note itself is stored beside the
/// ledger; `docs/ledger.md` gives its format).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Checkpoint {
    /// The checkpoint's origin line (the log's name).
    pub origin: String,
    /// Records covered: seq `0..size`.
    pub size: u64,
    /// RFC 6962 Merkle root over the covered records' hashes, `sha256:`-prefixed.
    pub root: String,
    /// Id of the signing key.
    pub key_id: String,
    /// SHA-256 of the signed note as stored.
    pub note_sha256: String,
}

/// Every record the gateway writes, by its `event` member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event")]
pub enum LedgerEvent {
    #[serde(rename = "decision")]
    Decision(Decision),
    #[serde(rename = "outcome", alias = "tool.post")]
    Outcome(Outcome),
    #[serde(rename = "permission.request")]
    PermissionRequest(PermissionRequest),
    #[serde(rename = "session.start")]
    SessionStart(SessionStart),
    #[serde(rename = "session.end")]
    SessionEnd(SessionEnd),
    #[serde(rename = "prompt.submit")]
    PromptSubmit(PromptSubmit),
    #[serde(rename = "subagent.start")]
    SubagentStart(Subagent),
    #[serde(rename = "subagent.stop")]
    SubagentStop(Subagent),
    #[serde(rename = "enforcement.gap")]
    EnforcementGap(EnforcementGap),
    #[serde(rename = "hook.error")]
    HookError(HookError),
    #[serde(rename = "hook.event")]
    HookEvent(HookEvent),
    #[serde(rename = "ledger_recovery")]
    Recovery(Recovery),
    #[serde(rename = "alert.failed")]
    AlertFailed(AlertFailed),
    /// The alert spool was full: the alert was dropped (same members as `alert.failed`).
    #[serde(rename = "alert.dropped")]
    AlertDropped(AlertFailed),
    #[serde(rename = "watchdog.repair")]
    WatchdogRepair(WatchdogRepair),
    #[serde(rename = "ledger.checkpoint")]
    Checkpoint(Checkpoint),
    #[serde(rename = "mcp.tool_changed")]
    McpToolChanged(McpToolChanged),
    #[serde(rename = "mcp.description_finding")]
    McpDescriptionFinding(McpDescriptionFinding),
    #[serde(rename = "mcp.server_request")]
    McpServerRequest(McpServerRequest),
}

impl LedgerEvent {
    /// The record's fields for [`super::Ledger::append`].
    pub fn into_fields(self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            // Every variant is a struct: serialising it yields an object.
            _ => unreachable!("ledger events serialise to objects"),
        }
    }

    /// Reads a record's fields as an event (ledger members `v`, `seq`, … are ignored).
    pub fn from_fields(fields: &Map<String, Value>) -> Result<LedgerEvent, serde_json::Error> {
        serde_json::from_value(Value::Object(fields.clone()))
    }
}

/// The members the ledger adds to every record.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    /// Format version, 1.
    pub v: i64,
    /// 0-based position in the ledger.
    pub seq: u64,
    /// Append time, microseconds since the Unix epoch (UTC).
    pub ts: i64,
    /// Hash of the previous record.
    pub prev: Digest,
    /// Hash of this record without its `hash` member.
    pub hash: Digest,
}

/// One stored line: the ledger's members plus the event.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StoredRecord {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(flatten)]
    pub event: LedgerEvent,
}

/// The JSON Schema of a stored ledger line.
pub fn json_schema() -> Value {
    let schema = schemars::schema_for!(StoredRecord);
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    #[test]
    fn digests_accept_bare_hex_and_write_the_prefix() {
        let hexd = "ab".repeat(32);
        let d: Digest = serde_json::from_value(json!(hexd)).unwrap();
        assert_eq!(d.as_str(), format!("sha256:{hexd}"));
        assert!(serde_json::from_value::<Digest>(json!("sha256:xyz")).is_err());
        assert!(Digest::parse(&"AB".repeat(32)).is_none());
    }

    #[test]
    fn input_digest_ignores_key_order() {
        let a = json!({"path": "a", "content": "x", "n": 1.5});
        let b: Value = serde_json::from_str(r#"{"n":1.5,"content":"x","path":"a"}"#).unwrap();
        assert_eq!(Digest::of_json(&a), Digest::of_json(&b));
        assert_ne!(Digest::of_json(&a), Digest::of_json(&json!({"path": "b"})));
    }

    #[test]
    fn legacy_hook_outcomes_read_as_outcomes() {
        let legacy = json!({"event": "tool.post", "door": "hook", "tool_name": "Bash",
            "tool_use_id": "t1", "input_sha256": "00".repeat(32),
            "outcome": {"status": "ok", "output_sha256": "11".repeat(32)}});
        let LedgerEvent::Outcome(o) = serde_json::from_value(legacy).unwrap() else {
            panic!("not an outcome");
        };
        assert_eq!(o.tool, "Bash");
        assert_eq!(
            o.input_sha256.unwrap().as_str(),
            format!("sha256:{}", "00".repeat(32))
        );
        assert_eq!(o.origin.door, Some(DoorName::Hook));
    }

    #[test]
    fn events_round_trip_through_fields() {
        let e = LedgerEvent::PromptSubmit(PromptSubmit {
            origin: Origin {
                door: Some(DoorName::Hook),
                session: Some("s".into()),
                ..Origin::default()
            },
            action: "prompt_submit".into(),
            prompt_sha256: Digest::of(b"hi"),
            prompt_bytes: 2,
        });
        let f = e.clone().into_fields();
        assert_eq!(f["event"], "prompt.submit");
        assert_eq!(LedgerEvent::from_fields(&f).unwrap(), e);
        let schema = json_schema();
        assert!(schema.to_string().contains("permission.request"));
    }

    #[test]
    fn recovery_and_mcp_records_read_as_typed_events() {
        let torn = json!({"event": "ledger_recovery", "kind": "torn_tail", "offset": 10,
            "discarded_len": 3, "discarded_sha256": format!("sha256:{}", "ab".repeat(32)),
            "reason": "incomplete last line"});
        let LedgerEvent::Recovery(r) = serde_json::from_value(torn.clone()).unwrap() else {
            panic!("not a recovery");
        };
        assert_eq!((r.kind, r.offset), (RecoveryKind::TornTail, Some(10)));
        assert_eq!(
            serde_json::to_value(LedgerEvent::Recovery(r)).unwrap(),
            torn
        );
        let unknown = json!({"event": "ledger_recovery", "kind": "made_up"});
        assert!(serde_json::from_value::<LedgerEvent>(unknown).is_err());
        let changed = json!({"event": "mcp.tool_changed", "door": "mcp", "tool": "mcp__s__add",
            "server": "s", "change": "new", "old_sha256": null,
            "new_sha256": format!("sha256:{}", "cd".repeat(32)), "diff": ["definition: added"],
            "verdict": "deny", "rules": ["mcp.pins"], "treatment": "withheld"});
        let LedgerEvent::McpToolChanged(c) = serde_json::from_value(changed).unwrap() else {
            panic!("not mcp.tool_changed");
        };
        assert_eq!(c.upstream.server.as_deref(), Some("s"));
        assert_eq!(c.old_sha256, None);
    }

    /// The event kinds (and recovery kinds) written at the write sites in `src/`: records built
    /// as maps, outside the typed [`LedgerEvent`] (whose variants are in the schema by
    /// construction).
    fn written_kinds() -> (BTreeSet<String>, BTreeSet<String>) {
        let events = [
            r#""event"\.into\(\),\s*json!\("([^"]+)"\)"#,
            r#"\bbase\(\s*"([^"]+)""#,
            r#"\.record\(\s*"([^"]+)""#,
            r#"\brecord\(\s*home,\s*"([^"]+)""#,
            r#"const EVENT: &str = "([^"]+)""#,
            // `let (kind, action) = ("subagent.start", "subagent_start")`.
            r#"\(\s*"([a-z]+\.[a-z_]+)",\s*"[a-z]+_[a-z_]+",?\s*\)"#,
        ];
        let recoveries = [
            r#"\brecovery\(\s*"([^"]+)""#,
            // `let (kind, reason) = ("torn_tail", "…")`.
            r#"\(\s*"([a-z]+_tail)",\s*"[^"]*",?\s*\)"#,
        ];
        let compile = |ps: &[&str]| -> Vec<regex::Regex> {
            ps.iter().map(|p| regex::Regex::new(p).unwrap()).collect()
        };
        let (events, recoveries) = (compile(&events), compile(&recoveries));
        let mut found = (BTreeSet::new(), BTreeSet::new());
        let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|x| x != "rs") || path.ends_with("event.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests write what they like.
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for (patterns, set) in [(&events, &mut found.0), (&recoveries, &mut found.1)] {
                    for re in patterns {
                        for c in re.captures_iter(code) {
                            set.insert(c[1].to_string());
                        }
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_kind_the_code_writes_is_in_the_schema() {
        let (events, recoveries) = written_kinds();
        // The scan must see the write sites it is meant to check.
        for known in [
            "hook.error",
            "mcp.server_request",
            "subagent.stop",
            "alert.failed",
        ] {
            assert!(events.contains(known), "{known} not found: {events:?}");
        }
        for known in ["torn_tail", "oversize_tail", "hard_link", "state_rebuilt"] {
            assert!(
                recoveries.contains(known),
                "{known} not found: {recoveries:?}"
            );
        }
        let schema = json_schema().to_string();
        for kind in &events {
            let record = json!({"event": kind});
            let known = match serde_json::from_value::<LedgerEvent>(record) {
                Ok(_) => true,
                Err(e) => !e.to_string().contains("unknown variant"),
            };
            assert!(
                known && schema.contains(&format!("\"{kind}\"")),
                "`{kind}` is written but not in the record schema (src/ledger/event.rs)"
            );
        }
        for kind in &recoveries {
            assert!(
                serde_json::from_value::<RecoveryKind>(json!(kind)).is_ok(),
                "recovery kind `{kind}` is written but not in RecoveryKind"
            );
        }
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ledger.md"),
        )
        .unwrap();
        for kind in events.iter().chain(&recoveries) {
            assert!(
                docs.contains(&format!("`{kind}`")),
                "`{kind}` is not documented in docs/ledger.md"
            );
        }
    }
}
