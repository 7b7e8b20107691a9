//! OpenTelemetry attribute names and values for ledger records: the GenAI semantic conventions
//! (tool execution, guardrail decision; all "Development" status, so they live only here) and
//! the gateway's own `patchwork.*` attributes.

use super::otlp::{AnyValue, KeyValue};
use super::view::{Json, RecordView, str_of};
use std::borrow::Cow;

/// A string attribute.
pub fn string<'v>(key: &'static str, v: impl Into<Cow<'v, str>>) -> KeyValue<'v> {
    KeyValue {
        key,
        value: AnyValue::StringValue(v.into()),
    }
}

/// An integer attribute (64-bit integers are decimal strings in OTLP/JSON).
pub fn int(key: &'static str, v: u64) -> KeyValue<'static> {
    KeyValue {
        key,
        value: AnyValue::IntValue(v),
    }
}

/// A list-of-strings attribute from the strings of `list`.
fn strings<'v>(key: &'static str, list: &'v Json<'_>) -> KeyValue<'v> {
    let values = list
        .strs()
        .map(|s| AnyValue::StringValue(s.into()))
        .collect();
    KeyValue {
        key,
        value: AnyValue::ArrayValue { values },
    }
}

/// OTLP severity (number, text) of a record: allow 9, flag/ask 13, deny 17; recovery records
/// are warnings.
pub fn severity(r: &RecordView) -> (u8, &'static str) {
    match (str_of(&r.verdict), str_of(&r.event)) {
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

/// Attributes of one record (`hash` is checked by the caller); `line` is the stored line.
pub fn attributes<'v>(r: &'v RecordView<'_>, line: &'v str) -> Vec<KeyValue<'v>> {
    let mut a = Vec::with_capacity(24);
    if let Some(seq) = r.seq.as_ref().and_then(Json::as_u64) {
        a.push(int("patchwork.seq", seq));
    }
    for (v, name) in [
        (&r.hash, "patchwork.record_hash"),
        (&r.prev, "patchwork.prev_hash"),
        (&r.risk, "patchwork.risk"),
        (&r.door, "patchwork.door"),
        (&r.verdict, "patchwork.verdict"),
        (&r.event, "patchwork.event"),
        (&r.session, "gen_ai.conversation.id"),
        (&r.agent, "gen_ai.agent.name"),
    ] {
        if let Some(v) = str_of(v) {
            a.push(string(name, v));
        }
    }
    if let Some(f @ Json::List(_)) = &r.flags {
        a.push(strings("patchwork.flags", f));
    }
    if str_of(&r.event) == Some("decision") {
        a.push(string("gen_ai.operation.name", "execute_tool"));
        if let Some(t) = str_of(&r.tool) {
            a.push(string("gen_ai.tool.name", t));
        }
        if let Some(id) = str_of(&r.tool_use_id) {
            a.push(string("gen_ai.tool.call.id", id));
            a.push(string("gen_ai.guardrail.target.id", id));
        }
        a.push(string("gen_ai.guardrail.target.type", "input"));
        a.push(string("gen_ai.guardrail.target.subtype", "tool_call"));
        a.push(string(
            "gen_ai.guardrail.component.name",
            "patchwork-gateway",
        ));
        if let Some(v) = str_of(&r.verdict) {
            a.push(string("gen_ai.guardrail.verdict.type", verdict_type(v)));
            let action = match v {
                "deny" if str_of(&r.mode) != Some("audit") => "block",
                "ask" => "escalate",
                _ => "allow",
            };
            a.push(string("gen_ai.guardrail.action.type", action));
        }
        if let Some(p) = str_of(&r.policy) {
            a.push(string("gen_ai.guardrail.security.policy.id", p));
        }
        if let Some(rules @ Json::List(_)) = &r.rules {
            a.push(strings("gen_ai.guardrail.security.policy.rule.id", rules));
        }
        if let Some(h) = str_of(&r.input_sha256) {
            a.push(string("gen_ai.guardrail.security.content.input.hash", h));
        }
    }
    // The stored line itself, so a backend can re-check each hash and the chain.
    a.push(string("patchwork.record", line));
    a
}

/// Longest body, in bytes (cut at a character boundary, then `…`).
const MAX_BODY: usize = 512;

/// The string value of a member, else "".
fn text<'v>(m: &'v Option<Json<'_>>) -> &'v str {
    str_of(m).unwrap_or("")
}

/// A short body: `<verdict> <tool or action>: <target>` for decisions, else the event.
pub fn body<'v>(r: &'v RecordView<'_>) -> Cow<'v, str> {
    match text(&r.event) {
        "decision" => {
            let what = match text(&r.tool) {
                "" => text(&r.action),
                t => t,
            };
            let mut b = format!("{} {what}: ", text(&r.verdict));
            match &r.target {
                Some(t @ Json::List(_)) => {
                    for (i, part) in t.strs().enumerate() {
                        if i > 0 {
                            b.push(' ');
                        }
                        b.push_str(part);
                        if b.len() > MAX_BODY {
                            break;
                        }
                    }
                }
                Some(Json::Str(t)) => b.push_str(t),
                _ => {}
            }
            if b.len() > MAX_BODY {
                let mut cut = MAX_BODY;
                while !b.is_char_boundary(cut) {
                    cut -= 1;
                }
                b.truncate(cut);
                b.push('…');
            }
            b.into()
        }
        "ledger.checkpoint" => {
            let size = r.size.as_ref().and_then(Json::as_u64);
            let size = size.map_or_else(|| "null".to_string(), |n| n.to_string());
            format!("checkpoint of {size} records, root {}", text(&r.root)).into()
        }
        e => e.into(),
    }
}
