//! The hook's stdin: read with a size bound, parsed permissively (unknown events and fields are
//! fine; only "not a JSON object" is an error).

use serde_json::{Map, Value};
use std::io::Read;

/// Largest payload the hook reads (4 MiB); anything longer is refused without buffering it.
pub const MAX_PAYLOAD: u64 = 4 * 1024 * 1024;

/// Why a payload could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("empty hook payload on stdin")]
    Empty,
    #[error("hook payload is larger than {0} bytes")]
    TooLarge(u64),
    #[error("cannot read the hook payload: {0}")]
    Io(#[from] std::io::Error),
    #[error("hook payload is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("hook payload is not a JSON object")]
    NotObject,
}

/// Reads at most `limit` bytes from `input`; one more byte means the payload is too large.
pub fn read_bounded(input: impl Read, limit: u64) -> Result<Vec<u8>, PayloadError> {
    let mut buf = Vec::with_capacity(8 * 1024);
    input.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(PayloadError::TooLarge(limit));
    }
    Ok(buf)
}

/// One hook payload: a JSON object with typed accessors for the fields the gateway uses.
#[derive(Debug, Clone)]
pub struct Payload {
    fields: Map<String, Value>,
}

impl Payload {
    /// Parses the bytes read from stdin.
    pub fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(PayloadError::Empty);
        }
        match serde_json::from_slice::<Value>(bytes)? {
            Value::Object(fields) => Ok(Payload { fields }),
            _ => Err(PayloadError::NotObject),
        }
    }

    /// A field of any type.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// A string field; absent, null or another type is `None`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// A non-negative integer field (accepts floats such as `12.0`, truncated).
    pub fn u64(&self, key: &str) -> Option<u64> {
        let v = self.fields.get(key)?;
        v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })
    }

    /// A boolean field.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.fields.get(key).and_then(Value::as_bool)
    }

    /// `hook_event_name`.
    pub fn event_name(&self) -> Option<&str> {
        self.str("hook_event_name")
    }

    /// `session_id`.
    pub fn session(&self) -> Option<&str> {
        self.str("session_id").filter(|s| !s.is_empty())
    }

    /// `tool_use_id`.
    pub fn tool_use_id(&self) -> Option<&str> {
        self.str("tool_use_id").filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_more() {
        assert_eq!(read_bounded(&b"abcd"[..], 4).unwrap(), b"abcd");
        assert!(matches!(
            read_bounded(&b"abcde"[..], 4),
            Err(PayloadError::TooLarge(4))
        ));
    }

    #[test]
    fn parses_objects_only() {
        assert!(matches!(Payload::parse(b"  \n"), Err(PayloadError::Empty)));
        assert!(matches!(
            Payload::parse(b"[1]"),
            Err(PayloadError::NotObject)
        ));
        assert!(matches!(Payload::parse(b"{"), Err(PayloadError::Json(_))));
        let p = Payload::parse(br#"{"session_id":"s","duration_ms":12.0,"x":{"y":1}}"#).unwrap();
        assert_eq!(p.session(), Some("s"));
        assert_eq!(p.u64("duration_ms"), Some(12));
        assert_eq!(p.event_name(), None);
    }
}
