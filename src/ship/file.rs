//! An append-only JSONL copy of the ledger (for instance on a mounted remote disk): the stored
//! lines, unchanged, synced after each batch. A restart resumes after the copy's last record,
//! so the copy holds no duplicates.

use super::cursor::Item;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The copy being written.
pub struct FileSink {
    file: File,
    /// Records up to this seq are already in the copy.
    have: Option<u64>,
}

impl FileSink {
    /// Opens (creating, mode 0600) the copy at `path` for appending.
    pub fn open(path: &Path) -> Result<FileSink> {
        let have = last_seq(path)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // A partial last line (crash mid-write) is ended, so the next record starts a line.
        let len = file.metadata()?.len();
        let mut last = [0u8];
        if len > 0 {
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut last, len - 1)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(FileSink { file, have })
    }

    /// Appends the items the copy does not hold yet, then syncs.
    pub fn write(&mut self, items: &[Item]) -> Result<()> {
        let mut buf = Vec::new();
        for it in items
            .iter()
            .filter(|it| self.have.is_none_or(|h| it.seq > h))
        {
            buf.extend_from_slice(it.line.as_bytes());
            buf.push(b'\n');
        }
        if !buf.is_empty() {
            self.file.write_all(&buf).context("cannot write the copy")?;
            self.file.sync_data().context("cannot sync the copy")?;
        }
        if let Some(last) = items.last() {
            self.have = Some(self.have.map_or(last.seq, |h| h.max(last.seq)));
        }
        Ok(())
    }
}

/// The seq of the copy's last complete line, if any.
fn last_seq(path: &Path) -> Result<Option<u64>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let len = f.metadata()?.len();
    let mut last = [0u8];
    if len == 0 || std::os::unix::fs::FileExt::read_exact_at(&f, &mut last, len - 1).is_err() {
        return Ok(None);
    }
    // After a crash mid-write the copy may end in a partial line: look at the complete ones.
    let end = if last[0] == b'\n' {
        len
    } else {
        crate::ledger::line_start(&f, len)?
    };
    if end == 0 {
        return Ok(None);
    }
    let start = crate::ledger::line_start(&f, end - 1)?;
    let mut line = vec![0; (end - 1 - start) as usize];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut line, start)?;
    Ok(crate::ledger::scan::scan(&line).ok().map(|s| s.seq))
}
