//! Secret redaction, applied to every string (keys and values, recursively) before a record is
//! hashed or written. A secret becomes `[REDACTED:<first 8 hex of SHA-256 of the secret>]`, so two
//! records naming the same secret can be correlated without revealing it.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex::{Captures, Regex};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::{LazyLock, OnceLock};

/// One pattern: its source, the capture group holding the secret (0 = the whole match), and
/// the fragments (ASCII case-insensitive) that must all be present (each entry: any of its
/// `|`-separated alternatives) before the regex is even compiled. Compiling every pattern costs a
/// short-lived hook process several milliseconds; most strings hold none of the fragments.
struct Source {
    re: &'static str,
    group: usize,
    needs: &'static [&'static str],
}

fn pat(re: &'static str, group: usize, needs: &'static [&'static str]) -> Source {
    Source { re, group, needs }
}

/// A pattern ready for use: its fragments as indices into [`Patterns::fragments`], and its regex
/// once some string first needs it.
struct Pattern {
    source: Source,
    needs: Vec<Vec<usize>>,
    regex: OnceLock<Regex>,
}

/// All patterns, and one automaton that finds every fragment of every pattern in a single pass.
struct Patterns {
    list: Vec<Pattern>,
    fragments: AhoCorasick,
}

impl Patterns {
    fn new() -> Patterns {
        let mut words: Vec<&'static str> = Vec::new();
        let mut index = |w: &'static str| match words.iter().position(|x| *x == w) {
            Some(i) => i,
            None => {
                words.push(w);
                words.len() - 1
            }
        };
        let list = sources()
            .into_iter()
            .map(|source| Pattern {
                needs: source
                    .needs
                    .iter()
                    .map(|alts| alts.split('|').map(&mut index).collect())
                    .collect(),
                source,
                regex: OnceLock::new(),
            })
            .collect();
        let fragments = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&words)
            .expect("redaction fragments build an automaton");
        Patterns { list, fragments }
    }

    /// Which fragments occur in `text`.
    fn present(&self, text: &str) -> Vec<bool> {
        let mut seen = vec![false; self.fragments.patterns_len()];
        for m in self.fragments.find_overlapping_iter(text) {
            seen[m.pattern().as_usize()] = true;
        }
        seen
    }
}

impl Pattern {
    /// True when every fragment group has one alternative in `present`.
    fn wanted(&self, present: &[bool]) -> bool {
        self.needs
            .iter()
            .all(|alts| alts.iter().any(|&i| present[i]))
    }
}

/// The patterns, each regex compiled on first use.
static PATTERNS: LazyLock<Patterns> = LazyLock::new(Patterns::new);

/// Secret patterns, most specific first. Whole-match patterns are provider token formats; the
/// others keep their context (`--password=`, `Authorization: Bearer `) and redact only the value.
fn sources() -> Vec<Source> {
    vec![
        // PEM private keys (also a block cut off before its END line).
        pat(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----(?s:.*?)(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\z)",
            0,
            &["-----begin"],
        ),
        // Anthropic, OpenAI (sk-, sk-proj-, sk-svcacct-…).
        pat(r"\bsk-ant-[A-Za-z0-9_\-]{16,}", 0, &["sk-ant-"]),
        pat(r"\bsk-[A-Za-z0-9_\-]{20,}", 0, &["sk-"]),
        // Stripe secret and restricted keys.
        pat(
            r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}",
            0,
            &["sk_live|sk_test|rk_live|rk_test"],
        ),
        // AWS access key ids and secret keys given by name.
        pat(
            r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
            0,
            &["akia|asia|abia|acca"],
        ),
        pat(
            r#"(?i)\baws_?secret_?access_?key["']?\s*[=:]\s*["']?([A-Za-z0-9/+=]{40})"#,
            1,
            &["aws"],
        ),
        // GitHub tokens.
        pat(
            r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
            0,
            &["ghp_|gho_|ghu_|ghs_|ghr_"],
        ),
        pat(r"\bgithub_pat_[A-Za-z0-9_]{40,}", 0, &["github_pat_"]),
        // GitLab personal access tokens.
        pat(r"\bglpat-[A-Za-z0-9_\-]{20,}", 0, &["glpat-"]),
        // Slack tokens and webhooks.
        pat(r"\bxox[abposre]-[A-Za-z0-9\-]{10,}", 0, &["xox"]),
        pat(
            r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+",
            0,
            &["hooks.slack.com"],
        ),
        // Google API keys.
        pat(r"\bAIza[0-9A-Za-z_\-]{35}", 0, &["aiza"]),
        // npm and Hugging Face tokens.
        pat(r"\bnpm_[A-Za-z0-9]{36}\b", 0, &["npm_"]),
        pat(r"\bhf_[A-Za-z0-9]{30,}\b", 0, &["hf_"]),
        // JSON Web Tokens.
        pat(
            r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{10,}",
            0,
            &["eyj"],
        ),
        // Authorization headers: everything after the optional scheme up to the end of the value.
        pat(
            r#"(?i)\b(?:proxy-)?authorization\s*:\s*(?:(?:bearer|basic|token|digest|bot)\s+)?([^\s"'\\]+(?:[ \t]+[^\s"'\\]+)*)"#,
            1,
            &["authorization"],
        ),
        // Other credential headers.
        pat(
            r#"(?i)\b(?:x-api-key|api-key|x-auth-token|cookie|private-token)\s*:\s*([^\s"'\\]+)"#,
            1,
            &["x-api-key|api-key|x-auth-token|cookie|private-token"],
        ),
        // Passwords in URLs: scheme://user:password@host.
        pat(
            r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:([^@\s/]+)@",
            1,
            &["://", "@"],
        ),
        // --password=x, --token x, --api-key=x, --client-secret x …
        pat(
            r#"(?i)(?:^|\s)--?(?:password|passwd|pass|token|auth-token|access-token|api-key|apikey|secret|client-secret)(?:=|\s+)("[^"]*"|'[^']*'|[^\s"']+)"#,
            1,
            &["-pass|-token|-auth|-access|-api|-secret|-client"],
        ),
        // mysql-style -p<password> (attached value) for the tools that use it.
        pat(
            r"(?i)\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump|mysqlimport)\b[^\n|;&]*?\s-p([^\s]+)",
            1,
            &["mysql|mariadb"],
        ),
        // NAME=value assignments whose name says secret (env prefixes, .env lines, export).
        pat(
            r#"(?i)\b[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*\s*=\s*("[^"]*"|'[^']*'|[^\s;&|"']+)"#,
            1,
            &[
                "password|passwd|secret|token|api_key|apikey|access_key|private_key|credential",
                "=",
            ],
        ),
    ]
}

/// Object keys whose string values are secrets as a whole.
fn secret_key(key: &str) -> bool {
    const NAMES: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "api_key",
        "apikey",
        "x-api-key",
        "private_key",
        "cookie",
        "set-cookie",
    ];
    NAMES.iter().any(|n| key.eq_ignore_ascii_case(n))
}

/// The marker that replaces `secret`.
pub fn marker(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!("[REDACTED:{}]", hex::encode(&digest[..4]))
}

fn is_marker(s: &str) -> bool {
    s.len() == 19 && s.starts_with("[REDACTED:") && s.ends_with(']')
}

/// Redacts secrets in one string. Returns the input unchanged when nothing matched.
pub fn redact_str(input: &str) -> String {
    let patterns = &*PATTERNS;
    let present = patterns.present(input);
    if !present.contains(&true) {
        return input.to_string();
    }
    let mut s = input.to_string();
    for p in &patterns.list {
        if !p.wanted(&present) {
            continue;
        }
        let group = p.source.group;
        let re = p
            .regex
            .get_or_init(|| Regex::new(p.source.re).expect("redaction pattern compiles"));
        if !re.is_match(&s) {
            continue;
        }
        s = re
            .replace_all(&s, |c: &Captures<'_>| {
                let whole = c.get(0).expect("group 0 always matches");
                let Some(secret) = c.get(group) else {
                    return whole.as_str().to_string();
                };
                let text = secret.as_str();
                let unquoted = text.trim_matches(|ch| ch == '"' || ch == '\'');
                if unquoted.is_empty() || unquoted.starts_with("[REDACTED:") {
                    return whole.as_str().to_string();
                }
                let mut out = String::with_capacity(whole.len());
                out.push_str(&whole.as_str()[..secret.start() - whole.start()]);
                out.push_str(&marker(unquoted));
                out.push_str(&whole.as_str()[secret.end() - whole.start()..]);
                out
            })
            .into_owned();
    }
    s
}

/// Redacts every string in `v`, recursively, including object keys. A string value under a key
/// that names a secret (`password`, `authorization`, `api_key`, …) is redacted as a whole.
pub fn redact_value(v: &mut Value) {
    match v {
        Value::String(s) => *s = redact_str(s),
        Value::Array(a) => a.iter_mut().for_each(redact_value),
        Value::Object(m) => redact_map(m),
        _ => {}
    }
}

/// [`redact_value`] for an object.
pub fn redact_map(m: &mut Map<String, Value>) {
    let old = std::mem::take(m);
    for (k, mut v) in old {
        match &mut v {
            Value::String(s) if secret_key(&k) && !s.is_empty() && !is_marker(s) => {
                *s = marker(s);
            }
            _ => redact_value(&mut v),
        }
        m.insert(redact_str(&k), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gone(input: &str, secret: &str) {
        let out = redact_str(input);
        assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
        assert!(
            out.contains(&marker(secret)),
            "no marker for {secret:?} in {out:?}"
        );
    }

    #[test]
    fn plain_text_needs_no_pattern() {
        let text = "git status && npm test -- --watch; reading secret files is denied";
        let present = PATTERNS.present(text);
        let wanted: Vec<&str> = PATTERNS
            .list
            .iter()
            .filter(|p| p.wanted(&present))
            .map(|p| p.source.re)
            .collect();
        assert!(wanted.is_empty(), "{wanted:?}");
    }

    #[test]
    fn provider_tokens() {
        gone(
            "export X=sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
        );
        gone(
            "key sk-proj-AAAAAAAAAAAAAAAAAAAAAAAAAAAA end",
            "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        );
        gone("id AKIAIOSFODNN7EXAMPLE.", "AKIAIOSFODNN7EXAMPLE");
        gone(
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        gone(
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        );
        let pat = format!("github_pat_{}", "a1B2".repeat(15));
        gone(&format!("t={pat}"), &pat);
        gone("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij");
        gone(
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        );
        gone(
            "sk_live_0123456789abcdefABCD",
            "sk_live_0123456789abcdefABCD",
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        gone(&format!("token: {jwt}"), jwt);
    }

    #[test]
    fn headers_flags_urls_and_keys() {
        gone(
            "curl -H 'Authorization: Bearer abc.def-123' https://x",
            "abc.def-123",
        );
        gone(
            "curl -H \"authorization: Basic dXNlcjpwYXNz\" x",
            "dXNlcjpwYXNz",
        );
        gone("psql --password=hunter22 db", "hunter22");
        gone("tool --token s3cr3tvalue --x", "s3cr3tvalue");
        gone("mysql -u root -pTopSecret1 db", "TopSecret1");
        gone(
            "git clone https://bob:pa55word@example.com/r.git",
            "pa55word",
        );
        gone("DB_PASSWORD=letmein ./run", "letmein");
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        gone(&format!("x\n{pem}\ny"), pem);
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for s in [
            "mkdir -p build",
            "ls -la /tmp",
            "git push origin main",
            "https://example.com/a:b@c",
        ] {
            assert_eq!(redact_str(s), s);
        }
    }

    #[test]
    fn redaction_is_idempotent_and_recursive() {
        let mut v = json!({"headers": {"Authorization": "Bearer zzz"}, "list": ["--password=pw1"], "password": "x"});
        redact_value(&mut v);
        let once = v.clone();
        redact_value(&mut v);
        assert_eq!(v, once);
        let text = v.to_string();
        assert!(
            !text.contains("zzz") && !text.contains("pw1") && !text.contains("\"x\""),
            "{text}"
        );
    }
}
