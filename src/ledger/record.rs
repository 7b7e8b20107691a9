//! One ledger record: building it (adding `v`, `seq`, `ts`, `prev`, `hash`) and checking a stored
//! line exactly (canonical form, self-hash).
//!
//! The hash of a record is `sha256:` + hex SHA-256 over the canonical bytes of the record without
//! its `hash` member. A stored line must be byte-for-byte the canonical form of what it parses
//! to; the checker re-canonicalises the parsed line once, compares, and hashes that same buffer
//! with the `hash` member spliced out (see `docs/ledger.md`).

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

/// A stored line after the exact check. `hash_ok` says whether its `hash` matches its content.
#[derive(Debug, Clone)]
pub struct Checked {
    pub record: Record,
    pub hash_ok: bool,
}

/// Reusable buffers for checking many lines without allocating per line.
#[derive(Debug, Default)]
pub struct Checker {
    buf: Vec<u8>,
}

impl Checker {
    /// Checks one stored line (without its newline): parses it, requires it to be canonical, and
    /// recomputes its hash.
    pub fn check(&mut self, line: &[u8]) -> Result<Checked, LineFault> {
        let value: Value =
            serde_json::from_slice(line).map_err(|e| LineFault::NotJson(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(LineFault::NotJson("not an object".into()));
        };
        self.buf.clear();
        let range = canonical::write_record(&mut self.buf, &fields)
            .map_err(|e: CanonError| LineFault::NotCanonical(e.to_string()))?;
        if self.buf != line {
            return Err(LineFault::NotCanonical(
                "bytes differ from the canonical form (key order, whitespace, escapes or duplicate keys)".into(),
            ));
        }
        let range = range.ok_or(LineFault::Field("hash"))?;
        let computed = {
            let mut h = Sha256::new();
            h.update(&self.buf[..range.start]);
            h.update(&self.buf[range.end..]);
            h.finalize()
        };
        let record = into_record(fields)?;
        let hash_ok = record
            .hash
            .strip_prefix("sha256:")
            .and_then(|h| hex::decode(h).ok())
            .is_some_and(|h| h[..] == computed[..]);
        Ok(Checked { record, hash_ok })
    }
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
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn built_lines_check_and_hash_the_body_without_hash() {
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
        let c = Checker::default().check(&line).unwrap();
        assert!(c.hash_ok);
        assert_eq!(
            (c.record.seq, c.record.ts, c.record.hash.as_str()),
            (3, 17, hash.as_str())
        );
    }

    #[test]
    fn edits_are_caught() {
        let (line, _) = build(
            fields(json!({"event": "decision", "target": "a"})),
            0,
            1,
            GENESIS,
        )
        .unwrap();
        let text = String::from_utf8(line).unwrap();
        let mut ck = Checker::default();
        let edited = text.replace("\"target\":\"a\"", "\"target\":\"b\"");
        assert!(!ck.check(edited.as_bytes()).unwrap().hash_ok);
        let spaced = text.replacen(':', ": ", 1);
        assert!(matches!(
            ck.check(spaced.as_bytes()),
            Err(LineFault::NotCanonical(_))
        ));
        let dup = text.replacen('{', "{\"event\":\"x\",", 1);
        assert!(ck.check(dup.as_bytes()).is_err());
        assert!(matches!(
            ck.check(b"{\"seq\":1"),
            Err(LineFault::NotJson(_))
        ));
    }
}
