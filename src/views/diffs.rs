//! Diff hunks of a session's file writes, recovered from git. The ledger keeps only a digest of
//! each call's input (never the content), so a write's content is recovered by finding a
//! version of the file — in the work tree now, or in one of its recent commits — whose input
//! digest, recomputed in the shape the tool sent (`Write {file_path, content}`, MCP
//! `write_file {path, content}`), equals the recorded one. Only then is it shown, against the
//! version before it. Edits record a digest of their old and new text, which cannot be
//! recovered this way: that is said plainly, as is any other reason a diff cannot be shown.

use super::calls::Call;
use crate::ledger::Digest;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Largest file whose versions are compared.
const MAX_FILE: usize = 1 << 20;
/// Commits of a file searched for the written content.
const COMMITS: usize = 10;
/// Writes looked at in one session (each costs a few git runs).
const MAX_WRITES: usize = 200;
/// Diff lines shown per write.
const MAX_LINES: usize = 400;

/// What could be recovered of one file write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "diff", rename_all = "snake_case")]
pub enum FileDiff {
    /// The written content was found and proven by its digest.
    Hunks {
        path: String,
        /// Where the content was found (`the work tree`, `commit 1a2b3c4d`).
        found_in: String,
        /// The version it is compared with (`empty (new file)`, `commit 1a2b3c4d`).
        against: String,
        /// Unified diff lines from the first `@@` (without file headers).
        lines: Vec<String>,
        /// Lines left out past the limit.
        more: usize,
    },
    /// No diff, and why.
    NotRecoverable { path: String, why: String },
}

/// The diffs of the file writes among `calls`, by decision seq.
pub fn recover<'a>(calls: impl Iterator<Item = &'a Call>) -> HashMap<u64, FileDiff> {
    let mut git = Git::default();
    let mut out = HashMap::new();
    let writes = calls.filter(|c| !c.refused() && write_target(c).is_some());
    for (n, c) in writes.enumerate() {
        let Some((action, path)) = write_target(c) else {
            continue;
        };
        let diff = if n >= MAX_WRITES {
            FileDiff::NotRecoverable {
                path: path.clone(),
                why: format!("only the first {MAX_WRITES} writes of a session are diffed"),
            }
        } else {
            git.diff(c, action, &path)
        };
        out.insert(c.decision.seq, diff);
    }
    out
}

/// The action and absolute path of a file write, create or edit.
fn write_target(c: &Call) -> Option<(&'static str, String)> {
    let d = &c.decision;
    d.target.iter().find_map(|t| {
        let (action, value) = t.split_once(':')?;
        let action = ["file_write", "file_create", "file_edit"]
            .into_iter()
            .find(|a| *a == action)?;
        let p = Path::new(value);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(d.cwd.as_deref()?).join(p)
        };
        Some((action, abs.to_string_lossy().into_owned()))
    })
}

/// Runs git, remembering the work tree of each folder.
#[derive(Default)]
struct Git {
    tops: HashMap<PathBuf, Option<PathBuf>>,
}

impl Git {
    fn diff(&mut self, c: &Call, action: &str, path: &str) -> FileDiff {
        let none = |why: &str| FileDiff::NotRecoverable {
            path: path.to_string(),
            why: why.to_string(),
        };
        if c.outcome().is_none() {
            return none("the call has no outcome recorded: it may not have run");
        }
        if action == "file_edit" {
            return none(
                "the ledger keeps only a digest of an edit's old and new text, so the change \
                 cannot be recovered (`git diff` shows the file's uncommitted changes)",
            );
        }
        let Some(recorded) = &c.decision.input_sha256 else {
            return none("the decision has no input digest");
        };
        let file = Path::new(path);
        let Some(dir) = file.parent() else {
            return none("not a file path");
        };
        let Some(top) = self.top(dir) else {
            return none("not inside a git work tree (or git is not installed)");
        };
        let Some(rel) = relative(&top, file) else {
            return none("outside the git work tree");
        };
        let shapes = InputShapes::new(&c.decision, path, &rel);
        // The work tree first (the newest version), then the file's recent commits.
        let commits = self.commits(&top, &rel);
        let mut found = None;
        if let Some(now) = work_tree_file(file)
            && shapes.matches(&now, recorded)
        {
            let before = commits
                .iter()
                .find(|(_, time)| *time * 1_000_000 <= c.decision.ts)
                .map(|(id, _)| (format!("commit {}", short(id)), self.show(&top, id, &rel)));
            found = Some(("the work tree".to_string(), now, before));
        }
        if found.is_none() {
            for (id, _) in &commits {
                if let Some(content) = self.show(&top, id, &rel)
                    && shapes.matches(&content, recorded)
                {
                    let parent = format!("{id}^");
                    let before = Some((
                        format!("commit {}^", short(id)),
                        self.show(&top, &parent, &rel),
                    ));
                    found = Some((format!("commit {}", short(id)), content, before));
                    break;
                }
            }
        }
        let Some((found_in, after, before)) = found else {
            return none(&format!(
                "the written content is neither in the work tree nor in the file's last \
                 {COMMITS} commits (it was changed again since, or never committed)"
            ));
        };
        let (against, before) = match before {
            Some((label, Some(content))) => (label, content),
            Some((label, None)) => (format!("empty (no file at {label})"), Vec::new()),
            None => ("empty (no earlier commit of the file)".into(), Vec::new()),
        };
        match unified(&before, &after) {
            Some(mut lines) => {
                let more = lines.len().saturating_sub(MAX_LINES);
                lines.truncate(MAX_LINES);
                FileDiff::Hunks {
                    path: path.to_string(),
                    found_in,
                    against,
                    lines,
                    more,
                }
            }
            None => none("git could not compare the two versions"),
        }
    }

    /// The work tree holding `dir`.
    fn top(&mut self, dir: &Path) -> Option<PathBuf> {
        if let Some(t) = self.tops.get(dir) {
            return t.clone();
        }
        let top = dir
            .is_dir()
            .then(|| git(dir, &["rev-parse", "--show-toplevel"]))
            .flatten()
            .and_then(|out| String::from_utf8(out).ok())
            .map(|s| PathBuf::from(s.trim_end_matches('\n')));
        self.tops.insert(dir.to_path_buf(), top.clone());
        top
    }

    /// The file's newest commits: (id, commit time in seconds).
    fn commits(&self, top: &Path, rel: &str) -> Vec<(String, i64)> {
        let n = format!("-n{COMMITS}");
        let Some(out) = git(top, &["log", &n, "--format=%H %ct", "--", rel]) else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| {
                let (id, t) = l.split_once(' ')?;
                Some((id.to_string(), t.parse().ok()?))
            })
            .collect()
    }

    /// The file's content at `rev`, if it exists there and is small enough.
    fn show(&self, top: &Path, rev: &str, rel: &str) -> Option<Vec<u8>> {
        let out = git(top, &["show", &format!("{rev}:{rel}")])?;
        (out.len() <= MAX_FILE).then_some(out)
    }
}

/// The input digests a write of `content` could have had, in the shapes the tools send.
struct InputShapes<'a> {
    keys: &'static [&'static str],
    paths: Vec<&'a str>,
}

impl<'a> InputShapes<'a> {
    fn new(d: &super::entry::Entry, abs: &'a str, rel: &'a str) -> InputShapes<'a> {
        // The hook sees Claude Code's `Write {file_path, content}` with an absolute path; the
        // MCP door's `write_file {path, content}` takes the path as the agent wrote it.
        let keys: &'static [&'static str] = if d.door.as_deref() == Some("mcp") {
            &["path"]
        } else {
            &["file_path", "path"]
        };
        InputShapes {
            keys,
            paths: vec![abs, rel],
        }
    }

    fn matches(&self, content: &[u8], recorded: &Digest) -> bool {
        let Ok(text) = std::str::from_utf8(content) else {
            return false;
        };
        self.keys.iter().any(|k| {
            self.paths.iter().any(|p| {
                let mut input = serde_json::Map::new();
                input.insert((*k).into(), json!(p));
                input.insert("content".into(), json!(text));
                &Digest::of_json(&serde_json::Value::Object(input)) == recorded
            })
        })
    }
}

/// The file as it is now: a regular file (not a link) small enough to compare.
fn work_tree_file(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() as usize > MAX_FILE {
        return None;
    }
    std::fs::read(path).ok()
}

/// `path` relative to `top`, as git names it.
fn relative(top: &Path, path: &Path) -> Option<String> {
    let rel: PathBuf = match path.strip_prefix(top) {
        Ok(r) => r.to_path_buf(),
        Err(_) => {
            // The work tree may be named through a link (`/tmp` → `/private/tmp`).
            let real = std::fs::canonicalize(path.parent()?).ok()?;
            let top = std::fs::canonicalize(top).ok()?;
            real.strip_prefix(&top).ok()?.join(path.file_name()?)
        }
    };
    let s = rel.to_str()?;
    (!s.is_empty() && !rel.components().any(|c| c.as_os_str() == "..")).then(|| s.to_string())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}

/// Runs `git -C dir args…` with a plain configuration; its stdout when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "core.quotepath=off", "--no-pager"])
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// The unified diff (3 lines of context) of two versions, from the first `@@`.
fn unified(before: &[u8], after: &[u8]) -> Option<Vec<String>> {
    let dir = private_temp_dir()?;
    let (a, b) = (dir.join("before"), dir.join("after"));
    let written = std::fs::write(&a, before).and_then(|()| std::fs::write(&b, after));
    let out = written.ok().and_then(|()| {
        Command::new("git")
            .args([
                "diff",
                "--no-index",
                "--no-color",
                "--no-ext-diff",
                "-U3",
                "--",
            ])
            .arg(&a)
            .arg(&b)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
    });
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    // `--no-index` exits 1 when the files differ, 0 when they are the same.
    if !matches!(out.status.code(), Some(0 | 1)) {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .skip_while(|l| !l.starts_with("@@"))
            .map(str::to_string)
            .collect(),
    )
}

/// A fresh folder only this user can read, under the temporary folder.
fn private_temp_dir() -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).ok()?;
    let dir = std::env::temp_dir().join(format!("patchwork-diff-{}", hex::encode(id)));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).ok()?;
    Some(dir)
}
