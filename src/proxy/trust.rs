//! What the MCP door sees of upstream tool definitions: each listing is compared with the
//! pins, judged by the Gate (pin state and description markers, no arguments) and recorded;
//! the door then applies the verdict to the listing (deny: withheld, ask: sanitised). Calls
//! carry the definition's pin state to the Gate. The door decides nothing itself.

use super::guard::Guard;
use crate::call::{Effect, PinState, ToolCall, UpstreamTool};
use crate::pins::{self, Seen};
use crate::policy::classify::trust;
use rmcp::model::Tool;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// One upstream tool as last listed in this session.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Digest of its definition.
    pub sha256: String,
    /// The texts it wrote for the model.
    pub descriptions: Vec<String>,
}

/// The tools one upstream listed in this session, and the events already recorded for it.
#[derive(Debug, Default)]
pub struct Book {
    listed: Mutex<HashMap<String, Listed>>,
    /// (tool, digest) whose description findings are already recorded in this session.
    recorded: Mutex<HashSet<(String, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Book {
    /// Whether the upstream listed `tool` in this session.
    pub fn knows(&self, tool: &str) -> bool {
        lock(&self.listed).contains_key(tool)
    }

    /// What the Gate needs to know about a call of `tool`: its pin state as the pins are now
    /// (an approval made meanwhile counts), or unlisted.
    pub fn upstream_tool(&self, guard: &Guard, server: &str, tool: &str) -> UpstreamTool {
        match lock(&self.listed).get(tool) {
            Some(l) => UpstreamTool {
                pin: guard.pins().state(server, tool, &l.sha256),
                descriptions: l.descriptions.clone(),
            },
            None => UpstreamTool {
                pin: PinState::Unlisted,
                descriptions: Vec::new(),
            },
        }
    }
}

/// The texts of a tool written for the model: title, description, annotation title and every
/// `title`/`description` inside its schemas.
pub fn texts(tool: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["title", "description"] {
        if let Some(s) = tool.get(key).and_then(Value::as_str) {
            out.push(s.to_string());
        }
    }
    if let Some(s) = tool.pointer("/annotations/title").and_then(Value::as_str) {
        out.push(s.to_string());
    }
    for schema in ["inputSchema", "outputSchema"] {
        if let Some(v) = tool.get(schema) {
            schema_texts(v, 0, &mut out);
        }
    }
    out
}

fn schema_texts(v: &Value, depth: usize, out: &mut Vec<String>) {
    if depth > 16 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("description" | "title", Value::String(s)) => out.push(s.clone()),
                    _ => schema_texts(v, depth + 1, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| schema_texts(v, depth + 1, out)),
        _ => {}
    }
}

/// Every string in a JSON value with invisible characters removed.
fn sanitise_value(v: &mut Value) {
    match v {
        Value::String(s) if s.chars().any(trust::is_invisible) => *s = trust::sanitise(s),
        Value::Array(a) => a.iter_mut().for_each(sanitise_value),
        Value::Object(m) => m.values_mut().for_each(sanitise_value),
        _ => {}
    }
}

/// The Gate's name of an upstream tool (`mcp__<server>__<tool>`).
pub fn gate_name(server: &str, tool: &str) -> String {
    format!("mcp__{server}__{tool}")
}

/// Reviews one listing (or one page of it) of upstream `server`: compares it with the pins,
/// records changes and description findings, and returns the tools the agent may see
/// (withheld ones removed, sanitised ones cleaned). `first_page` replaces the book's list.
pub fn review(
    guard: &Guard,
    book: &Book,
    server: &str,
    identity: &str,
    context: &ToolCall,
    tools: Vec<Tool>,
    first_page: bool,
) -> Vec<Tool> {
    let values: Vec<Value> = tools
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    let defs: Vec<(String, Value)> = tools
        .iter()
        .zip(&values)
        .map(|(t, v)| (t.name.to_string(), pins::definition(v)))
        .collect();
    let seen: Vec<Seen> = match guard.pins().observe(server, identity, &defs) {
        Ok(seen) => seen,
        Err(e) => {
            tracing::error!("cannot compare {server}'s tools with their pins: {e:#}");
            defs.iter()
                .map(|(name, def)| Seen {
                    tool: name.clone(),
                    state: PinState::New,
                    sha256: pins::digest(def),
                    old: None,
                    newly_pending: false,
                })
                .collect()
        }
    };
    {
        let mut listed = lock(&book.listed);
        if first_page {
            listed.clear();
        }
        for (s, v) in seen.iter().zip(&values) {
            listed.insert(
                s.tool.clone(),
                Listed {
                    sha256: s.sha256.clone(),
                    descriptions: texts(v),
                },
            );
        }
    }
    let mut out = Vec::new();
    for ((tool, value), (s, (_, def))) in tools.into_iter().zip(values).zip(seen.iter().zip(&defs))
    {
        let descriptions = texts(&value);
        let mut call = context.clone();
        call.tool = gate_name(server, &s.tool);
        call.upstream_tool = Some(UpstreamTool {
            pin: s.state,
            descriptions: descriptions.clone(),
        });
        let verdict = guard.judge_definition(&call);
        let treatment = match verdict.effect {
            Effect::Deny => "withheld",
            Effect::Ask => "sanitised",
            Effect::Flag | Effect::Allow => "listed",
        };
        if s.newly_pending {
            let mut f = Map::new();
            f.insert("change".into(), json!(s.state.as_str()));
            f.insert(
                "old_sha256".into(),
                json!(s.old.as_ref().map(|p| p.sha256.clone())),
            );
            f.insert("new_sha256".into(), json!(s.sha256));
            let empty = Value::Object(Map::new());
            let old = s.old.as_ref().map(|p| &p.definition).unwrap_or(&empty);
            f.insert("diff".into(), json!(pins::diff(old, def)));
            f.insert("verdict".into(), json!(verdict.effect.as_str()));
            f.insert("rules".into(), json!(verdict.rules));
            f.insert("treatment".into(), json!(treatment));
            guard.record("mcp.tool_changed", &call, f);
        }
        let markers: Vec<trust::Marker> =
            descriptions.iter().flat_map(|t| trust::scan(t)).collect();
        if !markers.is_empty() && lock(&book.recorded).insert((s.tool.clone(), s.sha256.clone())) {
            let mut f = Map::new();
            f.insert(
                "findings".into(),
                json!(markers.iter().map(|m| m.finding.id()).collect::<Vec<_>>()),
            );
            f.insert(
                "details".into(),
                json!(markers.iter().map(|m| m.detail.clone()).collect::<Vec<_>>()),
            );
            f.insert("definition_sha256".into(), json!(s.sha256));
            f.insert("verdict".into(), json!(verdict.effect.as_str()));
            f.insert("rules".into(), json!(verdict.rules));
            f.insert("treatment".into(), json!(treatment));
            guard.record("mcp.description_finding", &call, f);
        }
        match verdict.effect {
            Effect::Deny => {}
            Effect::Ask => {
                let mut v = value;
                sanitise_value(&mut v);
                out.push(serde_json::from_value(v).unwrap_or(tool));
            }
            Effect::Flag | Effect::Allow => out.push(tool),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_include_parameter_descriptions() {
        let t = json!({"name": "add", "description": "Adds", "inputSchema": {"type": "object",
            "properties": {"notes": {"type": "string", "description": "hidden notes"}}}});
        assert_eq!(texts(&t), vec!["Adds", "hidden notes"]);
    }

    #[test]
    fn sanitising_strips_invisible_characters_everywhere() {
        let mut v = json!({"description": "a\u{E0041}b", "x": ["c\u{200B}\u{200B}d"]});
        sanitise_value(&mut v);
        assert_eq!(v, json!({"description": "ab", "x": ["cd"]}));
    }
}
