//! Unix-domain sockets that only this user can reach: bound in a directory the user owns and
//! nobody else can write, created with mode 0600 (no moment with a wider mode), a leftover
//! socket replaced only when it is this user's and nothing answers on it, every peer's uid
//! checked on accept, and the file removed when the server stops (only if it is still ours).

use anyhow::{Context, Result, bail};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A listening socket and the file it is bound to; the file is removed on drop.
pub struct OwnSocket {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file we created (removal checks it is still that one).
    id: (u64, u64),
}

/// This process's effective uid.
pub fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Binds `path` for this user only. Refused, with the reason, when its directory is not this
/// user's or others can write it, or when `path` exists and is not a stale socket of this user
/// (a live server, another user's socket, a file, a link).
pub fn bind(path: &Path) -> Result<OwnSocket> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    check_dir(dir)?;
    remove_stale(path)?;
    // SAFETY: umask only changes the process's file-creation mask; restored right after.
    let old = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound.with_context(|| format!("cannot listen on unix:{}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let meta = std::fs::symlink_metadata(path)?;
    listener.set_nonblocking(true)?;
    Ok(OwnSocket {
        listener: tokio::net::UnixListener::from_std(listener)?,
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    })
}

/// The socket's directory must be this user's and writable by nobody else: otherwise another
/// user could replace the socket file between our checks and a client's connect.
fn check_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("the socket's directory {} is not there", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let me = my_uid();
    if meta.uid() != me {
        bail!(
            "the socket's directory {} belongs to uid {}, not to you (uid {me}): put the socket \
             in a directory only you can write, such as $XDG_RUNTIME_DIR",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "the socket's directory {} is writable by other users (mode {:o}): put the socket \
             in a directory only you can write, such as $XDG_RUNTIME_DIR",
            dir.display(),
            meta.mode() & 0o7777
        );
    }
    Ok(())
}

/// Removes a leftover socket of this user that nothing listens on; refuses anything else.
fn remove_stale(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot look at {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} exists and is not a socket: not replacing it",
            path.display()
        );
    }
    if meta.uid() != my_uid() {
        bail!(
            "{} is a socket of uid {}, not yours: not replacing it",
            path.display(),
            meta.uid()
        );
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        bail!("{} is in use by a running server", path.display());
    }
    std::fs::remove_file(path)
        .with_context(|| format!("cannot remove the stale socket {}", path.display()))
}

impl OwnSocket {
    /// The path the socket is bound to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next connection from a peer running as this user; others are closed at once (and
    /// logged). The socket's mode already keeps them out; this holds even if it was changed.
    pub async fn accept(&self) -> std::io::Result<Option<tokio::net::UnixStream>> {
        let (s, _) = self.listener.accept().await?;
        let me = my_uid();
        match s.peer_cred() {
            Ok(c) if c.uid() == me => Ok(Some(s)),
            Ok(c) => {
                tracing::error!("refused a socket peer of uid {} (not {me})", c.uid());
                Ok(None)
            }
            Err(e) => {
                tracing::error!("cannot read a socket peer's credentials: {e}");
                Ok(None)
            }
        }
    }
}

impl Drop for OwnSocket {
    /// Removes the socket file, unless something else has taken its place.
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.id);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        d
    }

    #[tokio::test]
    async fn binds_0600_replaces_only_stale_sockets_and_cleans_up() {
        let d = private_dir();
        let p = d.path().join("s.sock");
        let s = bind(&p).unwrap();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        // A live server is not replaced.
        let err = bind(&p).err().unwrap().to_string();
        assert!(err.contains("in use"), "{err}");
        drop(s);
        assert!(!p.exists(), "removed on drop");
        // A stale one (left by a killed server: bound, then closed without removal) is.
        drop(std::os::unix::net::UnixListener::bind(&p).unwrap());
        assert!(p.exists());
        let s = bind(&p).unwrap();
        drop(s);
        // Something else under the name is never replaced or removed.
        std::fs::write(&p, "x").unwrap();
        let err = bind(&p).err().unwrap().to_string();
        assert!(err.contains("not a socket"), "{err}");
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), &p).unwrap();
        assert!(bind(&p).is_err(), "a link is not followed");
    }

    #[tokio::test]
    async fn a_replaced_file_is_not_removed_on_drop() {
        let d = private_dir();
        let p = d.path().join("s.sock");
        let s = bind(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, "someone else's").unwrap();
        drop(s);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "someone else's");
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let d = private_dir();
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = bind(&open.join("s.sock")).err().unwrap().to_string();
        assert!(err.contains("writable by other users"), "{err}");
        assert!(bind(&d.path().join("missing/s.sock")).is_err());
    }
}
