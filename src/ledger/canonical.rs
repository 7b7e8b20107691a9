//! Canonical JSON in the style of RFC 8785 (JCS), restricted to what the ledger stores:
//! objects with keys sorted by UTF-16 code units, no whitespace, strings with the minimal JSON
//! escapes, and integers only (no floats, magnitude at most 2^53 − 1).
//!
//! [`normalize`] turns values canonical JSON cannot carry into strings *before* anything is
//! written or hashed, so callers never see an error for a stray float in a tool's arguments.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::io::Write as _;
use std::ops::Range;

/// Largest integer magnitude stored as a JSON number (2^53 − 1, exact in every JSON reader).
pub const MAX_SAFE_INT: i64 = (1 << 53) - 1;

/// A value that canonical JSON cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    /// A float or an integer beyond ±(2^53 − 1).
    #[error("number {0} is not an integer within ±(2^53 − 1)")]
    Number(String),
}

/// Nesting depth (counting the record itself as 1) from which arrays and objects are stored as
/// their JSON text instead, well inside the depth every JSON reader (and the verifier) accepts.
pub const MAX_NEST: usize = 64;

/// Makes a caller's field value storable: every number canonical JSON cannot carry (floats,
/// integers beyond ±(2^53 − 1)) becomes a string of its decimal text (`0.5` → `"0.5"`), and
/// arrays or objects nested deeper than [`MAX_NEST`] become a string of their JSON text.
pub fn normalize(v: &mut Value) {
    normalize_at(v, 2);
}

fn normalize_at(v: &mut Value, depth: usize) {
    match v {
        Value::Number(n) if !is_safe_int(n) => *v = Value::String(n.to_string()),
        Value::Array(_) | Value::Object(_) if depth > MAX_NEST => *v = Value::String(v.to_string()),
        Value::Array(a) => a.iter_mut().for_each(|x| normalize_at(x, depth + 1)),
        Value::Object(m) => m.values_mut().for_each(|x| normalize_at(x, depth + 1)),
        _ => {}
    }
}

fn is_safe_int(n: &Number) -> bool {
    if let Some(i) = n.as_i64() {
        (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(&i)
    } else {
        false
    }
}

/// Orders object keys as RFC 8785 does: by their UTF-16 code units.
pub fn key_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Appends the canonical form of `v` to `out`.
pub fn write_value(out: &mut Vec<u8>, v: &Value) -> Result<(), CanonError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if !is_safe_int(n) {
                return Err(CanonError::Number(n.to_string()));
            }
            let i = n.as_i64().unwrap_or_default();
            write!(out, "{i}").expect("writing to a Vec cannot fail");
        }
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(m) => {
            write_object(out, m, None)?;
        }
    }
    Ok(())
}

/// Appends the canonical form of the object `m` to `out` and returns the byte range (in `out`)
/// of its top-level `"hash":…` member together with one separating comma, so that removing
/// that range leaves exactly the canonical form of `m` without `hash`.
pub fn write_record(
    out: &mut Vec<u8>,
    m: &Map<String, Value>,
) -> Result<Option<Range<usize>>, CanonError> {
    write_object(out, m, Some("hash"))
}

fn write_object(
    out: &mut Vec<u8>,
    m: &Map<String, Value>,
    mark: Option<&str>,
) -> Result<Option<Range<usize>>, CanonError> {
    let mut members: Vec<(&String, &Value)> = m.iter().collect();
    members.sort_unstable_by(|a, b| key_order(a.0, b.0));
    let mut marked = None;
    out.push(b'{');
    let n = members.len();
    for (i, (k, v)) in members.into_iter().enumerate() {
        let start = out.len();
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k);
        out.push(b':');
        write_value(out, v)?;
        if mark == Some(k.as_str()) {
            // Take the comma before the member, or after it when it is the first one.
            marked = Some(if i == 0 && n > 1 {
                start..out.len() + 1
            } else {
                start..out.len()
            });
        }
    }
    out.push(b'}');
    Ok(marked)
}

/// Appends `s` as a JSON string with the minimal escapes RFC 8785 prescribes.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        if esc.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// The canonical form of `v` as bytes.
pub fn to_vec(v: &Value) -> Result<Vec<u8>, CanonError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, v)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        String::from_utf8(to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let v = json!({"b": [1, {"z": null, "a": true}], "a": "x", "A": -3});
        assert_eq!(canon(v), r#"{"A":-3,"a":"x","b":[1,{"a":true,"z":null}]}"#);
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+1F600 is D83D DE00 in UTF-16, which sorts before U+FB01 although its code point is larger.
        let v = json!({"\u{fb01}": 1, "\u{1f600}": 2});
        assert_eq!(canon(v), "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
    }

    #[test]
    fn escapes_minimally() {
        let v = json!("q\"b\\n\n\u{1}\u{7f}é/\u{2028}");
        assert_eq!(canon(v), "\"q\\\"b\\\\n\\n\\u0001\u{7f}é/\u{2028}\"");
    }

    #[test]
    fn floats_and_big_integers_are_rejected_then_normalized_to_strings() {
        for v in [
            json!(0.5),
            json!(1e300),
            json!(9007199254740992u64),
            json!(-9007199254740992i64),
        ] {
            assert!(to_vec(&v).is_err(), "{v}");
            let mut n = json!({"x": [v.clone()]});
            normalize(&mut n);
            assert_eq!(n, json!({"x": [v.to_string()]}));
        }
        assert_eq!(canon(json!(9007199254740991u64)), "9007199254740991");
        assert_eq!(canon(json!(-9007199254740991i64)), "-9007199254740991");
    }

    #[test]
    fn deep_nesting_is_stored_as_text() {
        let mut deep = json!(1);
        for _ in 0..300 {
            deep = json!([deep]);
        }
        let mut v = deep.clone();
        normalize(&mut v);
        let mut depth = 1;
        let mut cur = &v;
        while let Value::Array(a) = cur {
            depth += 1;
            cur = &a[0];
        }
        assert_eq!(depth, MAX_NEST);
        assert!(cur.as_str().unwrap().starts_with("[[["));
    }

    #[test]
    fn hash_member_range_removes_exactly_the_member() {
        for (v, without) in [
            (json!({"a": 1, "hash": "h", "z": 2}), r#"{"a":1,"z":2}"#),
            (
                json!({"hash": "h", "z": {"hash": 1}}),
                r#"{"z":{"hash":1}}"#,
            ),
            (json!({"a": 1, "hash": "h"}), r#"{"a":1}"#),
            (json!({"hash": "h"}), "{}"),
        ] {
            let mut out = Vec::new();
            let r = write_record(&mut out, v.as_object().unwrap())
                .unwrap()
                .unwrap();
            let mut spliced = out[..r.start].to_vec();
            spliced.extend_from_slice(&out[r.end..]);
            assert_eq!(String::from_utf8(spliced).unwrap(), without);
        }
    }
}
