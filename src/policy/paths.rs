//! The one path resolver for every tool and door: `~`, `$HOME`, `${HOME}`, relative paths
//! against the cwd, `..`, symlinks (resolved when the file exists) and globs expanded against
//! the real filesystem, with bash's literal fallback when nothing matches.

use std::path::{Component, Path, PathBuf};

/// Expands `~`, `~/…`, `$HOME` and `${HOME}` at the start of `raw` using `home`.
pub fn expand_home(raw: &str, home: &Path) -> PathBuf {
    for prefix in ["${HOME}", "$HOME", "~"] {
        if let Some(rest) = raw.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return home.join(rest.trim_start_matches('/'));
        }
    }
    PathBuf::from(raw)
}

/// Resolves `raw` to an absolute, normalised path: home expansion, join with `cwd`, then the
/// physical path of its longest existing prefix (symlinks followed, as the kernel would) with
/// the rest normalised lexically.
pub fn resolve(raw: &str, cwd: &Path, home: &Path) -> PathBuf {
    let expanded = expand_home(raw, home);
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        cwd.join(expanded)
    };
    physical(&joined)
}

/// The physical form of an absolute path: the longest prefix that exists is canonicalised
/// (following symlinks and `..` the way the kernel does); the rest is walked component by
/// component, so a dangling symlink names the file that writing through it would create.
pub fn physical(path: &Path) -> PathBuf {
    physical_hops(path, MAX_LINK_HOPS)
}

/// Symlinks followed in one resolution before giving up (the kernel's limit is 40).
const MAX_LINK_HOPS: usize = 40;

fn physical_hops(path: &Path, hops: usize) -> PathBuf {
    if let Some(p) = canonical(path) {
        return p;
    }
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    while let Some(name) = existing.file_name().map(|n| n.to_os_string()) {
        if !existing.pop() {
            break;
        }
        rest.push(name);
        if let Some(base) = canonical(&existing) {
            return beyond(base, rest, hops);
        }
    }
    lexical(path)
}

/// Appends the missing components `rest` (innermost first) to the existing folder `base`.
/// The first of them may be a dangling symlink: it is followed to what it would create.
fn beyond(base: PathBuf, mut rest: Vec<std::ffi::OsString>, hops: usize) -> PathBuf {
    let Some(first) = rest.pop() else {
        return base;
    };
    let here = base.join(&first);
    let mut out = match std::fs::read_link(&here) {
        Ok(target) if hops > 0 && first != ".." && first != "." => {
            let next = lexical(&base.join(target));
            physical_hops(&next, hops - 1)
        }
        _ => lexical(&here),
    };
    for part in rest.iter().rev() {
        out.push(part);
    }
    lexical(&out)
}

/// The identity of an existing file: device, inode, link count and type bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    /// `st_mode & S_IFMT`.
    pub kind: u32,
}

impl FileId {
    /// The identity of what `path` names itself (a symlink is not followed), or None.
    pub fn of(path: &Path) -> Option<FileId> {
        std::fs::symlink_metadata(path)
            .ok()
            .map(|m| FileId::from_meta(&m))
    }

    /// The identity in already-read metadata.
    pub fn from_meta(m: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            nlink: m.nlink(),
            kind: m.mode() & libc::S_IFMT,
        }
    }

    /// True for the same object (device and inode), whatever the link count.
    pub fn same(&self, other: &FileId) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == libc::S_IFREG
    }

    /// True for a folder.
    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }
}

/// The object a decision is about: the physical path (no symlink in it when the decision
/// was made), and for what existed then, its identity and that of its parent folder. The
/// builtin tools act on exactly this object or refuse.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Object {
    pub path: PathBuf,
    /// The file itself, when it existed.
    pub id: Option<FileId>,
    /// Its parent folder, when that existed.
    pub parent: Option<FileId>,
}

impl Object {
    /// The object at an already resolved physical path, as it is now.
    pub fn at(path: PathBuf) -> Object {
        let id = FileId::of(&path);
        let parent = path.parent().and_then(FileId::of);
        Object { path, id, parent }
    }
}

/// Resolves `raw` the way the tool will use it and identifies what is there: the one function
/// both the Gate and the builtin tools use for a tool path.
pub fn object(raw: &str, cwd: &Path, home: &Path) -> Object {
    Object::at(resolve(raw, cwd, home))
}

/// The canonical path of an existing file, or None. On Linux the kernel resolves it once. A
/// path with no symlink in it (the usual case) is opened without following any
/// (`openat2(RESOLVE_NO_SYMLINKS)`, `O_PATH`): that it opens proves its lexical form is the
/// physical one, two system calls. A path through a symlink is opened following them and /proc
/// names what was opened (three more), where realpath(3) reads every component as a link
/// (about 25 calls per hook decision). Anything unusual there (no openat2, no /proc, a deleted
/// file) falls back to realpath.
pub fn canonical(path: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        if path.is_absolute() {
            match open_without_symlinks(path) {
                Ok(_) => return Some(lexical(path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
                Err(_) => {}
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(path);
        match file {
            Ok(file) => {
                let named = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()));
                if let Ok(p) = named
                    && p.is_absolute()
                    && !p.to_string_lossy().ends_with(" (deleted)")
                {
                    return Some(p);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) => {}
        }
    }
    std::fs::canonicalize(path).ok()
}

/// Set once the kernel said it has no `openat2` (before Linux 5.6).
#[cfg(target_os = "linux")]
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Opens the absolute `path` as `O_PATH` without following any symlink in any component
/// (`ELOOP` when there is one; `ENOSYS` without `openat2`).
#[cfg(target_os = "linux")]
fn open_without_symlinks(path: &Path) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::Ordering;
    let unsupported = || std::io::Error::from_raw_os_error(libc::ENOSYS);
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return Err(unsupported());
    }
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: open_how is a plain C struct; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a NUL-terminated path and a correctly sized open_how; the result is checked.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOSYS) {
            NO_OPENAT2.store(true, Ordering::Relaxed);
        }
        return Err(e);
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Normalises `.` and `..` without touching the filesystem; never climbs above `/`.
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Expands an unquoted glob word against the filesystem, as bash does: `*`, `?` and `[..]`
/// per path component, hidden entries only when the component itself starts with `.`.
/// A pattern that matches nothing is kept literally. Results are absolute and sorted.
pub fn expand_glob(raw: &str, cwd: &Path, home: &Path) -> Vec<PathBuf> {
    let expanded = expand_home(raw, home);
    let absolute = if expanded.is_absolute() {
        expanded
    } else {
        cwd.join(expanded)
    };
    let mut current = vec![PathBuf::from("/")];
    for comp in absolute.components() {
        let Component::Normal(name) = comp else {
            if matches!(comp, Component::ParentDir) {
                current.iter_mut().for_each(|p| {
                    p.pop();
                });
            }
            continue;
        };
        let name = name.to_string_lossy();
        if !has_glob_chars(&name) {
            current.iter_mut().for_each(|p| p.push(name.as_ref()));
            continue;
        }
        let Ok(matcher) = globset::GlobBuilder::new(&name)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map(|g| g.compile_matcher())
        else {
            return vec![resolve(raw, cwd, home)];
        };
        let mut next = Vec::new();
        for dir in &current {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let entry_name = entry.file_name();
                let entry_name = entry_name.to_string_lossy();
                if entry_name.starts_with('.') && !name.starts_with('.') {
                    continue;
                }
                if matcher.is_match(entry_name.as_ref()) {
                    next.push(dir.join(entry_name.as_ref()));
                }
            }
        }
        if next.is_empty() {
            return vec![resolve(raw, cwd, home)];
        }
        current = next;
    }
    let mut out: Vec<PathBuf> = current.iter().map(|p| physical(p)).collect();
    out.sort();
    out.dedup();
    out
}

/// True when `s` holds characters bash treats as a glob.
pub fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// True when `path` is `base` or lies below it.
pub fn is_within(path: &Path, base: &Path) -> bool {
    path.starts_with(base)
}

/// Whether `uri` is a `file:` URI, however its scheme is spelled (`FILE:`, `File:`).
pub fn is_file_uri(uri: &str) -> bool {
    let uri = uri.trim_start_matches(|c: char| c.is_ascii_whitespace() || c.is_ascii_control());
    uri.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("file:"))
}

/// The local path a `file:` URI names, the way a server reading it would see it: scheme in any
/// case, an empty or `localhost` host, query and fragment dropped, percent-escapes decoded
/// once, then `.` and `..` removed. `None` for other schemes; an error (for a fail-closed
/// refusal) for another host, a relative path, a bad or NUL escape.
pub fn file_uri_path(uri: &str) -> Option<Result<PathBuf, String>> {
    use std::os::unix::ffi::OsStringExt;
    if !is_file_uri(uri) {
        return None;
    }
    let uri = uri.trim_matches(|c: char| c.is_ascii_whitespace() || c.is_ascii_control());
    let rest = &uri[5..];
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let (host, path) = match authority_and_path.find('/') {
                Some(i) => authority_and_path.split_at(i),
                None => (authority_and_path, ""),
            };
            let host = match percent_decode(host) {
                Ok(h) => String::from_utf8_lossy(&h).to_ascii_lowercase(),
                Err(e) => return Some(Err(e)),
            };
            if !host.is_empty() && host != "localhost" {
                return Some(Err(format!(
                    "the file URI names the host `{host}`; only local files (no host or localhost) can be judged"
                )));
            }
            path
        }
        None => rest,
    };
    if !path.starts_with('/') {
        return Some(Err("the file URI has no absolute path".into()));
    }
    Some(match percent_decode(path) {
        Ok(bytes) if bytes.contains(&0) => Err("the file URI holds a NUL byte".into()),
        Ok(bytes) => Ok(lexical(&PathBuf::from(std::ffi::OsString::from_vec(bytes)))),
        Err(e) => Err(e),
    })
}

/// Decodes `%XX` escapes once; a `%` not followed by two hex digits is an error.
fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => return Err(format!("bad percent-escape in file URI at byte {i}")),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_in_every_spelling_name_the_same_file() {
        let want = Ok(PathBuf::from("/home/u/.ssh/id_rsa"));
        for uri in [
            "file:///home/u/.ssh/id_rsa",
            "FILE:///home/u/.ssh/id_rsa",
            "File://localhost/home/u/.ssh/id_rsa",
            "file://LOCALHOST/home/u/.ssh/id_rsa",
            "file:/home/u/.ssh/id_rsa",
            "file:///home/u/project/%2e%2e/.ssh/id_rsa",
            "file:///home/u/project/%2E%2E/%2essh/id%5frsa",
            "file:///home/u/./x/../.ssh/id_rsa?x=1#frag",
            " file:///home/u/.ssh/id_rsa",
        ] {
            assert_eq!(file_uri_path(uri), Some(want.clone()), "{uri}");
        }
        assert_eq!(file_uri_path("memo://notes"), None);
        assert_eq!(file_uri_path("https://h/x"), None);
        assert!(matches!(
            file_uri_path("file://evil.example/etc/passwd"),
            Some(Err(_))
        ));
        assert!(matches!(file_uri_path("file:///a/%zz"), Some(Err(_))));
        assert!(matches!(file_uri_path("file:///a/%00b"), Some(Err(_))));
        assert!(matches!(file_uri_path("file:relative"), Some(Err(_))));
        // Decoded once, as a server does: %252e is the file name `%2e`, not `..`.
        assert_eq!(
            file_uri_path("file:///a/%252e%252e/b"),
            Some(Ok(PathBuf::from("/a/%2e%2e/b")))
        );
    }
    use std::fs;

    fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let project = root.join("project");
        let home = root.join("home");
        fs::create_dir_all(project.join("sub")).unwrap();
        fs::create_dir_all(&home).unwrap();
        fs::write(project.join(".env"), "SECRET=1").unwrap();
        fs::write(project.join("a.ts"), "").unwrap();
        fs::write(project.join(".hidden"), "").unwrap();
        std::os::unix::fs::symlink(".env", project.join("notes.txt")).unwrap();
        (dir, project, home)
    }

    #[test]
    fn home_forms_expand() {
        let home = Path::new("/h/u");
        for raw in ["~/.ssh", "$HOME/.ssh", "${HOME}/.ssh"] {
            assert_eq!(expand_home(raw, home), PathBuf::from("/h/u/.ssh"));
        }
        assert_eq!(expand_home("~", home), PathBuf::from("/h/u"));
        assert_eq!(expand_home("~x/y", home), PathBuf::from("~x/y"));
    }

    #[test]
    fn dotdot_and_symlinks_reach_the_same_file() {
        let (_d, project, home) = fixture();
        let env = project.join(".env");
        assert_eq!(resolve("sub/../.env", &project, &home), env);
        assert_eq!(resolve("notes.txt", &project, &home), env);
        assert_eq!(resolve(env.to_str().unwrap(), Path::new("/"), &home), env);
    }

    #[test]
    fn missing_paths_normalise_lexically_under_their_existing_parent() {
        let (_d, project, home) = fixture();
        assert_eq!(
            resolve("sub/new/../x.txt", &project, &home),
            project.join("sub/x.txt")
        );
        assert_eq!(
            resolve("../../../../..", &project, &home),
            PathBuf::from("/")
        );
    }

    #[test]
    fn physical_agrees_with_realpath_through_linked_folders() {
        let (_d, project, home) = fixture();
        std::os::unix::fs::symlink(&project, home.join("work")).unwrap();
        std::os::unix::fs::symlink("missing", project.join("dangling")).unwrap();
        for p in [home.join("work/sub/../.env"), home.join("work/notes.txt")] {
            assert_eq!(
                physical(&p),
                fs::canonicalize(&p).unwrap(),
                "{}",
                p.display()
            );
        }
        assert_eq!(
            physical(&home.join("work/sub/new.txt")),
            project.join("sub/new.txt")
        );
        // A dangling symlink names what writing through it would create.
        assert_eq!(
            physical(&home.join("work/dangling")),
            project.join("missing")
        );
        std::os::unix::fs::symlink("../home/.ssh/authorized_keys", project.join("todo.md"))
            .unwrap();
        assert_eq!(
            resolve("todo.md", &project, &home),
            home.join(".ssh/authorized_keys")
        );
        std::os::unix::fs::symlink("loop", project.join("loop")).unwrap();
        assert_eq!(physical(&project.join("loop")), project.join("loop"));
    }

    #[test]
    fn globs_expand_against_the_filesystem() {
        let (_d, project, home) = fixture();
        assert_eq!(
            expand_glob(".e?v", &project, &home),
            vec![project.join(".env")]
        );
        let all = expand_glob("./*", &project, &home);
        assert!(all.contains(&project.join("a.ts")));
        assert!(!all.contains(&project.join(".hidden")), "* skips dotfiles");
        assert!(
            all.contains(&project.join(".env")),
            "a symlink the glob matches resolves to its target"
        );
        assert_eq!(
            expand_glob("nothing*.x", &project, &home),
            vec![project.join("nothing*.x")]
        );
    }
}
