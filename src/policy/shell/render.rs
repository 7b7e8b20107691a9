//! Quoting an argv back into a shell string that bash reads as the same words.

use super::Command;

/// Words that start a compound command or are otherwise special in command position.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "function", "select", "time", "coproc", "!", "{", "}", "[[", "]]",
];

/// Quote one word so that the shell reads it back unchanged (no expansion of any kind).
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:,@%+^".contains(&b));
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The argv of a command as a shell string.
pub fn render(cmd: &Command) -> String {
    let mut out = String::new();
    for (i, w) in cmd.argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if i == 0 && RESERVED.contains(&w.text.as_str()) {
            out.push('\'');
            out.push_str(&w.text);
            out.push('\'');
        } else {
            out.push_str(&quote(&w.text));
        }
    }
    out
}
