//! One ledger record as the dashboard's tables show it (and as `/live` sends it).

use crate::ledger::Record;
use serde::Serialize;
use serde_json::Value;

/// A table row: every member is text to be escaped by the template or set as `textContent`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub seq: u64,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub time: String,
    pub session: String,
    pub door: String,
    pub tool: String,
    pub action: String,
    pub verdict: String,
    pub risk: String,
    pub target: String,
    pub rules: Vec<String>,
    pub reason: String,
    pub refused: bool,
}

impl Row {
    /// The row of `r`.
    pub fn of(r: &Record) -> Row {
        let text = |k: &str| r.str(k).unwrap_or("").to_string();
        let verdict = match r.fields.get("verdict") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("effect")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        };
        let rules = match r.fields.get("rules") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Row {
            seq: r.seq,
            time: time_text(r.ts),
            session: text("session"),
            door: text("door"),
            tool: text("tool"),
            action: r.str("action").or(r.event()).unwrap_or("").to_string(),
            refused: matches!(verdict.as_str(), "deny" | "ask"),
            verdict,
            risk: text("risk"),
            target: target_text(r.fields.get("target")),
            rules,
            reason: text("reason"),
        }
    }

    /// The first 8 characters of the session id (the full id is in the link and its title).
    pub fn session_short(&self) -> String {
        self.session.chars().take(8).collect()
    }
}

/// A record's `target` as one line of text.
pub fn target_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| target_text(Some(x)))
            .collect::<Vec<_>>()
            .join(" · "),
        Some(Value::Object(o)) => o
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        Some(v) => v.to_string(),
    }
}

/// Microseconds since the epoch as UTC text.
pub fn time_text(ts: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ts.to_string())
}
