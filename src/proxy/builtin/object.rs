//! Acting on exactly the object the Gate judged. The judged path is physical (no symlink in
//! it when the decision was made), so it is opened again without following any symlink:
//! `openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH)` below `/` where the kernel has it (Linux
//! 5.6 and later), else one `O_NOFOLLOW` open per component. The open descriptor is then
//! compared with the judged `(dev, ino)`; writes go to a temporary file in the checked folder's
//! descriptor and are renamed over the name there. The name is never looked up again.

use crate::policy::paths::{FileId, Object};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Set once the kernel said it has no `openat2`, so the component walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// The physical components of an absolute path, refusing `.` and `..` (a judged path has none).
fn components(path: &Path) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(CString::new(n.as_bytes())?),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a physical absolute path", path.display()),
                ));
            }
        }
    }
    Ok(out)
}

fn cvt(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn root() -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated literal path; the result is checked.
    cvt(unsafe {
        libc::open(
            c"/".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })
}

/// Opens `path` (absolute, physical) with `flags`, failing if any component is a symlink.
pub fn open_nofollow(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let parts = components(path)?;
    let root = root()?;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2_beneath(&root, &parts, flags) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    walk(root, &parts, flags)
}

#[cfg(target_os = "linux")]
fn openat2_beneath(root: &OwnedFd, parts: &[CString], flags: libc::c_int) -> io::Result<OwnedFd> {
    let mut rel = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            rel.push(b'/');
        }
        rel.extend_from_slice(p.as_bytes());
    }
    if rel.is_empty() {
        rel.push(b'.');
    }
    let rel = CString::new(rel)?;
    // SAFETY: open_how is a plain C struct; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid descriptor, NUL-terminated path and a correctly sized open_how.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    cvt(fd as libc::c_int)
}

#[cfg(not(target_os = "linux"))]
fn openat2_beneath(_: &OwnedFd, _: &[CString], _: libc::c_int) -> io::Result<OwnedFd> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// One `O_NOFOLLOW` open per component: folders with `O_PATH | O_DIRECTORY`, the last one with
/// `flags`. A symlink anywhere fails (`ENOTDIR` or `ELOOP`).
pub fn walk(root: OwnedFd, parts: &[CString], flags: libc::c_int) -> io::Result<OwnedFd> {
    let mut dir = root;
    let Some((last, folders)) = parts.split_last() else {
        return reopen_dot(&dir, flags);
    };
    for part in folders {
        dir = openat(&dir, part, libc::O_PATH | libc::O_DIRECTORY)?;
    }
    openat(&dir, last, flags)
}

fn reopen_dot(dir: &OwnedFd, flags: libc::c_int) -> io::Result<OwnedFd> {
    openat(dir, c".", flags)
}

fn openat(dir: &OwnedFd, name: &std::ffi::CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: valid descriptor and NUL-terminated name; the result is checked.
    cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o666,
        )
    })
}

/// The identity of an open descriptor.
pub fn fstat(fd: &OwnedFd) -> io::Result<(FileId, u64)> {
    // SAFETY: stat is plain data, filled by the kernel for a valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((stat_id(&st), st.st_size as u64))
}

fn stat_id(st: &libc::stat) -> FileId {
    FileId {
        dev: st.st_dev,
        ino: st.st_ino,
        nlink: st.st_nlink,
        kind: st.st_mode & libc::S_IFMT,
    }
}

/// What a file type is called in a refusal.
pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        libc::S_IFIFO => "a FIFO (named pipe)",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        libc::S_IFDIR => "a folder",
        libc::S_IFLNK => "a symbolic link",
        _ => "a regular file",
    }
}

fn changed(path: &Path) -> String {
    format!(
        "{} changed between the policy check and the tool (a different file, or a symbolic link, \
         is there now); refused so that the tool acts only on the file that was checked. Retry \
         the call",
        path.display()
    )
}

fn open_error(path: &Path, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::EXDEV) => changed(path),
        Some(libc::ENXIO) => format!(
            "{} is a socket or a device without a reader; the file tools open regular files only",
            path.display()
        ),
        _ => format!("cannot open {}: {e}", path.display()),
    }
}

/// Opens the judged regular file for reading: no symlink followed, same `(dev, ino)` as judged,
/// a regular file (never a FIFO, device or socket). Returns the file and its size.
pub fn open_regular(obj: &Object) -> Result<(File, u64), String> {
    let Some(judged) = obj.id else {
        return Err(format!("{} does not exist", obj.path.display()));
    };
    if !judged.is_file() {
        return Err(not_regular(&obj.path, judged.kind));
    }
    // O_NONBLOCK: a FIFO swapped in does not hang the open; it is refused just below.
    let fd = open_nofollow(
        &obj.path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
    )
    .map_err(|e| open_error(&obj.path, &e))?;
    let (now, size) = fstat(&fd).map_err(|e| format!("cannot stat {}: {e}", obj.path.display()))?;
    if !now.same(&judged) {
        return Err(changed(&obj.path));
    }
    if !now.is_file() {
        return Err(not_regular(&obj.path, now.kind));
    }
    Ok((File::from(fd), size))
}

fn not_regular(path: &Path, kind: u32) -> String {
    format!(
        "{} is {}; the file tools read and write regular files only",
        path.display(),
        kind_name(kind)
    )
}

/// Opens the judged folder: no symlink followed, same `(dev, ino)` as judged.
pub fn open_dir(obj: &Object) -> Result<OwnedFd, String> {
    let Some(judged) = obj.id else {
        return Err(format!("{} does not exist", obj.path.display()));
    };
    let fd = open_nofollow(&obj.path, libc::O_RDONLY | libc::O_DIRECTORY)
        .map_err(|e| open_error(&obj.path, &e))?;
    let (now, _) = fstat(&fd).map_err(|e| format!("cannot stat {}: {e}", obj.path.display()))?;
    if !now.same(&judged) {
        return Err(changed(&obj.path));
    }
    Ok(fd)
}

/// Opens (creating missing ones, as real folders) the judged file's parent folder. When it
/// existed at the decision it must still be the same folder.
fn parent_dir(obj: &Object) -> Result<OwnedFd, String> {
    let parent = obj
        .path
        .parent()
        .ok_or_else(|| format!("{} has no parent folder", obj.path.display()))?;
    let dir = match open_nofollow(parent, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => make_parents(parent)?,
        Err(e) => return Err(open_error(parent, &e)),
    };
    let (now, _) = fstat(&dir).map_err(|e| format!("cannot stat {}: {e}", parent.display()))?;
    if let Some(judged) = obj.parent
        && !now.same(&judged)
    {
        return Err(changed(parent));
    }
    Ok(dir)
}

/// Walks down to `parent` one `O_NOFOLLOW` open at a time, creating missing folders as real
/// folders (`mkdirat` in the descriptor of the one above).
fn make_parents(parent: &Path) -> Result<OwnedFd, String> {
    let parts = components(parent).map_err(|e| e.to_string())?;
    let mut dir = root().map_err(|e| e.to_string())?;
    for part in &parts {
        dir = match openat(&dir, part, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // SAFETY: valid descriptor and NUL-terminated name.
                let made = unsafe { libc::mkdirat(dir.as_raw_fd(), part.as_ptr(), 0o777) };
                if made != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(format!("cannot create {}: {e}", parent.display()));
                    }
                }
                openat(&dir, part, libc::O_PATH | libc::O_DIRECTORY)
                    .map_err(|e| open_error(parent, &e))?
            }
            Err(e) => return Err(open_error(parent, &e)),
        };
    }
    Ok(dir)
}

/// What the name holds now, inside the checked folder (not followed).
fn entry_id(dir: &OwnedFd, name: &std::ffi::CStr) -> io::Result<Option<FileId>> {
    // SAFETY: stat is plain data; valid descriptor and NUL-terminated name.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        return Ok(Some(stat_id(&st)));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) {
        Ok(None)
    } else {
        Err(e)
    }
}

/// Replaces the judged file's content: a temporary file in the checked parent folder, then a
/// rename over the name in that folder. The name must still hold what was judged: the same
/// file, or nothing when nothing was there. An existing file keeps its permission bits.
pub fn replace(obj: &Object, content: &[u8]) -> Result<(), String> {
    static TEMP: AtomicU64 = AtomicU64::new(0);
    let name = obj
        .path
        .file_name()
        .ok_or_else(|| format!("{} names no file", obj.path.display()))?;
    let cname = CString::new(name.as_bytes()).map_err(|e| e.to_string())?;
    let dir = parent_dir(obj)?;
    let now =
        entry_id(&dir, &cname).map_err(|e| format!("cannot stat {}: {e}", obj.path.display()))?;
    let mode = match (obj.id, now) {
        (Some(j), Some(n)) if j.same(&n) && n.is_file() => Some(file_mode(&dir, &cname)?),
        (Some(j), Some(n)) if j.same(&n) => return Err(not_regular(&obj.path, n.kind)),
        (None, None) => None,
        _ => return Err(changed(&obj.path)),
    };
    let temp = CString::new(format!(
        ".{}.patchwork-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP.fetch_add(1, Ordering::Relaxed)
    ))
    .map_err(|e| e.to_string())?;
    let fd = openat(&dir, &temp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL).map_err(|e| {
        format!(
            "cannot create a temporary file beside {}: {e}",
            obj.path.display()
        )
    })?;
    let written = write_all(File::from(fd), content, mode);
    // SAFETY: valid descriptor and NUL-terminated names, all in the checked folder.
    let renamed = written.and_then(|()| {
        if unsafe {
            libc::renameat(
                dir.as_raw_fd(),
                temp.as_ptr(),
                dir.as_raw_fd(),
                cname.as_ptr(),
            )
        } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    });
    if let Err(e) = renamed {
        // SAFETY: as above.
        unsafe { libc::unlinkat(dir.as_raw_fd(), temp.as_ptr(), 0) };
        return Err(format!("cannot write {}: {e}", obj.path.display()));
    }
    Ok(())
}

fn file_mode(dir: &OwnedFd, name: &std::ffi::CStr) -> Result<u32, String> {
    // SAFETY: as in entry_id.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    Ok(st.st_mode & 0o7777)
}

fn write_all(mut file: File, content: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    if let Some(mode) = mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    file.write_all(content)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/f.txt"), "hi").unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        (d, root)
    }

    #[test]
    fn both_openers_refuse_a_symlink_in_any_component() {
        let (_d, root) = fixture();
        let through = components(&root.join("link/f.txt")).unwrap();
        let direct = components(&root.join("real/f.txt")).unwrap();
        let r = walk(root_fd(), &through, libc::O_RDONLY).unwrap_err();
        assert_eq!(r.raw_os_error(), Some(libc::ENOTDIR), "{r}");
        walk(root_fd(), &direct, libc::O_RDONLY).unwrap();
        match openat2_beneath(&root_fd(), &through, libc::O_RDONLY) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}"),
            Ok(_) => panic!("openat2 followed a symlink"),
        }
    }

    fn root_fd() -> OwnedFd {
        root().unwrap()
    }

    #[test]
    fn replace_refuses_when_the_name_changed() {
        let (_d, root) = fixture();
        let obj = Object::at(root.join("real/f.txt"));
        std::fs::write(root.join("real/g.txt"), "other").unwrap();
        std::fs::rename(root.join("real/g.txt"), root.join("real/f.txt")).unwrap();
        assert!(replace(&obj, b"x").unwrap_err().contains("changed"));
        let fresh = Object::at(root.join("real/f.txt"));
        replace(&fresh, b"new").unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("real/f.txt")).unwrap(),
            "new"
        );
    }
}
