//! Validation errors of policy files: each names the file, the line and the field.

use std::fmt;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field path, e.g. `rules[2].effect`.
    pub field: String,
    pub message: String,
}

/// A policy file that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file as the user named it, or `builtin:<profile>`.
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.line {
                Some(line) => write!(f, "{}:{}: {}: {}", self.file, line, p.field, p.message)?,
                None => write!(f, "{}: {}: {}", self.file, p.field, p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

impl Problem {
    /// Turns a serde_yaml_ng error (`rules[0].effect: unknown variant … at line 5 column 13`)
    /// into a problem with its line and field.
    pub fn from_yaml(err: &serde_yaml_ng::Error) -> Problem {
        let line = err.location().map(|l| l.line());
        let mut text = err.to_string();
        if let Some(i) = text.find(" at line ") {
            text.truncate(i);
        }
        let (path, message) = match text.split_once(": ") {
            Some((p, m)) if is_field_path(p) => (p.to_string(), m.to_string()),
            _ => (String::new(), text),
        };
        // `unknown field `x`` and `missing field `x`` name the field in the message.
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|pre| message.strip_prefix(pre))
            .and_then(|rest| rest.split('`').next());
        let field = match (named, path.is_empty()) {
            (Some(n), true) => n.to_string(),
            (Some(n), false) => format!("{path}.{n}"),
            (None, false) => path,
            (None, true) if line.is_some() => "yaml".to_string(),
            (None, true) => "file".to_string(),
        };
        Problem {
            line,
            field,
            message,
        }
    }
}

/// True for serde paths like `rules[2].effect` or `name`.
fn is_field_path(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}

/// The 1-based line of the `nth` (0-based) rule item whose `id:` is `id`.
pub fn rule_line(src: &str, id: &str, nth: usize) -> Option<usize> {
    src.lines()
        .enumerate()
        .filter(|(_, l)| key_value(l, "id").is_some_and(|v| v == id))
        .nth(nth)
        .map(|(i, _)| i + 1)
}

/// The 1-based line of `field:` inside the rule item that contains line `rule_line`; the rule's
/// line when the field is not written there.
pub fn field_line(src: &str, rule_line: usize, field: &str) -> usize {
    let lines: Vec<&str> = src.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let at = rule_line - 1;
    // The item starts at the nearest line at or above whose text starts with `- `.
    let start = (0..=at)
        .rev()
        .find(|&i| lines[i].trim_start().starts_with("- "))
        .unwrap_or(at);
    let dash = indent(lines[start]);
    for (i, l) in lines.iter().enumerate().skip(start) {
        let t = l.trim_start();
        if i > start && !t.is_empty() && !t.starts_with('#') && indent(l) <= dash {
            break;
        }
        if key_value(l, field).is_some() {
            return i + 1;
        }
    }
    rule_line
}

/// The value of `key: value` on a YAML line (also `- key: value`), unquoted, without comment.
fn key_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let t = line.trim_start();
    let t = t.strip_prefix("- ").map_or(t, str::trim_start);
    let v = t.strip_prefix(key)?.trim_start().strip_prefix(':')?;
    let v = v.split(" #").next().unwrap_or(v).trim();
    Some(v.trim_matches(|c| c == '"' || c == '\''))
}
