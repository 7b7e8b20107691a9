//! Reading a few top-level members of a stored record without building a JSON tree: one pass
//! over the line that skips every other value (strings by `memchr`, nested objects and arrays by
//! depth). The index ([`super::index`]) reads every line of the ledger this way when it is built.
//!
//! Only the top level counts: a `"session"` key inside a nested object (an MCP tool definition
//! in a diff, say) is skipped with its parent value, and a key inside a string cannot match
//! (its quotes are escaped). A line that is not a well-formed object gives `None`; callers fall
//! back to a full parse.
//!
//! The promise the index relies on: for every line that serde_json reads as a record, this
//! reader either finds the same members or says the line is unusual ([`Members::odd`]: a wanted
//! member twice, a top-level key written with escapes, a value of another type), so the caller
//! parses it fully. Lines it accepts that serde_json would refuse are harmless: views parse the
//! lines the index points at again, and skip those that do not parse.

use memchr::{memchr, memchr2};
use std::borrow::Cow;

/// The top-level members the index keeps. Strings borrow from the line unless they had
/// escapes; a member whose value is not of the expected type is left out and flagged in
/// [`Members::odd`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Members<'a> {
    pub seq: Option<u64>,
    pub ts: Option<i64>,
    pub session: Option<Cow<'a, str>>,
    pub action: Option<Cow<'a, str>>,
    pub event: Option<Cow<'a, str>>,
    pub verdict: Option<Cow<'a, str>>,
    pub risk: Option<Cow<'a, str>>,
    /// A wanted member had a value of another type (an object where a string was expected),
    /// came twice, or a top-level key had escapes (it may spell a wanted one).
    pub odd: bool,
    /// Wanted members seen so far (one bit each), to catch a repeated one.
    seen: u8,
}

/// Reads the wanted members of one line (without its newline).
pub fn read(line: &[u8]) -> Option<Members<'_>> {
    let mut m = Members::default();
    let mut i = ws(line, 0);
    if line.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(line, i + 1);
    if line.get(i) == Some(&b'}') {
        return (ws(line, i + 1) == line.len()).then_some(m);
    }
    loop {
        if line.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, key_escaped) = string_end(line, i + 1)?;
        let key = &line[i + 1..key_end - 1];
        i = ws(line, key_end);
        if line.get(i) != Some(&b':') {
            return None;
        }
        i = ws(line, i + 1);
        let start = i;
        let first = *line.get(i)?;
        i = skip_value(line, i)?;
        if key_escaped {
            m.odd = true;
        } else {
            m.take(key, first, &line[start..i]);
        }
        i = ws(line, i);
        match line.get(i)? {
            b',' => i = ws(line, i + 1),
            b'}' => return (ws(line, i + 1) == line.len()).then_some(m),
            _ => return None,
        }
    }
}

impl<'a> Members<'a> {
    fn take(&mut self, key: &[u8], first: u8, value: &'a [u8]) {
        let bit = match key {
            b"seq" => 0,
            b"ts" => 1,
            b"session" => 2,
            b"action" => 3,
            b"event" => 4,
            b"verdict" => 5,
            b"risk" => 6,
            _ => return,
        };
        if self.seen & (1 << bit) != 0 {
            self.odd = true;
            return;
        }
        self.seen |= 1 << bit;
        let slot = match bit {
            0 | 1 => {
                match (bit, integer(value)) {
                    (0, Some(n)) if n >= 0 => self.seq = Some(n as u64),
                    (1, Some(n)) => self.ts = Some(n),
                    _ => self.odd = true,
                }
                return;
            }
            2 => &mut self.session,
            3 => &mut self.action,
            4 => &mut self.event,
            5 => &mut self.verdict,
            _ => &mut self.risk,
        };
        match text(first, value) {
            Some(s) => *slot = Some(s),
            None if value == b"null" => {}
            None => self.odd = true,
        }
    }
}

/// A JSON integer (`-?(0|[1-9][0-9]*)`) that fits an `i64`; anything else (a fraction, an
/// exponent, a sign Rust accepts but JSON does not) is `None`.
fn integer(value: &[u8]) -> Option<i64> {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    let canonical = match digits {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The text of a string value (with its quotes), unescaping only when needed.
fn text(first: u8, value: &[u8]) -> Option<Cow<'_, str>> {
    if first != b'"' {
        return None;
    }
    let inner = &value[1..value.len() - 1];
    if memchr(b'\\', inner).is_none() {
        return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    serde_json::from_slice::<String>(value).ok().map(Cow::Owned)
}

/// Skips ASCII whitespace (canonical lines have none; other lines may).
fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// From just after an opening quote: the index just after the closing quote, and whether the
/// string had escapes.
fn string_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let j = i + memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[j] == b'"' {
            return Some((j + 1, escaped));
        }
        escaped = true;
        i = j + 2;
    }
}

/// Deepest nesting followed (as serde_json).
const MAX_DEPTH: usize = 128;

/// From the first byte of a value: the index just after it.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i + 1).map(|(end, _)| end),
        b'{' | b'[' => skip_nested(b, i),
        _ => {
            // A number or a literal: up to the next separator.
            let rest = b.get(i..)?;
            let end = rest
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            (end > 0).then_some(i + end)
        }
    }
}

/// Skips an object or array by bracket depth (strings inside skipped whole). The brackets must
/// pair up; the members inside are not checked further (the index only needs to know where the
/// value ends). The open brackets are kept on the stack, not the heap (one line, many values).
fn skip_nested(b: &[u8], mut i: usize) -> Option<usize> {
    let mut stack = [0u8; MAX_DEPTH];
    let mut depth = 0;
    loop {
        match *b.get(i)? {
            b'"' => {
                i = string_end(b, i + 1)?.0;
                continue;
            }
            c @ (b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return None;
                }
                stack[depth] = if c == b'{' { b'}' } else { b']' };
                depth += 1;
            }
            c @ (b'}' | b']') => {
                if depth == 0 || stack[depth - 1] != c {
                    return None;
                }
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_top_level_members_only() {
        let line = br#"{"action":"file_read","diff":{"session":"inner","x":["}",{"risk":"low"}]},"event":"decision","hash":"sha256:ab","reason":"a \"session\":\"fake\" b","risk":"high","seq":12,"session":"s-1","ts":-5,"verdict":"deny"}"#;
        let m = read(line).unwrap();
        assert_eq!(m.session.as_deref(), Some("s-1"));
        assert_eq!(m.risk.as_deref(), Some("high"));
        assert_eq!(m.verdict.as_deref(), Some("deny"));
        assert_eq!(m.action.as_deref(), Some("file_read"));
        assert_eq!(m.event.as_deref(), Some("decision"));
        assert_eq!((m.seq, m.ts), (Some(12), Some(-5)));
        assert!(!m.odd);
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let m = read(br#"{"seq":1,"session":"a\nb\"c\\\u0000","ts":2}"#).unwrap();
        assert_eq!(m.session.as_deref(), Some("a\nb\"c\\\u{0}"));
        assert!(matches!(m.session, Some(Cow::Owned(_))));
    }

    #[test]
    fn odd_types_and_nulls() {
        let m = read(br#"{"seq":1,"session":null,"ts":2,"verdict":{"effect":"deny"}}"#).unwrap();
        assert_eq!(m.session, None);
        assert_eq!(m.verdict, None);
        assert!(m.odd);
        assert!(read(br#"{"seq":"1","ts":2}"#).unwrap().odd);
        assert!(read(br#"{"seq":-1,"ts":2}"#).unwrap().odd);
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            br#"{"a":1"#,
            br#"{"a":{"b":[1}}"#,
            br#"{"a":"unterminated}"#,
            br#"{"a":1}x"#,
            br#"{"a" 1}"#,
            br#"{"a":}"#,
            br#"{"a":1,}"#,
        ] {
            assert_eq!(read(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(read(deep.as_bytes()), None);
        assert!(read(b" { \"seq\" : 3 , \"ts\":4 } ").is_some());
        assert!(read(b"{}").is_some());
    }
}
