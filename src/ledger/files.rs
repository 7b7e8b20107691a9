//! Opening the ledger's own files (log, state, synced length, seals, seal key) safely: never
//! through a symbolic link (`O_NOFOLLOW`), and never a file that has another name too. A hard
//! link to the log or the key lets a process that may not touch the ledger's folder rewrite
//! history through the other name; a symlink in place of the state file would make the
//! gateway write wherever it points.

use anyhow::{Result, bail};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Longest line `verify` and the tail check read as a record; a longer one is damage.
/// Records are a few KiB (a 64 KiB command and its targets stay well under this).
pub const MAX_LINE: usize = 4 << 20;

/// Opens `path` with `opts`, refusing to follow a symbolic link in its last component.
pub fn open(path: &Path, opts: &mut OpenOptions) -> std::io::Result<File> {
    opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other(format!(
                    "{} is a symbolic link; the gateway does not follow links for its own files",
                    path.display()
                ))
            } else {
                e
            }
        })
}

/// Refuses a file with more (or fewer) than one name: a hard link elsewhere can rewrite it, and
/// an unlinked file is written to no one.
pub fn single_link(f: &File, path: &Path) -> Result<()> {
    let links = f.metadata()?.nlink();
    match links {
        1 => Ok(()),
        0 => bail!(
            "{} was deleted while in use (its descriptor reaches no name)",
            path.display()
        ),
        n => bail!(
            "{} has {n} hard links: another name can rewrite it; remove the other link \
             (`find / -xdev -samefile {}`) and run `patchwork-gateway verify`",
            path.display(),
            path.display()
        ),
    }
}

/// Reads a whole small file through [`open`] and [`single_link`]; `Ok(None)` when absent.
pub fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    let f = match open(path, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    single_link(&f, path)?;
    let mut out = Vec::new();
    f.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        bail!("{} is over {limit} bytes", path.display());
    }
    Ok(Some(out))
}

/// Opens (creating, mode 0600) a small file the gateway rewrites in place. A symbolic link or a
/// file with another name at `path` is removed first and replaced by a fresh file, so nothing
/// is ever written through it; returns whether that happened.
pub fn open_rewritable(path: &Path) -> Result<(File, bool)> {
    let opts = || {
        let mut o = OpenOptions::new();
        o.read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600);
        o
    };
    let replaced = match open(path, &mut opts()) {
        Ok(f) => {
            let m = f.metadata()?;
            if m.nlink() == 1 && m.is_file() {
                return Ok((f, false));
            }
            true
        }
        Err(e) if e.kind() == ErrorKind::Other => true,
        Err(e) => return Err(e.into()),
    };
    std::fs::remove_file(path)?;
    let mut o = opts();
    o.create_new(true);
    Ok((open(path, &mut o)?, replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_or_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, b"1").unwrap();
        let sym = dir.path().join("sym");
        std::os::unix::fs::symlink(&real, &sym).unwrap();
        let err = open(&sym, OpenOptions::new().read(true)).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(read_small(&sym, 10).is_err());
        let hard = dir.path().join("hard");
        std::fs::hard_link(&real, &hard).unwrap();
        let err = read_small(&hard, 10).unwrap_err().to_string();
        assert!(err.contains("2 hard links"), "{err}");
        // Rewritable files are replaced, never written through.
        let (f, replaced) = open_rewritable(&sym).unwrap();
        assert!(replaced && f.metadata().unwrap().nlink() == 1);
        let (_, replaced) = open_rewritable(&hard).unwrap();
        assert!(replaced);
        assert_eq!(std::fs::read(&real).unwrap(), b"1");
        assert_eq!(std::fs::metadata(&real).unwrap().nlink(), 1);
        let (_, replaced) = open_rewritable(&real).unwrap();
        assert!(!replaced);
    }
}
