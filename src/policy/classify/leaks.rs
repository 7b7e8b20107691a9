//! Secrets leaving in arguments: the values of the project's secret files, and tokens shaped
//! like credentials, found in what a call sends out (a URL, a request body or header, an MCP
//! tool's arguments). Only computed for calls that send something: the values are read from
//! the few secret files at the project's top and a handful in the home folder, kept in memory
//! as SHA-256 hashes (between calls while none of those files changes) and never stored or
//! logged in clear.

use super::{Classifier, places};
use crate::policy::Env;
use crate::policy::findings::Code;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// Hashes of the secret values, looked up once per call on first use (see [`index`]).
    fn secret_values(&mut self) -> &HashSet<Hash> {
        let env = self.env;
        self.secret_values.get_or_insert_with(|| index(env))
    }
}

/// What an index was read from, each path with its stamp then (None: it was missing): the
/// project folder (a secret file created, removed or renamed there changes it), its secret
/// files and the home folder's credential files.
type Stamps = Vec<(PathBuf, Option<Stamp>)>;

/// A file's identity, size and change times: equal stamps, unchanged contents.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of what `path` names (symlinks followed, as the read does), or None.
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// Changed less than [`RACY`] before `now`: a second change within the same tick of the
    /// file system's clock would leave the stamp as it is.
    fn racy(&self, now: SystemTime) -> bool {
        let at = |(sec, nsec): (i64, i64)| {
            UNIX_EPOCH + Duration::new(sec.max(0) as u64, nsec.clamp(0, 999_999_999) as u32)
        };
        now.duration_since(at(self.mtime).max(at(self.ctime)))
            .map_or(true, |age| age < RACY)
    }
}

/// An index kept between calls and what it was read from.
struct Kept {
    project: PathBuf,
    home: PathBuf,
    stamps: Stamps,
    values: Arc<HashSet<Hash>>,
}

/// Indexes kept between calls, one per (project, home): a call checks the stamps (a few
/// `stat`s) instead of listing the project and reading every secret file again, which was
/// most of the cost of judging an egress call.
static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());
/// Indexes kept at most (one per project a process judges calls for).
const KEPT_MAX: usize = 8;
/// Stamps changed this recently are not trusted to show the next change (git's "racily
/// clean" rule): such an index is not kept.
const RACY: Duration = Duration::from_secs(2);

/// The hashes of the values in the project's secret files (at its top) and in the home
/// folder's credential files as they are now: the kept index when nothing it was read from
/// changed, else read again.
fn index(env: &Env) -> Arc<HashSet<Hash>> {
    let kept = KEPT.lock().ok().and_then(|all| {
        all.iter()
            .find(|k| k.project == env.project && k.home == env.home)
            .map(|k| (k.stamps.clone(), k.values.clone()))
    });
    if let Some((stamps, values)) = kept
        && stamps.iter().all(|(p, s)| Stamp::of(p) == *s)
    {
        return values;
    }
    let now = SystemTime::now();
    let (stamps, values) = read_index(env);
    let values = Arc::new(values);
    let trusted = stamps.iter().all(|(_, s)| !s.is_some_and(|s| s.racy(now)));
    if let Ok(mut all) = KEPT.lock() {
        all.retain(|k| !(k.project == env.project && k.home == env.home));
        if trusted {
            if all.len() >= KEPT_MAX {
                all.remove(0);
            }
            all.push(Kept {
                project: env.project.clone(),
                home: env.home.clone(),
                stamps,
                values: values.clone(),
            });
        }
    }
    values
}

/// Reads the index and the stamps it is read from (each stamp taken before the read, so a
/// change while reading shows next time).
fn read_index(env: &Env) -> (Stamps, HashSet<Hash>) {
    let mut stamps: Stamps = vec![(env.project.clone(), Stamp::of(&env.project))];
    let mut files: Vec<PathBuf> = std::fs::read_dir(&env.project)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| places::secret_kind(p, env).is_some())
        .collect();
    files.extend(HOME_FILES.iter().map(|f| env.home.join(f)));
    let mut set = HashSet::new();
    for f in files {
        stamps.push((f.clone(), Stamp::of(&f)));
        let Some(text) = places::small_text(&f, MAX_FILE) else {
            continue;
        };
        for v in text.lines().filter_map(value_of) {
            set.insert(hash(v.as_bytes()));
        }
    }
    (stamps, set)
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

    #[test]
    fn the_kept_index_follows_every_change_to_the_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let (home, project) = (root.join("home"), root.join("project"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join(".env"), "TOKEN=first-value1\n").unwrap();
        let env = Env::new(&root.join("pw"), &project);
        let env = Env { home, ..env };
        let has = |v: &str| index(&env).contains(&hash(v.as_bytes()));
        // Just written: read again on every call until its stamps are old enough to trust.
        assert!(has("first-value1"));
        let deadline = SystemTime::now() + RACY * 3;
        while Stamp::of(&project.join(".env")).is_some_and(|s| s.racy(SystemTime::now())) {
            assert!(SystemTime::now() < deadline, "the stamp never aged");
            std::thread::sleep(Duration::from_millis(20));
        }
        let kept = index(&env);
        assert!(
            Arc::ptr_eq(&kept, &index(&env)),
            "an unchanged index is kept"
        );
        // Rewritten in place (same size), a new secret file, a credential file in the home.
        std::fs::write(project.join(".env"), "TOKEN=second-value\n").unwrap();
        assert!(has("second-value") && !has("first-value1"));
        std::fs::write(project.join("prod.env"), "KEY=third-value-3\n").unwrap();
        assert!(has("third-value-3"));
        std::fs::write(
            env.home.join(".netrc"),
            "machine h login u password fourth-value\n",
        )
        .unwrap();
        assert!(has("fourth-value") && has("second-value"));
        std::fs::remove_file(project.join("prod.env")).unwrap();
        assert!(!has("third-value-3"));
    }
}
