//! The builtin file tools: read, write, edit, list and search. They run only after the Gate
//! allowed the call; every failure the model can act on is an `isError` result.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Largest answer a file tool returns; the rest is cut with a note.
pub const OUTPUT_CAP: usize = 256 * 1024;
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

/// Resolves a tool path against the working directory.
pub fn resolve(cwd: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// Cuts `text` to [`OUTPUT_CAP`] bytes on a char boundary, with a note saying how much was cut.
pub fn cap(mut text: String) -> String {
    if text.len() <= OUTPUT_CAP {
        return text;
    }
    let total = text.len();
    let mut end = OUTPUT_CAP;
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

/// `read_file`: lines `offset..offset+limit` of a UTF-8 (or lossily decoded) file.
pub fn read_file(cwd: &Path, a: ReadFile) -> Result<String, String> {
    let path = resolve(cwd, &a.path);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let start = a.offset.unwrap_or(1).max(1) as usize - 1;
    let limit = a.limit.map(|l| l as usize).unwrap_or(usize::MAX);
    if a.offset.is_none() && a.limit.is_none() {
        return Ok(cap(text.into_owned()));
    }
    let mut out = String::new();
    for line in text.split_inclusive('\n').skip(start).take(limit) {
        out.push_str(line);
    }
    Ok(cap(out))
}

/// `write_file`: writes the whole file, creating parent folders.
pub fn write_file(cwd: &Path, a: WriteFile) -> Result<String, String> {
    let path = resolve(cwd, &a.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(&path, a.content.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(format!(
        "wrote {} bytes to {}",
        a.content.len(),
        path.display()
    ))
}

/// `edit_file`: replaces `old_string` (exactly once, or everywhere with `replace_all`).
pub fn edit_file(cwd: &Path, a: EditFile) -> Result<String, String> {
    let path = resolve(cwd, &a.path);
    if a.old_string.is_empty() {
        return Err("old_string must not be empty".into());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let count = text.matches(&a.old_string).count();
    let replace_all = a.replace_all.unwrap_or(false);
    if count == 0 {
        return Err(format!("old_string was not found in {}", path.display()));
    }
    if count > 1 && !replace_all {
        return Err(format!(
            "old_string occurs {count} times in {}; give more context or set replace_all",
            path.display()
        ));
    }
    let edited = if replace_all {
        text.replace(&a.old_string, &a.new_string)
    } else {
        text.replacen(&a.old_string, &a.new_string, 1)
    };
    std::fs::write(&path, edited.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(format!(
        "replaced {} occurrence{} in {}",
        count,
        if count == 1 { "" } else { "s" },
        path.display()
    ))
}

/// `list_directory`: one entry per line, folders marked with a trailing `/`, sorted.
pub fn list_directory(cwd: &Path, a: ListDirectory) -> Result<String, String> {
    let path = resolve(cwd, &a.path);
    let entries =
        std::fs::read_dir(&path).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
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
        out = format!("{} is empty", path.display());
    }
    Ok(cap(out))
}

/// `search_files`: `path:line:text` for each line matching the regex, honouring `.gitignore`.
pub fn search_files(cwd: &Path, a: SearchFiles) -> Result<String, String> {
    let re = regex::Regex::new(&a.pattern).map_err(|e| format!("invalid pattern: {e}"))?;
    let root = resolve(cwd, a.path.as_deref().unwrap_or("."));
    if !root.exists() {
        return Err(format!("{} does not exist", root.display()));
    }
    let mut out = String::new();
    let mut found = 0usize;
    let walker = ignore::WalkBuilder::new(&root).require_git(false).build();
    'files: for entry in walker.filter_map(Result::ok) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if bytes.contains(&0) {
            continue; // binary
        }
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            if re.is_match(line) {
                found += 1;
                if found > MAX_MATCHES {
                    let _ = writeln!(out, "[more matches not shown: limit {MAX_MATCHES}]");
                    break 'files;
                }
                let _ = writeln!(out, "{}:{}:{}", entry.path().display(), n + 1, line);
            }
        }
    }
    if found == 0 {
        return Ok(format!(
            "no match for /{}/ under {}",
            a.pattern,
            root.display()
        ));
    }
    Ok(cap(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_window_and_cap() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
        let a = ReadFile {
            path: "a.txt".into(),
            offset: Some(2),
            limit: Some(1),
        };
        assert_eq!(read_file(dir.path(), a).unwrap(), "two\n");
        let big = "x".repeat(OUTPUT_CAP + 10);
        let capped = cap(big);
        assert!(capped.contains("output truncated"));
        assert!(capped.len() < OUTPUT_CAP + 200);
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
        assert!(
            edit_file(dir.path(), edit(None))
                .unwrap_err()
                .contains("2 times")
        );
        edit_file(dir.path(), edit(Some(true))).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "b b");
    }

    #[test]
    fn search_honours_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "skip.txt\n").unwrap();
        std::fs::write(dir.path().join("keep.txt"), "needle here\n").unwrap();
        std::fs::write(dir.path().join("skip.txt"), "needle there\n").unwrap();
        let out = search_files(
            dir.path(),
            SearchFiles {
                pattern: "needle".into(),
                path: None,
            },
        )
        .unwrap();
        assert!(out.contains("keep.txt:1:needle here"), "{out}");
        assert!(!out.contains("skip.txt"), "{out}");
    }

    #[test]
    fn write_then_list() {
        let dir = tempfile::tempdir().unwrap();
        write_file(
            dir.path(),
            WriteFile {
                path: "sub/c.txt".into(),
                content: "hi".into(),
            },
        )
        .unwrap();
        let out = list_directory(dir.path(), ListDirectory { path: ".".into() }).unwrap();
        assert_eq!(out, "sub/");
    }
}
