//! Raw access to the stored lines, for readers that parse only the members they need
//! (the compliance evaluator reads a million records in well under a second this way).

use super::LOG_FILE;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::Path;

/// Calls `f` with every complete line of the ledger in `dir` (without its newline), in order,
/// until `f` returns `false`. An incomplete last line is skipped; a missing ledger has no lines.
pub fn for_each_line(dir: &Path, mut f: impl FnMut(&[u8]) -> Result<bool>) -> Result<()> {
    let file = match File::open(dir.join(LOG_FILE)) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context("cannot open the ledger"),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .context("cannot read the ledger")?;
        if n == 0 || line.pop() != Some(b'\n') {
            return Ok(());
        }
        if !f(&line)? {
            return Ok(());
        }
    }
}
