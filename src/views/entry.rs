//! [`Entry`]: one ledger record as the views read it — the fields of every event of the record
//! schema ([`crate::ledger::event`]) in one flat struct, parsed straight from the stored line.

use crate::ledger::event::{Digest, OutcomeDetail};
use serde::{Deserialize, Deserializer, Serialize};

/// One record, flattened. Missing members are `None`/empty; unknown members are ignored, so
/// every record ever written (legacy `tool.post`/`tool_name` included) reads as an entry.
/// Every string in it came from the ledger and is untrusted: render it escaped.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub seq: u64,
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    #[serde(default)]
    pub hash: String,
    /// `decision`, `outcome`, `session.start`, … (`tool.post` reads as `outcome`).
    #[serde(default, deserialize_with = "event_name")]
    pub event: String,
    #[serde(default)]
    pub door: Option<String>,
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub hook_event: Option<String>,
    #[serde(default, alias = "tool_name")]
    pub tool: Option<String>,
    #[serde(default)]
    pub tool_use_id: Option<String>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub target: Vec<String>,
    #[serde(default)]
    pub risk: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub flags: Vec<String>,
    #[serde(default, deserialize_with = "strings")]
    pub findings: Vec<String>,
    #[serde(default)]
    pub verdict: Option<String>,
    #[serde(default)]
    pub would_be: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub rules: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub policy_name: Option<String>,
    #[serde(default)]
    pub input_sha256: Option<Digest>,
    #[serde(default)]
    pub decision_seq: Option<u64>,
    #[serde(default)]
    pub outcome: Option<OutcomeDetail>,
    #[serde(default)]
    pub outcome_seq: Option<u64>,
    /// Enforcement gap kind (`denied_but_ran`, `no_decision`).
    #[serde(default)]
    pub gap: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub armed: Option<bool>,
    /// Recovery kind of a `ledger_recovery` record.
    #[serde(default)]
    pub kind: Option<String>,
    /// The stored line as read (for faithful JSON output); empty when built otherwise.
    #[serde(skip)]
    pub raw: Box<str>,
}

impl Entry {
    /// Parses one stored line.
    pub fn parse(line: &[u8]) -> serde_json::Result<Entry> {
        serde_json::from_slice(line)
    }

    /// A decision record.
    pub fn is_decision(&self) -> bool {
        self.event == "decision"
    }

    /// An outcome record (new or legacy form).
    pub fn is_outcome(&self) -> bool {
        self.event == "outcome"
    }

    /// The verdict, or `""`.
    pub fn verdict(&self) -> &str {
        self.verdict.as_deref().unwrap_or("")
    }

    /// The risk, or `""`.
    pub fn risk(&self) -> &str {
        self.risk.as_deref().unwrap_or("")
    }

    /// The tool name, or `""`.
    pub fn tool(&self) -> &str {
        self.tool.as_deref().unwrap_or("")
    }

    /// Whether the call was refused (deny or ask).
    pub fn refused(&self) -> bool {
        matches!(self.verdict(), "deny" | "ask")
    }

    /// Targets without their `action:` prefix, joined by spaces.
    pub fn target_text(&self) -> String {
        self.target
            .iter()
            .map(|t| t.split_once(':').map_or(t.as_str(), |(_, v)| v))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Rank of a risk name (`none` 0 … `critical` 4), `None` when unknown.
pub fn risk_rank(risk: &str) -> Option<u8> {
    ["none", "low", "medium", "high", "critical"]
        .iter()
        .position(|r| r.eq_ignore_ascii_case(risk))
        .map(|p| p as u8)
}

fn event_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    Ok(if s == "tool.post" {
        "outcome".into()
    } else {
        s
    })
}

/// A list of strings, or one string, or a list with non-string items (kept as JSON text).
fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringsVisitor)
}

struct StringsVisitor;

impl<'de> serde::de::Visitor<'de> for StringsVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or a list")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vec<String>, E> {
        Ok(vec![s.to_string()])
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        while let Some(AnyText(s)) = seq.next_element()? {
            out.push(s);
        }
        Ok(out)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<String>, A::Error> {
        let v = serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(vec![v.to_string()])
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Vec<String>, E> {
        Ok(vec![serde_json::Value::from(v).to_string()])
    }
}

/// One list item as text: a string as is, anything else as its JSON text.
struct AnyText(String);

impl<'de> Deserialize<'de> for AnyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AnyText, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(AnyText(s)),
            other => Ok(AnyText(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_new_outcomes_read_alike() {
        let old = format!(
            r#"{{"event":"tool.post","tool_name":"Bash","seq":3,"ts":5,"input_sha256":"{}","outcome":{{"status":"ok"}}}}"#,
            "0".repeat(64)
        );
        let e = Entry::parse(old.as_bytes()).unwrap();
        assert!(e.is_outcome());
        assert_eq!(e.tool(), "Bash");
        assert!(e.input_sha256.unwrap().as_str().starts_with("sha256:"));
        let d = Entry::parse(
            br#"{"event":"decision","seq":1,"ts":2,"target":["file_read:/a"],"verdict":"deny"}"#,
        )
        .unwrap();
        assert!(d.refused());
        assert_eq!(d.target_text(), "/a");
        assert_eq!(risk_rank("HIGH"), Some(3));
    }

    #[test]
    fn lists_of_anything_read_as_text() {
        let e = Entry::parse(
            br#"{"seq":1,"ts":2,"target":"one","flags":[1,"a",{"k":[true]},null],"rules":{"x":1},"findings":null}"#,
        )
        .unwrap();
        assert_eq!(e.target, ["one"]);
        assert_eq!(e.flags, ["1", "a", r#"{"k":[true]}"#, "null"]);
        assert_eq!(e.rules, [r#"{"x":1}"#]);
        assert!(e.findings.is_empty());
    }
}
