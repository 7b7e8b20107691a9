//! Secret redaction, applied to every string (keys and values, recursively) before a record is
//! hashed or written. A secret becomes `[REDACTED:<first 8 hex of SHA-256 of the secret>]`, so two
//! records naming the same secret can be correlated without revealing it.

use regex::{Captures, Regex};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::{LazyLock, OnceLock};

/// One pattern: its source, the capture group holding the secret (0 = the whole match), and
/// the lowercase fragments that must all be present (each entry: any of its `|`-separated
/// alternatives) before the regex is even compiled. Compiling every pattern costs a short-lived
/// hook process several milliseconds; most records hold none of the fragments.
struct Source {
    re: &'static str,
    group: usize,
    needs: &'static [&'static str],
}

impl Source {
    /// True when the lowercased text holds every fragment this pattern needs.
    fn wanted(&self, lower: &str) -> bool {
        self.needs
            .iter()
            .all(|alts| alts.split('|').any(|n| lower.contains(n)))
    }
}

fn pat(re: &'static str, group: usize, needs: &'static [&'static str]) -> Source {
    Source { re, group, needs }
}

/// The patterns, compiled on first use one by one.
static PATTERNS: LazyLock<Vec<(Source, OnceLock<Regex>)>> = LazyLock::new(|| {
    sources()
        .into_iter()
        .map(|s| (s, OnceLock::new()))
        .collect()
});

/// The patterns worth trying on some text: those whose fragments all occur in it. Finding them
/// once for a whole record (instead of per string) keeps redaction cheap when, as usual, the
/// record holds no secret-looking text at all.
struct Candidates(Vec<usize>);

impl Candidates {
    /// The candidates for `text`.
    fn of(text: &str) -> Candidates {
        let lower = text.to_ascii_lowercase();
        Candidates(
            PATTERNS
                .iter()
                .enumerate()
                .filter(|(_, (p, _))| p.wanted(&lower))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The candidates for every key and string value in `m`, read as one text.
    fn of_map(m: &Map<String, Value>) -> Candidates {
        fn collect(v: &Value, out: &mut String) {
            match v {
                Value::String(s) => {
                    out.push_str(s);
                    out.push('\n');
                }
                Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
                Value::Object(m) => collect_map(m, out),
                _ => {}
            }
        }
        fn collect_map(m: &Map<String, Value>, out: &mut String) {
            for (k, x) in m {
                out.push_str(k);
                out.push('\n');
                collect(x, out);
            }
        }
        let mut text = String::new();
        collect_map(m, &mut text);
        Candidates::of(&text)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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
        // Passwords in URLs: scheme://user:password@host. A password may hold `/`, unless
        // what precedes its first `/` is all digits (a port: `host:8080/a@b` is a path).
        pat(
            r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:([^@\s/]+|(?:[^@\s/]*[^@\s/0-9][^@\s/]*)?/[^@\s]*)@",
            1,
            &["://", "@"],
        ),
        // curl-style user:password (`-u`, `--user`, `-U`/`--proxy-user`), for the HTTP clients
        // that take it: the part after the first `:`. Quoted values may hold spaces.
        pat(
            r#"(?i)\b(?:curl|http|https|xh|httpie|wget2?|aria2c|lftp|ncftp)\b[^\n|;&]*?\s(?:-u|-U|--user|--proxy-user)(?:=|\s*)"[^":]*:([^"]+)""#,
            1,
            &[
                "curl|http|xh|wget|aria2c|lftp|ncftp",
                "-u|--user|--proxy-user",
            ],
        ),
        pat(
            r#"(?i)\b(?:curl|http|https|xh|httpie|wget2?|aria2c|lftp|ncftp)\b[^\n|;&]*?\s(?:-u|-U|--user|--proxy-user)(?:=|\s*)'[^':]*:([^']+)'"#,
            1,
            &[
                "curl|http|xh|wget|aria2c|lftp|ncftp",
                "-u|--user|--proxy-user",
            ],
        ),
        pat(
            r#"(?i)\b(?:curl|http|https|xh|httpie|wget2?|aria2c|lftp|ncftp)\b[^\n|;&]*?\s(?:-u|-U|--user|--proxy-user)(?:=|\s*)[^\s:"']*:([^\s"']+)"#,
            1,
            &[
                "curl|http|xh|wget|aria2c|lftp|ncftp",
                "-u|--user|--proxy-user",
            ],
        ),
        // `htpasswd -b [-c…] FILE USER PASSWORD` and `htpasswd -nb USER PASSWORD`.
        pat(
            r#"(?i)\bhtpasswd(?:\s+-[A-Za-z]+)*\s+-[A-Za-z]*(?:n[A-Za-z]*b|b[A-Za-z]*n)[A-Za-z]*(?:\s+-[A-Za-z]+)*\s+(?:"[^"]*"|'[^']*'|[^\s;&|<>"']+)\s+("[^"]*"|'[^']*'|[^\s;&|<>"']+)"#,
            1,
            &["htpasswd"],
        ),
        pat(
            r#"(?i)\bhtpasswd(?:\s+-[A-Za-z]+)*\s+-[A-Za-z]*b[A-Za-z]*(?:\s+-[A-Za-z]+)*\s+(?:"[^"]*"|'[^']*'|[^\s;&|<>"']+)\s+(?:"[^"]*"|'[^']*'|[^\s;&|<>"']+)\s+("[^"]*"|'[^']*'|[^\s;&|<>"']+)"#,
            1,
            &["htpasswd"],
        ),
        // Registry logins: `docker login -p PASS` (also attached `-pPASS`, podman, helm …).
        pat(
            r#"(?i)\b(?:docker|podman|buildah|skopeo|nerdctl|helm|oras|crane|regctl)\b[^\n|;&]*?\blogin\b[^\n|;&]*?\s-p(?:=|\s*)("[^"]*"|'[^']*'|[^\s"']+)"#,
            1,
            &["login", "-p"],
        ),
        // `aws configure set [profile.]aws_secret_access_key VALUE` (and the session token).
        pat(
            r#"(?i)\bconfigure\s+set\s+(?:[\w.\-]*\.)?(?:aws_secret_access_key|aws_session_token|aws_security_token)\s+("[^"]*"|'[^']*'|[^\s;&|"']+)"#,
            1,
            &["configure", "aws_se"],
        ),
        // --password=x, --token x, --api-key=x, --client-secret x …
        pat(
            r#"(?i)(?:^|\s)--?(?:password|passwd|pass|token|auth-token|access-token|api-key|apikey|secret|client-secret|oauth2-bearer|bearer)(?:=|\s+)("[^"]*"|'[^']*'|[^\s"']+)"#,
            1,
            &["-pass|-token|-auth|-access|-api|-secret|-client|-oauth2|-bearer"],
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
    redact_with(input, &Candidates::of(input))
}

/// Redacts `input` with the patterns in `candidates` whose fragments occur in it.
fn redact_with(input: &str, candidates: &Candidates) -> String {
    if candidates.is_empty() {
        return input.to_string();
    }
    let lower = input.to_ascii_lowercase();
    let mut s = input.to_string();
    for &i in &candidates.0 {
        let (p, compiled) = &PATTERNS[i];
        if !p.wanted(&lower) {
            continue;
        }
        let re = compiled.get_or_init(|| Regex::new(p.re).expect("redaction pattern compiles"));
        if !re.is_match(&s) {
            continue;
        }
        s = re
            .replace_all(&s, |c: &Captures<'_>| {
                let whole = c.get(0).expect("group 0 always matches");
                let Some(secret) = c.get(p.group) else {
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

/// Redacts every string in `m`, recursively, including object keys. A string value under a key
/// that names a secret (`password`, `authorization`, `api_key`, …) is redacted as a whole.
pub fn redact_map(m: &mut Map<String, Value>) {
    let candidates = Candidates::of_map(m);
    redact_map_with(m, &candidates);
}

fn redact_value_with(v: &mut Value, candidates: &Candidates) {
    match v {
        Value::String(s) if !candidates.is_empty() => *s = redact_with(s, candidates),
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value_with(x, candidates)),
        Value::Object(m) => redact_map_with(m, candidates),
        _ => {}
    }
}

fn redact_map_with(m: &mut Map<String, Value>, candidates: &Candidates) {
    let redact_secret_value = |k: &str, v: &mut Value, candidates: &Candidates| match v {
        Value::String(s) if secret_key(k) && !s.is_empty() && !is_marker(s) => *s = marker(s),
        _ => redact_value_with(v, candidates),
    };
    if candidates.is_empty() {
        // No key can change: redact values in place and keep the map as it is.
        for (k, v) in m.iter_mut() {
            redact_secret_value(k, v, candidates);
        }
        return;
    }
    let old = std::mem::take(m);
    for (k, mut v) in old {
        redact_secret_value(&k, &mut v, candidates);
        m.insert(redact_with(&k, candidates), v);
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
        assert!(Candidates::of(text).is_empty());
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
    fn credentials_on_command_lines() {
        for (input, secret) in [
            ("curl -u alice:Pa55word https://api.example.com", "Pa55word"),
            ("curl -sS --user alice:Pa55word https://x", "Pa55word"),
            ("curl --user=alice:Pa55word https://x", "Pa55word"),
            ("curl -ualice:Pa55word https://x", "Pa55word"),
            ("curl -u 'alice:pa ss word' https://x", "pa ss word"),
            ("curl -u \"alice:pa ss\" https://x", "pa ss"),
            ("curl -x proxy:3128 -U bob:Pr0xyPw https://x", "Pr0xyPw"),
            (
                "docker login -u bob -p D0ckerPw registry.example.com",
                "D0ckerPw",
            ),
            ("docker login -u bob -pD0ckerPw registry", "D0ckerPw"),
            ("docker login --password=D0ckerPw registry", "D0ckerPw"),
            ("docker login --password D0ckerPw registry", "D0ckerPw"),
            ("podman login -p 'D0cker Pw' quay.io", "D0cker Pw"),
            ("curl --oauth2-bearer 0authT0ken https://x", "0authT0ken"),
            ("curl --oauth2-bearer=0authT0ken https://x", "0authT0ken"),
            ("aws configure set aws_secret_access_key Sh0rtV", "Sh0rtV"),
            (
                "aws configure set profile.dev.aws_secret_access_key 'Sh0rt V'",
                "Sh0rt V",
            ),
            ("aws configure set aws_session_token S3ssion", "S3ssion"),
            ("htpasswd -b /etc/nginx/.htpasswd bob HtPw1", "HtPw1"),
            ("htpasswd -cb .htpasswd bob 'Ht Pw'", "Ht Pw"),
            ("htpasswd -B -b -c f bob HtPw1", "HtPw1"),
            ("htpasswd -nb bob HtPw1", "HtPw1"),
            ("htpasswd -nbB bob HtPw1 > out", "HtPw1"),
            ("git clone https://bob:pa/ss@example.com/r.git", "pa/ss"),
            ("https://bob:a/b/c@host/x", "a/b/c"),
            ("CURL_PASSWORD=EnvPw curl https://x", "EnvPw"),
            ("env DOCKER_PASSWORD='EnvPw' docker login", "EnvPw"),
        ] {
            gone(input, secret);
        }
    }

    #[test]
    fn credential_neighbours_are_not_mangled() {
        for s in [
            "docker run -u 1000:1000 -p 8080:80 nginx",
            "docker login -u bob --password-stdin registry",
            "curl -u alice: https://x",
            "curl --user-agent Mozilla:5 https://x",
            "curl https://host:8080/path/user@example.com",
            "git push -u origin main",
            "sort -u a:b",
            "htpasswd -D .htpasswd bob",
            "htpasswd .htpasswd bob",
            "aws configure set region eu-west-1",
            "aws configure get aws_secret_access_key",
        ] {
            assert_eq!(redact_str(s), s);
        }
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
    fn a_secret_deep_in_a_clean_record_is_found_and_the_rest_kept() {
        let token = format!("ghp_{}", "Ab1".repeat(12));
        let v = json!({"event": "decision", "input": {"args": ["ls", {"k": [format!("x {token} y")]}]}, "z": 1});
        let mut m = v.as_object().unwrap().clone();
        redact_map(&mut m);
        let text = Value::Object(m.clone()).to_string();
        assert!(!text.contains(&token), "{text}");
        assert!(text.contains(&marker(&token)), "{text}");
        let keys: Vec<&String> = m.keys().collect();
        assert_eq!(keys, ["event", "input", "z"]);
        let clean = json!({"event": "decision", "input": {"command": "cargo test"}});
        let mut c = clean.as_object().unwrap().clone();
        redact_map(&mut c);
        assert_eq!(Value::Object(c), clean);
    }

    #[test]
    fn redaction_is_idempotent_and_recursive() {
        let v = json!({"headers": {"Authorization": "Bearer zzz"}, "list": ["--password=pw1"], "password": "x"});
        let mut m = v.as_object().unwrap().clone();
        redact_map(&mut m);
        let once = m.clone();
        redact_map(&mut m);
        assert_eq!(m, once);
        let text = Value::Object(m).to_string();
        assert!(
            !text.contains("zzz") && !text.contains("pw1") && !text.contains("\"x\""),
            "{text}"
        );
    }
}
