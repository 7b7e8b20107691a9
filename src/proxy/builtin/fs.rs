//! The builtin file tools: read, write, edit, list and search. They run only after the Gate
//! allowed the call; every failure the model can act on is an `isError` result.

use super::object;
use crate::policy::paths::Object;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;

pub use crate::policy::rules::DEFAULT_ANSWER_CAP;
/// Most matching lines `search_files` reports.
const MAX_MATCHES: usize = 500;

/// Arguments of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFile {
    /// File to read (absolute, or relative to the gateway's working directory).
    pub path: String,
    /// First line to return, 1-based (default 1).
    pub offset: Option<u64>,
    /// Number of lines to return (default: all, up to the output cap).
    pub limit: Option<u64>,
}

/// Arguments of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// File to create or overwrite; missing parent folders are created.
    pub path: String,
    /// The file's new content.
    pub content: String,
}

/// Arguments of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFile {
    /// File to edit.
    pub path: String,
    /// Exact text to replace; must occur exactly once unless `replace_all` is true.
    pub old_string: String,
    /// Replacement text.
    pub new_string: String,
    /// Replace every occurrence instead of exactly one.
    pub replace_all: Option<bool>,
}

/// Arguments of `list_directory`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirectory {
    /// Folder to list.
    pub path: String,
}

/// Arguments of `search_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchFiles {
    /// Regular expression searched in file contents (Rust regex syntax).
    pub pattern: String,
    /// Folder (or file) to search; default the working directory. `.gitignore` is honoured.
    pub path: Option<String>,
}

/// What the builtin file tools may return and read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest answer, in bytes; the rest is cut with a note. Files larger than this are
    /// not loaded by `edit_file`.
    pub answer_cap: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            answer_cap: DEFAULT_ANSWER_CAP,
        }
    }
}

/// Decides whether `read_file` may return a file, for `search_files`: the object it would
/// read, or the policy's reason for refusing.
pub type MayRead<'a> = &'a super::ReadCheck;

/// Cuts `text` to `cap` bytes on a char boundary, with a note saying how much was cut.
pub fn cap(mut text: String, cap: usize) -> String {
    if text.len() <= cap {
        return text;
    }
    let total = text.len();
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    let _ = write!(
        text,
        "\n[output truncated by patchwork-gateway: {end} of {total} bytes shown]"
    );
    text
}

/// The judged object, or a refusal when the Gate judged none (nothing to act on).
fn judged<'o>(obj: Option<&'o Object>, tool: &str) -> Result<&'o Object, String> {
    obj.ok_or_else(|| format!("{tool}: the policy check named no file, so nothing is opened"))
}

/// `read_file`: lines `offset..offset+limit`, streamed from the checked file; at most
/// `answer_cap` bytes, with a note when cut.
pub fn read_file(obj: Option<&Object>, a: ReadFile, limits: Limits) -> Result<String, String> {
    let obj = judged(obj, "read_file")?;
    let (file, _) = object::open_regular(obj)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let start = a.offset.unwrap_or(1).max(1) - 1;
    let mut skipped = 0u64;
    while skipped < start {
        let buf = reader
            .fill_buf()
            .map_err(|e| format!("cannot read {}: {e}", obj.path.display()))?;
        if buf.is_empty() {
            return Ok(String::new());
        }
        let n = match memchr_newline(buf) {
            Some(i) => {
                skipped += 1;
                i + 1
            }
            None => buf.len(),
        };
        reader.consume(n);
    }
    let limit = a.limit.unwrap_or(u64::MAX);
    let mut out: Vec<u8> = Vec::new();
    let mut lines = 0u64;
    let mut cut = false;
    while lines < limit {
        let buf = reader
            .fill_buf()
            .map_err(|e| format!("cannot read {}: {e}", obj.path.display()))?;
        if buf.is_empty() {
            break;
        }
        let (n, ends_line) = match memchr_newline(buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = limits.answer_cap - out.len();
        if n > room {
            out.extend_from_slice(&buf[..room]);
            cut = true;
            break;
        }
        out.extend_from_slice(&buf[..n]);
        reader.consume(n);
        if ends_line {
            lines += 1;
        }
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if cut {
        let _ = write!(
            text,
            "\n[output truncated by patchwork-gateway at {} bytes; read further with offset and limit]",
            limits.answer_cap
        );
    }
    Ok(text)
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

/// `write_file`: replaces the checked file (or creates it, with missing parent folders) through
/// a temporary file in the checked folder.
pub fn write_file(obj: Option<&Object>, a: WriteFile) -> Result<String, String> {
    let obj = judged(obj, "write_file")?;
    object::replace(obj, a.content.as_bytes())?;
    Ok(format!(
        "wrote {} bytes to {}",
        a.content.len(),
        obj.path.display()
    ))
}

/// `edit_file`: replaces `old_string` (exactly once, or everywhere with `replace_all`) in the
/// checked file; files larger than the answer cap are refused.
pub fn edit_file(obj: Option<&Object>, a: EditFile, limits: Limits) -> Result<String, String> {
    let obj = judged(obj, "edit_file")?;
    if a.old_string.is_empty() {
        return Err("old_string must not be empty".into());
    }
    let (file, size) = object::open_regular(obj)?;
    if size > limits.answer_cap as u64 {
        return Err(format!(
            "{} is {size} bytes, more than the {} bytes edit_file loads; edit it with a command \
             (sed, a script) instead",
            obj.path.display(),
            limits.answer_cap
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limits.answer_cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", obj.path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{} is not UTF-8 text", obj.path.display()))?;
    let count = text.matches(&a.old_string).count();
    let replace_all = a.replace_all.unwrap_or(false);
    if count == 0 {
        return Err(format!(
            "old_string was not found in {}",
            obj.path.display()
        ));
    }
    if count > 1 && !replace_all {
        return Err(format!(
            "old_string occurs {count} times in {}; give more context or set replace_all",
            obj.path.display()
        ));
    }
    let edited = if replace_all {
        text.replace(&a.old_string, &a.new_string)
    } else {
        text.replacen(&a.old_string, &a.new_string, 1)
    };
    object::replace(obj, edited.as_bytes())?;
    Ok(format!(
        "replaced {} occurrence{} in {}",
        count,
        if count == 1 { "" } else { "s" },
        obj.path.display()
    ))
}

/// `list_directory`: one entry per line, folders marked with a trailing `/`, sorted; read
/// from the checked folder's descriptor.
pub fn list_directory(obj: Option<&Object>, limits: Limits) -> Result<String, String> {
    let obj = judged(obj, "list_directory")?;
    let fd = object::open_dir(obj)?;
    let opened = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let entries = std::fs::read_dir(&opened)
        .map_err(|e| format!("cannot list {}: {e}", obj.path.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let mut name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                name.push('/');
            }
            name
        })
        .collect();
    names.sort();
    let mut out = names.join("\n");
    if out.is_empty() {
        out = format!("{} is empty", obj.path.display());
    }
    Ok(cap(out, limits.answer_cap))
}

/// `search_files`: `path:line:text` for each line matching the regex, honouring `.gitignore`.
/// Every file is first put to the policy as a `read_file` of it (`may_read`) and opened as
/// that judged object; files the policy would not let `read_file` return are skipped and
/// counted. Symbolic links are not followed. Files are streamed line by line.
pub fn search_files(
    obj: Option<&Object>,
    a: SearchFiles,
    may_read: MayRead<'_>,
    limits: Limits,
) -> Result<String, String> {
    let re = regex::Regex::new(&a.pattern).map_err(|e| format!("invalid pattern: {e}"))?;
    let root = judged(obj, "search_files")?;
    if root.id.is_none() {
        return Err(format!("{} does not exist", root.path.display()));
    }
    let mut out = String::new();
    let mut found = 0usize;
    let mut refused = 0usize;
    let mut changed = 0usize;
    let walker = ignore::WalkBuilder::new(&root.path)
        .require_git(false)
        .follow_links(false)
        .build();
    'files: for entry in walker.filter_map(Result::ok) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let checked = match may_read(entry.path()) {
            Ok(o) => o,
            Err(_) => {
                refused += 1;
                continue;
            }
        };
        if checked.path != entry.path() {
            changed += 1;
            continue;
        }
        let Ok((file, _)) = object::open_regular(&checked) else {
            changed += 1;
            continue;
        };
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        if reader
            .fill_buf()
            .map(|b| b[..b.len().min(8192)].contains(&0))
            .unwrap_or(true)
        {
            continue; // binary or unreadable
        }
        let mut line = Vec::new();
        let mut n = 0usize;
        loop {
            line.clear();
            // A line longer than the cap is cut: the search stays bounded in memory.
            let got = (&mut reader)
                .take(limits.answer_cap as u64)
                .read_until(b'\n', &mut line);
            match got {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            n += 1;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if re.is_match(text) {
                found += 1;
                if found > MAX_MATCHES || out.len() > limits.answer_cap {
                    let _ = writeln!(out, "[more matches not shown: limit {MAX_MATCHES}]");
                    break 'files;
                }
                let _ = writeln!(out, "{}:{}:{}", entry.path().display(), n, text);
            }
        }
    }
    if refused > 0 {
        let _ = writeln!(
            out,
            "[{refused} file{} skipped: the policy does not let read_file return {}]",
            if refused == 1 { "" } else { "s" },
            if refused == 1 { "it" } else { "them" }
        );
    }
    if changed > 0 {
        let _ = writeln!(
            out,
            "[{changed} file{} skipped: changed while being searched]",
            if changed == 1 { "" } else { "s" }
        );
    }
    if found == 0 {
        out.insert_str(
            0,
            &format!(
                "no match for /{}/ under {}\n",
                a.pattern,
                root.path.display()
            ),
        );
    }
    Ok(cap(out, limits.answer_cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn at(dir: &Path, name: &str) -> Object {
        Object::at(std::fs::canonicalize(dir).unwrap().join(name))
    }

    fn small() -> Limits {
        Limits { answer_cap: 64 }
    }

    #[test]
    fn read_window_streams_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
        let a = |offset, limit| ReadFile {
            path: "a.txt".into(),
            offset,
            limit,
        };
        let obj = at(dir.path(), "a.txt");
        let r = read_file(Some(&obj), a(Some(2), Some(1)), small()).unwrap();
        assert_eq!(r, "two\n");
        let r = read_file(Some(&obj), a(None, None), small()).unwrap();
        assert_eq!(r, "one\ntwo\nthree\n");
        std::fs::write(dir.path().join("a.txt"), "x".repeat(100)).unwrap();
        let obj = at(dir.path(), "a.txt");
        let r = read_file(Some(&obj), a(None, Some(1)), small()).unwrap();
        assert!(
            r.starts_with(&"x".repeat(64)) && r.contains("truncated"),
            "{r}"
        );
        assert!(cap("y".repeat(100), 10).contains("10 of 100 bytes"));
    }

    #[test]
    fn edit_requires_a_unique_match_unless_replace_all() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.txt");
        std::fs::write(&f, "a a").unwrap();
        let edit = |all| EditFile {
            path: f.display().to_string(),
            old_string: "a".into(),
            new_string: "b".into(),
            replace_all: all,
        };
        let obj = at(dir.path(), "b.txt");
        let once = edit_file(Some(&obj), edit(None), small()).unwrap_err();
        assert!(once.contains("2 times"), "{once}");
        edit_file(Some(&obj), edit(Some(true)), small()).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "b b");
    }

    #[test]
    fn search_honours_gitignore_and_the_read_check() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "skip.txt\n").unwrap();
        std::fs::write(dir.path().join("keep.txt"), "needle here\n").unwrap();
        std::fs::write(dir.path().join("skip.txt"), "needle there\n").unwrap();
        std::fs::write(dir.path().join("no.txt"), "needle secret\n").unwrap();
        let may_read = |p: &Path| {
            if p.ends_with("no.txt") {
                Err("no".to_string())
            } else {
                Ok(Object::at(p.to_path_buf()))
            }
        };
        let a = SearchFiles {
            pattern: "needle".into(),
            path: None,
        };
        let out = search_files(Some(&at(dir.path(), "")), a, &may_read, Limits::default()).unwrap();
        assert!(out.contains("keep.txt:1:needle here"), "{out}");
        assert!(
            !out.contains("skip.txt") && !out.contains("secret"),
            "{out}"
        );
        assert!(out.contains("1 file skipped"), "{out}");
    }

    #[test]
    fn write_then_list() {
        let dir = tempfile::tempdir().unwrap();
        let w = WriteFile {
            path: "sub/c.txt".into(),
            content: "hi".into(),
        };
        write_file(Some(&at(dir.path(), "sub/c.txt")), w).unwrap();
        let out = list_directory(Some(&at(dir.path(), "")), Limits::default()).unwrap();
        assert_eq!(out, "sub/");
    }
}
