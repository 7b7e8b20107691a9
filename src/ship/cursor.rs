//! Where a shipper stands in the ledger (resumable, at-least-once), and reading the records
//! after it in order, checking that they continue the chain the shipper already sent.

use crate::ledger::GENESIS;
use crate::ledger::scan::scan;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The next record to ship: its seq, its byte offset, and the hash of the last record shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub next_seq: u64,
    pub offset: u64,
    pub last_hash: String,
}

impl Default for Cursor {
    fn default() -> Cursor {
        Cursor {
            next_seq: 0,
            offset: 0,
            last_hash: GENESIS.to_string(),
        }
    }
}

impl Cursor {
    /// Reads the cursor at `path` (the start of the ledger when there is none).
    pub fn load(path: &Path) -> Result<Cursor> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("cursor {} unreadable", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Saves the cursor durably (temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().context("cursor path has no folder")?;
        crate::home::create_private_dir(dir)?;
        let tmp = dir.join(format!(".cursor.{}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec(self)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The cursor file of a destination under the home's `ship/` folder.
pub fn cursor_path(home_root: &Path, kind: &str, destination: &str) -> PathBuf {
    let h = crate::ledger::record::sha256_tag(destination.as_bytes());
    home_root
        .join("ship")
        .join(format!("{kind}-{}.cursor", &h[7..23]))
}

/// One record read for shipping.
#[derive(Debug, Clone)]
pub struct Item {
    pub seq: u64,
    pub hash: String,
    /// The stored line, without its newline.
    pub line: String,
}

/// Reads up to `max` complete records after `cursor` from the log in `ledger_dir`; returns them
/// and the cursor after them. Fails when the log no longer continues what was shipped.
pub fn read_after(ledger_dir: &Path, cursor: &Cursor, max: usize) -> Result<(Vec<Item>, Cursor)> {
    let path = ledger_dir.join(crate::ledger::LOG_FILE);
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), cursor.clone()));
        }
        Err(e) => return Err(e).context("cannot open the ledger"),
    };
    let len = f.metadata()?.len();
    if len < cursor.offset {
        bail!(
            "the ledger is shorter ({len} bytes) than what was already shipped ({} bytes, {} records): \
             it was truncated or rewritten — run `patchwork-gateway verify`",
            cursor.offset,
            cursor.next_seq
        );
    }
    f.seek(SeekFrom::Start(cursor.offset))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut out = Vec::new();
    let mut next = cursor.clone();
    let mut buf = Vec::new();
    while out.len() < max {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        buf.pop();
        let continues = scan(&buf)
            .ok()
            .filter(|s| s.hash_ok && s.seq == next.next_seq && s.prev == next.last_hash);
        let Some(s) = continues else {
            bail!(
                "the ledger at byte {} does not continue the chain already shipped (expected seq {} after {}): \
                 it was modified — run `patchwork-gateway verify`",
                next.offset,
                next.next_seq,
                next.last_hash
            );
        };
        let item = Item {
            seq: s.seq,
            hash: s.hash.to_string(),
            line: String::from_utf8(buf.clone()).context("record is not UTF-8")?,
        };
        next = Cursor {
            next_seq: s.seq + 1,
            offset: next.offset + n as u64,
            last_hash: item.hash.clone(),
        };
        out.push(item);
    }
    Ok((out, next))
}
