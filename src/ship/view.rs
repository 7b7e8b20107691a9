//! The members of a stored record that shipping turns into OTLP fields, read in one pass with
//! strings borrowed from the line (canonical lines escape little, so almost nothing is copied);
//! every other member is skipped without being built.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// One member's value, as far as shipping looks at it: a string, an integer, a list of
/// those, or something else (kept as [`Json::Other`], never an error).
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    List(Vec<Json<'a>>),
    Other,
}

impl<'a> Json<'a> {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The non-negative integer, if this is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::U64(n) => Some(*n),
            _ => None,
        }
    }

    /// The integer, if this is one that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::I64(n) => Some(*n),
            Json::U64(n) => i64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The strings of a list (other elements skipped); empty when this is no list.
    pub fn strs(&self) -> impl Iterator<Item = &str> {
        let items: &[Json<'a>] = match self {
            Json::List(v) => v,
            _ => &[],
        };
        items.iter().filter_map(Json::as_str)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor(PhantomData))
    }
}

struct JsonVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JsonVisitor<'a> {
    type Value = Json<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'a>, E> {
        Ok(Json::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'a>, E> {
        Ok(u64::try_from(v).map_or(Json::I64(v), Json::U64))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Json<'a>, E> {
        Ok(Json::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Json<'a>, E> {
        Ok(Json::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json<'a>, E> {
        Ok(Json::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::List(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Json::Other)
    }
}

/// The record members shipping reads (the ledger's own, a decision's, a checkpoint's).
#[derive(Debug, Default, Deserialize)]
pub struct RecordView<'a> {
    #[serde(borrow)]
    pub seq: Option<Json<'a>>,
    #[serde(borrow)]
    pub ts: Option<Json<'a>>,
    #[serde(borrow)]
    pub hash: Option<Json<'a>>,
    #[serde(borrow)]
    pub prev: Option<Json<'a>>,
    #[serde(borrow)]
    pub event: Option<Json<'a>>,
    #[serde(borrow)]
    pub session: Option<Json<'a>>,
    #[serde(borrow)]
    pub agent: Option<Json<'a>>,
    #[serde(borrow)]
    pub door: Option<Json<'a>>,
    #[serde(borrow)]
    pub tool: Option<Json<'a>>,
    #[serde(borrow)]
    pub tool_use_id: Option<Json<'a>>,
    #[serde(borrow)]
    pub action: Option<Json<'a>>,
    #[serde(borrow)]
    pub target: Option<Json<'a>>,
    #[serde(borrow)]
    pub risk: Option<Json<'a>>,
    #[serde(borrow)]
    pub flags: Option<Json<'a>>,
    #[serde(borrow)]
    pub verdict: Option<Json<'a>>,
    #[serde(borrow)]
    pub mode: Option<Json<'a>>,
    #[serde(borrow)]
    pub rules: Option<Json<'a>>,
    #[serde(borrow)]
    pub policy: Option<Json<'a>>,
    #[serde(borrow)]
    pub input_sha256: Option<Json<'a>>,
    #[serde(borrow)]
    pub size: Option<Json<'a>>,
    #[serde(borrow)]
    pub root: Option<Json<'a>>,
}

impl<'a> RecordView<'a> {
    /// Reads the members of a stored line.
    pub fn parse(line: &'a str) -> serde_json::Result<RecordView<'a>> {
        serde_json::from_str(line)
    }
}

/// The string value of a member, if it is one.
pub fn str_of<'v>(m: &'v Option<Json<'_>>) -> Option<&'v str> {
    m.as_ref().and_then(Json::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_and_odd_types_are_not_errors() {
        let line = r#"{"event":"decision","flags":["a",1,"b"],"nested":{"x":[1,{"y":2}]},"seq":7,"size":1.5,"target":"echo \"hi\"","ts":-3,"verdict":null}"#;
        let v = RecordView::parse(line).unwrap();
        assert!(matches!(
            v.event,
            Some(Json::Str(Cow::Borrowed("decision")))
        ));
        assert_eq!(
            v.flags.as_ref().unwrap().strs().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(v.seq.as_ref().and_then(Json::as_u64), Some(7));
        assert_eq!(v.ts.as_ref().and_then(Json::as_i64), Some(-3));
        assert_eq!(v.size, Some(Json::Other));
        assert_eq!(str_of(&v.target), Some("echo \"hi\""));
        assert_eq!(str_of(&v.verdict), None);
        assert!(RecordView::parse("[1]").is_err());
        assert!(RecordView::parse("{\"seq\":").is_err());
    }
}
