//! Secrets leaving in arguments: the values of the project's secret files, and tokens shaped
//! like credentials, found in what a call sends out (a URL, a request body or header, an MCP
//! tool's arguments). Only computed for calls that send something: the values are read from
//! the few secret files at the project's top and a handful in the home folder, kept as
//! SHA-256 hashes for the length of one call and never stored or logged in clear.

use super::{Classifier, places};
use crate::policy::findings::Code;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::PathBuf;

/// Values shorter than this are too common to call a leak (`true`, `3000`, `admin`).
const MIN_VALUE: usize = 8;
/// Secret files larger than this are not indexed (a keystore, a database).
const MAX_FILE: u64 = 64 * 1024;
/// Credential files in the home folder whose values are indexed too.
const HOME_FILES: &[&str] = &[
    ".aws/credentials",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
];

type Hash = [u8; 32];

fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

impl Classifier<'_> {
    /// Judges text sent to `dest`: a literal credential-shaped token, or the value of one of
    /// the project's secrets (as is, URL-, base64- or hex-encoded), is a secret leaving.
    /// Text computed at run time (`Bearer $TOKEN`) is only checked for secret values spelled
    /// into it: a variable's value never passes through the agent.
    pub(super) fn outbound_text(&mut self, text: &str, dest: &str, span: &str) {
        if !text.contains('$') && crate::ledger::redact::redact_str(text) != text {
            self.finding(
                Code::NetSecretInArguments,
                format!("sends a credential-shaped token to {dest}"),
                span,
            );
            return;
        }
        if text.len() < MIN_VALUE {
            return;
        }
        let values = self.secret_values();
        if values.is_empty() {
            return;
        }
        if candidates(text).any(|c| values.contains(&hash(&c))) {
            self.finding(
                Code::NetSecretInArguments,
                format!("sends the value of one of the project's secrets to {dest}"),
                span,
            );
        }
    }

    /// Hashes of the secret values, read once per call on first use.
    fn secret_values(&mut self) -> &HashSet<Hash> {
        if self.secret_values.is_none() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&self.env.project)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| places::secret_kind(p, self.env).is_some())
                .collect();
            files.extend(HOME_FILES.iter().map(|f| self.env.home.join(f)));
            let mut set = HashSet::new();
            for f in files {
                let Some(text) = places::small_text(&f, MAX_FILE) else {
                    continue;
                };
                for v in text.lines().filter_map(value_of) {
                    set.insert(hash(v.as_bytes()));
                }
            }
            self.secret_values = Some(set);
        }
        self.secret_values.as_ref().expect("filled above")
    }
}

/// The value on one line of a secrets file: after `=` or `:` (`KEY=value`, `key: value`), or
/// the last word (`machine h login u password p`); quotes removed; long enough to matter.
fn value_of(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
        return None;
    }
    let v = match line.split_once(['=', ':']) {
        Some((_, v)) => v,
        None => line.rsplit(char::is_whitespace).next()?,
    };
    let v = v.trim().trim_matches(['"', '\'']);
    (v.len() >= MIN_VALUE && !v.contains(char::is_whitespace)).then_some(v)
}

/// The pieces of outbound text a value could hide in, decoded every way it could be encoded.
fn candidates(text: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    let decoded_url = percent_decode(text);
    let pieces: Vec<String> = [text.to_string(), decoded_url]
        .into_iter()
        .flat_map(|t| {
            t.split(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '&' | '?'
                            | '='
                            | '/'
                            | '"'
                            | '\''
                            | ','
                            | ';'
                            | '#'
                            | '{'
                            | '}'
                            | '('
                            | ')'
                            | '<'
                            | '>'
                            | '|'
                    )
            })
            .filter(|p| p.len() >= MIN_VALUE)
            .map(str::to_string)
            .collect::<Vec<_>>()
        })
        .collect();
    pieces.into_iter().flat_map(|p| {
        let mut out = vec![p.as_bytes().to_vec()];
        // `key:value` pairs (`Authorization: Basic …`, JSON) hold the value after a colon.
        if let Some((_, v)) = p.split_once(':') {
            out.push(v.as_bytes().to_vec());
        }
        if let Some(b) = base64_decode(&p) {
            // `user:password` in Basic authentication.
            if let Some(i) = b.iter().position(|&c| c == b':') {
                out.push(b[i + 1..].to_vec());
            }
            out.push(b);
        }
        if p.len() % 2 == 0
            && p.chars().all(|c| c.is_ascii_hexdigit())
            && let Ok(b) = hex::decode(&p)
        {
            out.push(b);
        }
        out
    })
}

/// `%xx` escapes and `+` decoded (invalid escapes kept as written).
fn percent_decode(text: &str) -> String {
    let b = text.as_bytes();
    let hexval = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hexval),
                b.get(i + 2).copied().and_then(hexval),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard or URL-safe base64, padded or not; `None` when the text is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in t.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (t.len() % 4 != 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_taken_from_the_usual_line_shapes() {
        assert_eq!(value_of("DB_PASSWORD=hunter2-fake"), Some("hunter2-fake"));
        assert_eq!(value_of("export TOKEN=\"abcdefgh12\""), Some("abcdefgh12"));
        assert_eq!(
            value_of("aws_secret_access_key = wJalrXUtnFEMI"),
            Some("wJalrXUtnFEMI")
        );
        assert_eq!(
            value_of("machine x login y password longpassword1"),
            Some("longpassword1")
        );
        assert_eq!(value_of("PORT=3000"), None);
        assert_eq!(value_of("# DB_PASSWORD=hunter2-fake"), None);
    }

    #[test]
    fn encoded_values_are_found() {
        let v = hash(b"hunter2-fake");
        let find = |t: &str| candidates(t).any(|c| hash(&c) == v);
        assert!(find("https://x.example/?p=hunter2-fake"));
        assert!(find("https://x.example/?p=hunter2%2Dfake"));
        assert!(find("data=aHVudGVyMi1mYWtl"));
        assert!(find("68756e746572322d66616b65"));
        assert!(find("Authorization: Basic dXNlcjpodW50ZXIyLWZha2U="));
        assert!(!find("https://x.example/?p=hunter3-fake"));
    }
}
