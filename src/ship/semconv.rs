//! OpenTelemetry attribute names and values for ledger records: the GenAI semantic conventions
//! (tool execution, guardrail decision; all "Development" status, so they live only here) and
//! the gateway's own `patchwork.*` attributes.

use serde_json::{Map, Value, json};

/// `{"key": k, "value": {"stringValue": v}}`.
pub fn string(key: &str, v: &str) -> Value {
    json!({"key": key, "value": {"stringValue": v}})
}

/// `{"key": k, "value": {"intValue": "<v>"}}` (64-bit integers are decimal strings in OTLP/JSON).
pub fn int(key: &str, v: u64) -> Value {
    json!({"key": key, "value": {"intValue": v.to_string()}})
}

fn strings(key: &str, v: &[Value]) -> Value {
    let values: Vec<Value> = v
        .iter()
        .filter_map(Value::as_str)
        .map(|s| json!({"stringValue": s}))
        .collect();
    json!({"key": key, "value": {"arrayValue": {"values": values}}})
}

/// OTLP severity (number, text) of a record: allow 9, flag/ask 13, deny 17; recovery records
/// are warnings.
pub fn severity(r: &Map<String, Value>) -> (u8, &'static str) {
    match (
        r.get("verdict").and_then(Value::as_str),
        r.get("event").and_then(Value::as_str),
    ) {
        (Some("deny"), _) => (17, "ERROR"),
        (Some("flag" | "ask"), _) | (_, Some("ledger_recovery")) => (13, "WARN"),
        _ => (9, "INFO"),
    }
}

/// The guardrail verdict type of a gateway verdict.
fn verdict_type(v: &str) -> &'static str {
    match v {
        "allow" => "allow",
        "flag" => "warn",
        "ask" => "escalate",
        _ => "deny",
    }
}

/// Attributes of one record (`hash` is checked by the caller).
pub fn attributes(r: &Map<String, Value>, line: &str) -> Vec<Value> {
    let s = |k: &str| r.get(k).and_then(Value::as_str);
    let mut a = Vec::new();
    if let Some(seq) = r.get("seq").and_then(Value::as_u64) {
        a.push(int("patchwork.seq", seq));
    }
    for (k, name) in [
        ("hash", "patchwork.record_hash"),
        ("prev", "patchwork.prev_hash"),
        ("risk", "patchwork.risk"),
        ("door", "patchwork.door"),
        ("verdict", "patchwork.verdict"),
        ("event", "patchwork.event"),
        ("session", "gen_ai.conversation.id"),
        ("agent", "gen_ai.agent.name"),
    ] {
        if let Some(v) = s(k) {
            a.push(string(name, v));
        }
    }
    if let Some(Value::Array(f)) = r.get("flags") {
        a.push(strings("patchwork.flags", f));
    }
    if s("event") == Some("decision") {
        a.push(string("gen_ai.operation.name", "execute_tool"));
        if let Some(t) = s("tool") {
            a.push(string("gen_ai.tool.name", t));
        }
        if let Some(id) = s("tool_use_id") {
            a.push(string("gen_ai.tool.call.id", id));
            a.push(string("gen_ai.guardrail.target.id", id));
        }
        a.push(string("gen_ai.guardrail.target.type", "input"));
        a.push(string("gen_ai.guardrail.target.subtype", "tool_call"));
        a.push(string(
            "gen_ai.guardrail.component.name",
            "patchwork-gateway",
        ));
        if let Some(v) = s("verdict") {
            a.push(string("gen_ai.guardrail.verdict.type", verdict_type(v)));
            let action = match v {
                "deny" if s("mode") != Some("audit") => "block",
                "ask" => "escalate",
                _ => "allow",
            };
            a.push(string("gen_ai.guardrail.action.type", action));
        }
        if let Some(p) = s("policy") {
            a.push(string("gen_ai.guardrail.security.policy.id", p));
        }
        if let Some(Value::Array(rules)) = r.get("rules") {
            a.push(strings("gen_ai.guardrail.security.policy.rule.id", rules));
        }
        if let Some(h) = s("input_sha256") {
            a.push(string("gen_ai.guardrail.security.content.input.hash", h));
        }
    }
    // The stored line itself, so a backend can re-check each hash and the chain.
    a.push(string("patchwork.record", line));
    a
}

/// A short body: `<verdict> <tool or action>: <target>` for decisions, else the event.
pub fn body(r: &Map<String, Value>) -> String {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
    match s("event") {
        "decision" => {
            let target = match r.get("target") {
                Some(Value::Array(t)) => t
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                Some(Value::String(t)) => t.clone(),
                _ => String::new(),
            };
            let what = if s("tool").is_empty() {
                s("action")
            } else {
                s("tool")
            };
            let mut b = format!("{} {what}: {target}", s("verdict"));
            if b.len() > 512 {
                let mut cut = 512;
                while !b.is_char_boundary(cut) {
                    cut -= 1;
                }
                b.truncate(cut);
                b.push('…');
            }
            b
        }
        "ledger.checkpoint" => format!(
            "checkpoint of {} records, root {}",
            r.get("size").unwrap_or(&Value::Null),
            s("root")
        ),
        e => e.to_string(),
    }
}
