//! One ledger record: building it (adding `v`, `seq`, `ts`, `prev`, `hash`) and reading it back.
//!
//! The hash of a record is `sha256:` + hex SHA-256 over the canonical bytes of the record without
//! its `hash` member (see `docs/ledger.md`). Stored lines are checked exactly by
//! [`super::scan::scan`].

use super::canonical::{self, CanonError};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Format version written in every record's `v`.
pub const VERSION: i64 = 1;

/// `prev` of the first record: `sha256:` followed by 64 zeros.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Fields the ledger sets itself; callers may not pass them.
pub const RESERVED: [&str; 5] = ["v", "seq", "ts", "prev", "hash"];

/// `sha256:<hex>` of `bytes`.
pub fn sha256_tag(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A record read back from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    pub prev: String,
    pub hash: String,
    /// All members of the record, including the ones above.
    pub fields: Map<String, Value>,
}

impl Record {
    /// A string member, if present.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// The `event` member (`decision`, `outcome`, `ledger_recovery`, …).
    pub fn event(&self) -> Option<&str> {
        self.str("event")
    }
}

/// Why a stored line is not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineFault {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("not canonical JSON: {0}")]
    NotCanonical(String),
    #[error("missing or malformed `{0}`")]
    Field(&'static str),
}

/// Reads the ledger members of a parsed record, without checking its hash.
pub fn into_record(fields: Map<String, Value>) -> Result<Record, LineFault> {
    let seq = fields
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(LineFault::Field("seq"))?;
    let ts = fields
        .get("ts")
        .and_then(Value::as_i64)
        .ok_or(LineFault::Field("ts"))?;
    let prev = hash_field(&fields, "prev")?;
    let hash = hash_field(&fields, "hash")?;
    Ok(Record {
        seq,
        ts,
        prev,
        hash,
        fields,
    })
}

fn hash_field(fields: &Map<String, Value>, key: &'static str) -> Result<String, LineFault> {
    let s = fields
        .get(key)
        .and_then(Value::as_str)
        .ok_or(LineFault::Field(key))?;
    let ok = s.len() == 71
        && s.starts_with("sha256:")
        && s[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(LineFault::Field(key))
    }
}

/// Builds the stored line (canonical JSON, no newline) and hash of a new record from the
/// caller's already redacted and normalised `fields`.
pub fn build(
    mut fields: Map<String, Value>,
    seq: u64,
    ts: i64,
    prev: &str,
) -> Result<(Vec<u8>, String), CanonError> {
    fields.insert("v".into(), Value::from(VERSION));
    fields.insert("seq".into(), Value::from(seq));
    fields.insert("ts".into(), Value::from(ts));
    fields.insert("prev".into(), Value::from(prev));
    let body = canonical::to_vec(&Value::Object(fields.clone()))?;
    let hash = sha256_tag(&body);
    fields.insert("hash".into(), Value::from(hash.clone()));
    let line = canonical::to_vec(&Value::Object(fields))?;
    Ok((line, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::scan::scan;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn built_lines_hash_the_body_without_hash() {
        let (line, hash) = build(
            fields(json!({"event": "decision", "x": {"hash": 1}})),
            3,
            17,
            GENESIS,
        )
        .unwrap();
        let text = String::from_utf8(line.clone()).unwrap();
        let body = text.replace(&format!(",\"hash\":\"{hash}\""), "");
        assert_eq!(sha256_tag(body.as_bytes()), hash);
        let r = into_record(serde_json::from_slice(&line).unwrap()).unwrap();
        assert_eq!(
            (r.seq, r.ts, r.hash.as_str(), r.prev.as_str()),
            (3, 17, hash.as_str(), GENESIS)
        );
    }

    #[test]
    fn edits_are_caught_by_the_scanner() {
        let (line, _) = build(
            fields(json!({"event": "decision", "target": "a"})),
            0,
            1,
            GENESIS,
        )
        .unwrap();
        let text = String::from_utf8(line).unwrap();
        let edited = text.replace("\"target\":\"a\"", "\"target\":\"b\"");
        assert!(!scan(edited.as_bytes()).unwrap().hash_ok);
        let spaced = text.replacen(':', ": ", 1);
        assert!(matches!(
            scan(spaced.as_bytes()),
            Err(LineFault::NotCanonical(_))
        ));
        let dup = text.replacen('{', "{\"event\":\"x\",", 1);
        assert!(scan(dup.as_bytes()).is_err());
        assert!(scan(b"{\"seq\":1").is_err());
        assert!(matches!(scan(b"{\"seq\":1}"), Err(LineFault::Field(_))));
    }
}
