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
        let ok = hex_part.len() == 64
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Digest(format!("sha256:{hex_part}")))
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

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Digest, String> {
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

/// The ledger repaired a torn or damaged tail (never silently).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Recovery {
    /// What was repaired (`torn_tail`, …).
    pub kind: String,
    /// Details of the repair (offsets, lengths, digests of what was cut).
    #[serde(flatten)]
    pub details: Map<String, Value>,
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
    #[serde(rename = "watchdog.repair")]
    WatchdogRepair(WatchdogRepair),
    #[serde(rename = "ledger.checkpoint")]
    Checkpoint(Checkpoint),
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
}
