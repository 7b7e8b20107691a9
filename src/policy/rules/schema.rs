//! The policy file as written. Serde structs reject unknown keys, and every scalar (effects,
//! actions, flags, risks, globs, argv patterns) is checked while parsing, so a mistake is
//! reported with its YAML line and field path.

use super::Mode;
use super::matchers::{ArgvPattern, DomainPattern, PathPattern, TextGlob};
use crate::call::{Action, Effect, Flag, Risk};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

thread_local! {
    static PRECHECKED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `parse` on a document that was already checked in full: a built-in profile, whose YAML
/// the crate's tests parse with every check. Checks whose only result is an error message (a
/// path glob's syntax) are then skipped; values that are used are still built.
pub fn prechecked<T>(parse: impl FnOnce() -> T) -> T {
    PRECHECKED.with(|p| p.set(true));
    let out = parse();
    PRECHECKED.with(|p| p.set(false));
    out
}

/// Whether the document being parsed is a checked built-in profile (see [`prechecked`]).
pub fn is_prechecked() -> bool {
    PRECHECKED.with(Cell::get)
}

/// A whole policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "policy")]
pub struct RawPolicy {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default = "no_ceiling")]
    pub max_risk: Risk,
    #[serde(default = "allow")]
    pub default: Effect,
    #[serde(default)]
    pub on_error: OnError,
    #[serde(default)]
    pub protect: Option<OneOrMany<PathPattern>>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub builtin: RawBuiltin,
    #[serde(default)]
    pub alerts: RawAlerts,
}

/// `alerts:` settings: where deny/ask/flag and enforcement-gap alerts are posted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// `http://` or `https://` URL (`PATCHWORK_WEBHOOK_URL` takes precedence).
    #[serde(default)]
    pub webhook: Option<String>,
}

/// `builtin:` settings of the gateway's own MCP tools.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuiltin {
    /// Largest answer of a file tool, in bytes (default 10 MiB).
    #[serde(default)]
    pub answer_cap_bytes: Option<usize>,
    /// Environment variables `run_command` passes on besides the minimal set.
    #[serde(default)]
    pub run_command_env: Vec<String>,
}

fn no_ceiling() -> Risk {
    Risk::Critical
}

fn allow() -> Effect {
    Effect::Allow
}

/// `on_error:` what the Gate does when it cannot decide (bad input, ledger not writable…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Deny,
    Allow,
}

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "rule")]
pub struct RawRule {
    pub id: String,
    pub effect: Effect,
    pub reason: String,
    /// What the agent should do instead; appended to the reason.
    #[serde(default)]
    pub instead: Option<String>,
    #[serde(default)]
    pub action: Option<OneOrMany<Action>>,
    #[serde(default)]
    pub paths: Option<OneOrMany<PathPattern>>,
    #[serde(default)]
    pub command: Option<CommandPatterns>,
    #[serde(default)]
    pub url: Option<OneOrMany<TextGlob>>,
    #[serde(default)]
    pub domain: Option<OneOrMany<DomainPattern>>,
    #[serde(default)]
    pub mcp: Option<RawMcp>,
    #[serde(default)]
    pub risk: Option<Risk>,
    #[serde(default)]
    pub flags: Option<OneOrMany<Flag>>,
    /// Ids of the classifier's findings (globs such as `git.*`).
    #[serde(default)]
    pub findings: Option<OneOrMany<TextGlob>>,
}

impl RawRule {
    /// True when the rule has at least one matcher.
    pub fn has_matcher(&self) -> bool {
        self.action.is_some()
            || self.paths.is_some()
            || self.command.is_some()
            || self.url.is_some()
            || self.domain.is_some()
            || self.mcp.is_some()
            || self.risk.is_some()
            || self.flags.is_some()
            || self.findings.is_some()
    }
}

/// `mcp:` matcher of a rule: server and tool name globs, and argument value globs by key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "mcp matcher")]
pub struct RawMcp {
    #[serde(default)]
    pub server: Option<TextGlob>,
    #[serde(default)]
    pub tool: Option<TextGlob>,
    #[serde(default)]
    pub argument: Option<BTreeMap<String, TextGlob>>,
}

/// A value written as one YAML string and checked when it is parsed.
pub trait Scalar: Sized {
    /// What the value is, for error messages.
    const WHAT: &'static str;
    /// Parses and checks one value.
    fn parse(text: &str) -> Result<Self, String>;
}

/// Parses an enum of the shared vocabulary from its snake_case name.
fn parse_named<T: for<'a> Deserialize<'a>>(text: &str) -> Result<T, String> {
    T::deserialize(de::value::StrDeserializer::<de::value::Error>::new(text))
        .map_err(|e| e.to_string())
}

impl Scalar for Action {
    const WHAT: &'static str = "an action";
    fn parse(text: &str) -> Result<Self, String> {
        parse_named(text)
    }
}

impl Scalar for Flag {
    const WHAT: &'static str = "a flag";
    fn parse(text: &str) -> Result<Self, String> {
        parse_named(text)
    }
}

struct ScalarVisitor<T>(PhantomData<T>);

impl<T: Scalar> Visitor<'_> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::WHAT)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse(v).map_err(E::custom)
    }
}

/// Deserializes a [`Scalar`] from a YAML string.
fn scalar<'de, D: Deserializer<'de>, T: Scalar>(d: D) -> Result<T, D::Error> {
    d.deserialize_str(ScalarVisitor(PhantomData))
}

macro_rules! deserialize_scalar {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                scalar(d)
            }
        }
    )*};
}
deserialize_scalar!(PathPattern, TextGlob, DomainPattern);

/// One value or a non-empty list of values: `action: file_read` or `action: [file_read, file_grep]`.
#[derive(Debug, Clone)]
pub struct OneOrMany<T>(pub Vec<T>);

struct Elem<T>(T);

impl<'de, T: Scalar> Deserialize<'de> for Elem<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d).map(Elem)
    }
}

struct OneOrManyVisitor<T>(PhantomData<T>);

impl<'de, T: Scalar> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} or a list of them", T::WHAT)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        T::parse(v).map(|t| OneOrMany(vec![t])).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Elem(t)) = seq.next_element::<Elem<T>>()? {
            out.push(t);
        }
        if out.is_empty() {
            return Err(de::Error::custom(
                "an empty list matches nothing; remove the key or list at least one value",
            ));
        }
        Ok(OneOrMany(out))
    }
}

impl<'de, T: Scalar> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor(PhantomData))
    }
}

/// `command:` one argv pattern (`["git", "push", "**"]` or `"git push **"`) or a list of them
/// (`[["git", "push", "--force"], ["git", "push", "-f"]]`).
#[derive(Debug, Clone)]
pub struct CommandPatterns(pub Vec<ArgvPattern>);

/// An element of a `command:` list: a word, or a whole pattern.
enum CommandElem {
    Word(String),
    Pattern(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandElem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandElem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a word pattern or a list of word patterns")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandElem, E> {
                Ok(CommandElem::Word(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandElem, A::Error> {
                let mut words = Vec::new();
                while let Some(w) = seq.next_element::<String>()? {
                    words.push(w);
                }
                Ok(CommandElem::Pattern(words))
            }
        }
        d.deserialize_any(V)
    }
}

struct CommandVisitor;

impl<'de> Visitor<'de> for CommandVisitor {
    type Value = CommandPatterns;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an argv pattern (a list of word patterns) or a list of argv patterns")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandPatterns, E> {
        let words: Vec<String> = v.split_whitespace().map(str::to_string).collect();
        ArgvPattern::parse(&words)
            .map(|p| CommandPatterns(vec![p]))
            .map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandPatterns, A::Error> {
        let mut words = Vec::new();
        let mut patterns = Vec::new();
        while let Some(elem) = seq.next_element::<CommandElem>()? {
            match elem {
                CommandElem::Word(w) => words.push(w),
                CommandElem::Pattern(p) => patterns.push(p),
            }
        }
        let parsed = match (words.is_empty(), patterns.is_empty()) {
            (true, true) => Err("an empty list matches nothing; write at least one word".into()),
            (false, false) => Err(
                "mixes words and lists: write one pattern as a list of words, \
                 or several patterns as a list of lists"
                    .to_string(),
            ),
            (false, true) => ArgvPattern::parse(&words).map(|p| vec![p]),
            (true, false) => patterns.iter().map(|p| ArgvPattern::parse(p)).collect(),
        };
        parsed.map(CommandPatterns).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for CommandPatterns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CommandVisitor)
    }
}
