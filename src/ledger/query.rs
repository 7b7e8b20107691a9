//! Reading records back: a streaming iterator over the log and a cheap status of its tip.

use super::append::{line_start, read_state};
use super::record::{GENESIS, Record, into_record};
use super::seal::{Seal, read_seals};
use super::{LOG_FILE, SEALS_FILE};
use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Streams the records of a ledger in order. Lines are parsed but not verified (that is
/// [`super::Ledger::verify`]'s job); an incomplete last line is skipped.
pub struct Records {
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
    index: u64,
}

impl Records {
    pub(super) fn open(dir: &Path) -> Result<Records> {
        let reader = match File::open(dir.join(LOG_FILE)) {
            Ok(f) => Some(BufReader::with_capacity(1 << 20, f)),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e).context("cannot open the ledger"),
        };
        Ok(Records {
            reader,
            line: Vec::new(),
            index: 0,
        })
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        let r = self.reader.as_mut()?;
        self.line.clear();
        match r.read_until(b'\n', &mut self.line) {
            Ok(0) => None,
            Ok(_) if self.line.pop() != Some(b'\n') => None,
            Ok(_) => {
                self.index += 1;
                let n = self.index;
                Some(
                    serde_json::from_slice::<Map<String, Value>>(&self.line)
                        .map_err(|e| anyhow!("ledger line {n}: {e}"))
                        .and_then(|m| into_record(m).map_err(|e| anyhow!("ledger line {n}: {e}"))),
                )
            }
            Err(e) => {
                self.reader = None;
                Some(Err(e).context("cannot read the ledger"))
            }
        }
    }
}

/// A cheap summary of the ledger for `status`: no full read, no lock.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Number of records.
    pub records: u64,
    /// Hash of the last record (the genesis value when empty).
    pub tip: String,
    /// Size of the log in bytes.
    pub bytes: u64,
    /// The newest seal, if any (its MAC is not checked here).
    pub last_seal: Option<Seal>,
    /// Records written after the newest seal.
    pub unsealed: u64,
}

/// Reads the tip from the state file, or from the log's last complete line when the state file
/// is missing or does not match the log's length.
pub fn status(dir: &Path) -> Result<Status> {
    let (bytes, log) = match File::open(dir.join(LOG_FILE)) {
        Ok(f) => (f.metadata()?.len(), Some(f)),
        Err(e) if e.kind() == ErrorKind::NotFound => (0, None),
        Err(e) => return Err(e).context("cannot open the ledger"),
    };
    let (records, tip) = match (read_state(dir), log) {
        (Ok(Some(st)), _) if st.len == bytes => (st.count, st.hash),
        (_, Some(f)) if bytes > 0 => last_record(&f, bytes)?,
        _ => (0, GENESIS.to_string()),
    };
    let last_seal = read_seals(&dir.join(SEALS_FILE))?
        .into_iter()
        .rev()
        .find_map(Result::ok);
    let unsealed = records.saturating_sub(last_seal.as_ref().map_or(0, |s| s.count));
    Ok(Status {
        records,
        tip,
        bytes,
        last_seal,
        unsealed,
    })
}

fn last_record(f: &File, len: u64) -> Result<(u64, String)> {
    let mut last = [0u8];
    f.read_exact_at(&mut last, len - 1)?;
    let end = if last[0] == b'\n' {
        len
    } else {
        line_start(f, len)?
    };
    if end == 0 {
        return Ok((0, GENESIS.to_string()));
    }
    let start = line_start(f, end - 1)?;
    let mut line = vec![0; (end - 1 - start) as usize];
    f.read_exact_at(&mut line, start)?;
    let m: Map<String, Value> =
        serde_json::from_slice(&line).context("the last ledger record is damaged")?;
    let r = into_record(m).map_err(|e| anyhow!("the last ledger record is damaged: {e}"))?;
    Ok((r.seq + 1, r.hash))
}
