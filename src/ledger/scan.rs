//! The exact check of one stored line, without building a JSON tree: a single pass over the
//! bytes that accepts a line **iff** it is the canonical form (see [`super::canonical`]) of a
//! JSON object, finds the top-level ledger members, and hashes the line with its top-level
//! `hash` member spliced out.
//!
//! Why splicing is exact: the line is accepted only when re-canonicalising it would give the same
//! bytes (sorted unique keys, no whitespace, minimal escapes, safe integers). Removing the `hash`
//! member and one adjacent comma from a canonical object yields the canonical object without
//! `hash` — the bytes `append` hashed. A property test checks the scanner against
//! "parse with serde_json, re-canonicalise, compare".

use super::canonical::{MAX_SAFE_INT, key_order};
use super::record::LineFault;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::ops::Range;

/// Deepest nesting accepted (the same limit serde_json applies when parsing).
pub const MAX_DEPTH: usize = 128;

/// The ledger members of a checked line; strings borrow from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned<'a> {
    pub seq: u64,
    pub ts: i64,
    pub prev: &'a str,
    pub hash: &'a str,
    /// The `event` member when it is a string without escapes.
    pub event: Option<&'a str>,
    /// Whether `hash` is the SHA-256 of the line without its `hash` member.
    pub hash_ok: bool,
}

/// Checks one stored line (without its newline).
pub fn scan(line: &[u8]) -> Result<Scanned<'_>, LineFault> {
    scan_with(line, |_, _| {})
}

/// [`scan`], also calling `member(key, value)` with each top-level member whose key is written
/// without escapes: the key and the byte range of its (raw JSON) value in `line`. The calls
/// happen while the line is read, so a line found invalid later has had some of them too.
pub fn scan_with<'a>(
    line: &'a [u8],
    member: impl FnMut(&'a str, Range<usize>),
) -> Result<Scanned<'a>, LineFault> {
    let text = std::str::from_utf8(line).map_err(|e| LineFault::NotJson(e.to_string()))?;
    let mut p = Parser {
        b: line,
        text,
        i: 0,
        top: Top::default(),
        member,
    };
    p.object(0, true)?;
    if p.i != line.len() {
        return Err(p.fault("trailing bytes"));
    }
    let top = p.top;
    let str_of = |span: Option<Span>, name: &'static str| -> Result<&str, LineFault> {
        let s = span.filter(|s| !s.escaped).ok_or(LineFault::Field(name))?;
        Ok(&text[s.start..s.end])
    };
    let hash = str_of(top.hash, "hash")?;
    let prev = str_of(top.prev, "prev")?;
    for (v, name) in [(hash, "hash"), (prev, "prev")] {
        if !is_hash(v) {
            return Err(LineFault::Field(name));
        }
    }
    let seq = top.seq.filter(|n| *n >= 0).ok_or(LineFault::Field("seq"))? as u64;
    let ts = top.ts.ok_or(LineFault::Field("ts"))?;
    let event = top
        .event
        .filter(|s| !s.escaped)
        .map(|s| &text[s.start..s.end]);
    let range = top.hash_range.ok_or(LineFault::Field("hash"))?;
    let mut h = Sha256::new();
    h.update(&line[..range.0]);
    h.update(&line[range.1..]);
    let digest = h.finalize();
    let mut stored = [0u8; 32];
    let hash_ok = hex::decode_to_slice(&hash[7..], &mut stored).is_ok() && stored[..] == digest[..];
    Ok(Scanned {
        seq,
        ts,
        prev,
        hash,
        event,
        hash_ok,
    })
}

fn is_hash(s: &str) -> bool {
    s.len() == 71
        && s.starts_with("sha256:")
        && s[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Byte span of a string's contents (between the quotes).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    escaped: bool,
}

#[derive(Debug, Default)]
struct Top {
    seq: Option<i64>,
    ts: Option<i64>,
    prev: Option<Span>,
    hash: Option<Span>,
    event: Option<Span>,
    hash_range: Option<(usize, usize)>,
}

struct Parser<'a, F> {
    b: &'a [u8],
    /// The same bytes, already checked to be UTF-8.
    text: &'a str,
    i: usize,
    top: Top,
    /// Told each top-level member (see [`scan_with`]).
    member: F,
}

impl<'a, F: FnMut(&'a str, Range<usize>)> Parser<'a, F> {
    fn fault(&self, what: &str) -> LineFault {
        LineFault::NotCanonical(format!("{what} at byte {}", self.i))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), LineFault> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.fault(&format!("expected `{}`", c as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Option<i64>, LineFault> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1, false).map(|_| None),
            Some(b'[') => self.array(depth + 1).map(|_| None),
            Some(b'"') => self.string().map(|_| None),
            Some(b't') => self.literal(b"true").map(|_| None),
            Some(b'f') => self.literal(b"false").map(|_| None),
            Some(b'n') => self.literal(b"null").map(|_| None),
            Some(b'-' | b'0'..=b'9') => self.number().map(Some),
            _ => Err(self.fault("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), LineFault> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.fault("bad literal"))
        }
    }

    /// A canonical integer: `0` or `-?[1-9][0-9]*` within ±(2^53 − 1); no fraction or exponent.
    fn number(&mut self) -> Result<i64, LineFault> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut n: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n * 10 + i64::from(d - b'0');
            self.i += 1;
            if n > MAX_SAFE_INT {
                return Err(self.fault("integer beyond 2^53 - 1"));
            }
        }
        let digits = self.i - start;
        if digits == 0 || (self.b[start] == b'0' && (digits > 1 || neg)) {
            return Err(self.fault("non-canonical integer"));
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(self.fault("float"));
        }
        Ok(if neg { -n } else { n })
    }

    /// A string with canonical (minimal) escapes; returns the span of its contents.
    fn string(&mut self) -> Result<Span, LineFault> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.fault("unterminated string"));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    let e = self.b.get(self.i + 1).copied();
                    match e {
                        Some(b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f') => self.i += 2,
                        Some(b'u') => {
                            let h = self
                                .b
                                .get(self.i + 2..self.i + 6)
                                .ok_or_else(|| self.fault("bad escape"))?;
                            let lower_hex = h
                                .iter()
                                .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(x));
                            let v = std::str::from_utf8(h)
                                .ok()
                                .and_then(|s| u8::from_str_radix(s, 16).ok());
                            match v {
                                Some(v)
                                    if lower_hex
                                        && v < 0x20
                                        && !matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) =>
                                {
                                    self.i += 6
                                }
                                _ => return Err(self.fault("non-canonical \\u escape")),
                            }
                        }
                        _ => return Err(self.fault("non-canonical escape")),
                    }
                }
                0..=0x1f => return Err(self.fault("raw control character in string")),
                _ => self.i += 1,
            }
        }
        let end = self.i;
        self.i += 1;
        Ok(Span {
            start,
            end,
            escaped,
        })
    }

    fn array(&mut self, depth: usize) -> Result<(), LineFault> {
        if depth > MAX_DEPTH {
            return Err(self.fault("nested too deeply"));
        }
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.fault("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize, top: bool) -> Result<(), LineFault> {
        if depth > MAX_DEPTH {
            return Err(self.fault("nested too deeply"));
        }
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut last: Option<Span> = None;
        let mut first = true;
        loop {
            let member_start = if first { self.i } else { self.i - 1 };
            let key = self.string()?;
            if let Some(prev) = last
                && self.key_cmp(prev, key) != Ordering::Less
            {
                return Err(self.fault("keys not in canonical order (or duplicated)"));
            }
            self.eat(b':')?;
            let value_start = self.i;
            let num = self.value(depth)?;
            if top && !key.escaped {
                let span = Span {
                    start: value_start + 1,
                    end: self.i.saturating_sub(1),
                    escaped: self.b[value_start..self.i].contains(&b'\\'),
                };
                let is_str = self.b[value_start] == b'"';
                match &self.b[key.start..key.end] {
                    b"seq" => self.top.seq = num,
                    b"ts" => self.top.ts = num,
                    b"prev" if is_str => self.top.prev = Some(span),
                    b"event" if is_str => self.top.event = Some(span),
                    b"hash" if is_str => {
                        self.top.hash = Some(span);
                        let end = if first && self.peek() == Some(b',') {
                            self.i + 1
                        } else {
                            self.i
                        };
                        self.top.hash_range = Some((member_start, end));
                    }
                    _ => {}
                }
                (self.member)(&self.text[key.start..key.end], value_start..self.i);
            }
            last = Some(key);
            first = false;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.fault("expected `,` or `}`")),
            }
        }
    }

    /// Compares two keys as RFC 8785 orders them (UTF-16 code units of the decoded strings).
    fn key_cmp(&self, a: Span, b: Span) -> Ordering {
        let (ra, rb) = (&self.b[a.start..a.end], &self.b[b.start..b.end]);
        if !a.escaped && !b.escaped && ra.is_ascii() && rb.is_ascii() {
            return ra.cmp(rb);
        }
        let decode = |s: Span| -> String {
            serde_json::from_slice(&self.b[s.start - 1..s.end + 1]).unwrap_or_default()
        };
        key_order(&decode(a), &decode(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical;
    use crate::ledger::record::{GENESIS, build};
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    /// The definition the scanner must agree with: parse, re-canonicalise, compare bytes.
    fn canonical_by_definition(line: &[u8]) -> bool {
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line) else {
            return false;
        };
        let mut out = Vec::new();
        canonical::write_record(&mut out, &m).is_ok() && out == line
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-MAX_SAFE_INT..=MAX_SAFE_INT).prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é\u{1f600}\u{fb01}]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    "[a-zA-Z_\u{e9}\u{1f600}\u{fb01}\"\\\\]{0,5}",
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn record_line(v: Value) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("data".into(), v);
        m.insert("event".into(), json!("decision"));
        build(m, 5, 77, GENESIS).unwrap().0
    }

    proptest! {
        #[test]
        fn built_records_scan_with_a_good_hash(v in arb_value()) {
            let line = record_line(v);
            let s = scan(&line).unwrap();
            prop_assert!(s.hash_ok);
            prop_assert_eq!((s.seq, s.ts, s.prev, s.event), (5, 77, GENESIS, Some("decision")));
        }

        #[test]
        fn scanner_accepts_exactly_the_canonical_lines(v in arb_value(), at in any::<prop::sample::Index>(),
                                                       byte in prop::sample::select(b" ,:\"\\{}[]0-.eu1aA/\n".to_vec()),
                                                       op in 0..3u8) {
            let mut line = record_line(v);
            let i = at.index(line.len());
            match op {
                0 => line.insert(i, byte),
                1 => { line.remove(i); }
                _ => line[i] = byte,
            }
            // A `Field` fault means the grammar was canonical but a ledger member is missing.
            let grammar_ok = !matches!(scan(&line), Err(LineFault::NotJson(_) | LineFault::NotCanonical(_)));
            prop_assert_eq!(grammar_ok, canonical_by_definition(&line), "line {:?}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn rejects_non_canonical_forms() {
        let (line, _) = build(Map::new(), 0, 1, GENESIS).unwrap();
        let text = String::from_utf8(line).unwrap();
        assert!(scan(text.as_bytes()).unwrap().hash_ok);
        for bad in [
            text.replacen("\"seq\":0", "\"seq\":-0", 1),
            text.replacen("\"seq\":0", "\"seq\":0.0", 1),
            text.replacen("\"seq\":0", "\"seq\":00", 1),
            text.replacen("\"ts\":1", "\"ts\":1e0", 1),
            text.replacen('{', "{ ", 1),
            text.replacen("\"ts\"", "\"t\\u0073\"", 1),
            format!("{text} "),
        ] {
            assert!(scan(bad.as_bytes()).is_err(), "{bad}");
            assert!(!canonical_by_definition(bad.as_bytes()), "{bad}");
        }
    }
}
