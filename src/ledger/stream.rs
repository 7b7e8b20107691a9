//! Reads a ledger file in large chunks and checks its lines ([`scan`]) on worker threads, handing
//! one summary per line back in file order. Verification is then a cheap sequential pass over
//! these summaries; the expensive part (canonical check and SHA-256) runs in parallel.

use super::record::LineFault;
use super::scan::{Scanned, scan};
use anyhow::{Context, Result, anyhow};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

/// Bytes read per chunk (extended as needed to end on a line boundary).
const CHUNK: usize = 4 << 20;

/// What the verifier needs to know about one line.
#[derive(Debug, Clone, Default)]
pub struct Line {
    pub seq: Option<u64>,
    /// `prev` and `hash` as raw SHA-256 digests.
    pub prev: Option<[u8; 32]>,
    pub hash: Option<[u8; 32]>,
    pub hash_ok: bool,
    /// An `event: "ledger_recovery"` record.
    pub recovery: bool,
    /// Why the line is not a valid record, if it is not.
    pub fault: Option<String>,
}

impl Line {
    /// Summarises a scanned line.
    pub fn of(c: &Result<Scanned<'_>, LineFault>) -> Line {
        match c {
            Ok(c) => Line {
                seq: Some(c.seq),
                prev: digest(c.prev),
                hash: digest(c.hash),
                hash_ok: c.hash_ok,
                recovery: c.event == Some("ledger_recovery"),
                fault: None,
            },
            Err(e) => Line {
                fault: Some(e.to_string()),
                ..Line::default()
            },
        }
    }
}

/// The digest of a `sha256:<hex>` value (already checked by the scanner).
pub fn digest(tagged: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(tagged.strip_prefix("sha256:")?, &mut out).ok()?;
    Some(out)
}

/// `sha256:<hex>` of a digest.
pub fn tagged(d: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(d))
}

/// Unread bytes up to which a file is scanned in the calling thread, in one buffer of that
/// size: the tail an automatic checkpoint reads in a hook process is small, and worker threads
/// with 4 MiB buffers would double that process's memory.
const INLINE: u64 = 1 << 20;

/// Calls `sink` with every complete line of `file`, in order, and returns the byte offset of an
/// incomplete last line, if there is one (relative to where the file was positioned).
pub fn scan_file(file: File, sink: impl FnMut(Line)) -> Result<Option<u64>> {
    scan_with(file, INLINE, sink)
}

/// [`scan_file`] with worker threads only when more than `inline` bytes are left to read.
fn scan_with(mut file: File, inline: u64, mut sink: impl FnMut(Line)) -> Result<Option<u64>> {
    use std::io::Seek;
    let len = file.metadata().context("cannot stat the ledger")?.len();
    let at = file.stream_position().context("cannot read the ledger")?;
    let unread = len.saturating_sub(at);
    if unread <= inline {
        let size = usize::try_from(unread).unwrap_or(0).max(4096);
        let (_, torn) = read_chunks(
            file,
            size,
            || None,
            |_, chunk| {
                chunk[..chunk.len() - 1]
                    .split(|&b| b == b'\n')
                    .for_each(|l| sink(Line::of(&scan(l))));
                true
            },
        )?;
        return Ok(torn);
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    std::thread::scope(|s| {
        let (job_tx, job_rx) = sync_channel::<(u64, Vec<u8>)>(workers);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = sync_channel::<(u64, Vec<Line>)>(workers * 2);
        // Chunk buffers go back to the reader for reuse (fresh 4 MiB buffers cost page faults).
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(workers * 2 + 2);
        let reader = s.spawn(move || {
            read_chunks(
                file,
                CHUNK,
                || free_rx.try_recv().ok(),
                |i, chunk| job_tx.send((i, chunk)).is_ok(),
            )
        });
        for _ in 0..workers {
            let jobs = Arc::clone(&job_rx);
            let results = res_tx.clone();
            let free = free_tx.clone();
            s.spawn(move || {
                work(&jobs, |i, lines, chunk| {
                    let _ = free.try_send(chunk);
                    results.send((i, lines)).is_ok()
                })
            });
        }
        drop(free_tx);
        drop(res_tx);
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        for (i, lines) in res_rx {
            pending.insert(i, lines);
            while let Some(lines) = pending.remove(&next) {
                lines.into_iter().for_each(&mut sink);
                next += 1;
            }
        }
        let (chunks, torn) = reader
            .join()
            .map_err(|_| anyhow!("ledger reader thread failed"))??;
        if next != chunks {
            return Err(anyhow!(
                "ledger verification lost chunks ({next} of {chunks})"
            ));
        }
        Ok(torn)
    })
}

fn work(
    jobs: &Mutex<Receiver<(u64, Vec<u8>)>>,
    mut send: impl FnMut(u64, Vec<Line>, Vec<u8>) -> bool,
) {
    loop {
        let job = jobs
            .lock()
            .map_err(|_| ())
            .and_then(|rx| rx.recv().map_err(|_| ()));
        let Ok((i, chunk)) = job else {
            return;
        };
        // Every chunk ends with `\n`: without it, splitting yields exactly the lines.
        let lines = chunk[..chunk.len() - 1]
            .split(|&b| b == b'\n')
            .map(|l| Line::of(&scan(l)))
            .collect();
        if !send(i, lines, chunk) {
            return;
        }
    }
}

/// Reads `file` in chunks of about `size` bytes that each end with `\n`; returns the number of
/// chunks and the offset of a trailing incomplete line.
fn read_chunks(
    mut file: File,
    size: usize,
    mut reuse: impl FnMut() -> Option<Vec<u8>>,
    mut send: impl FnMut(u64, Vec<u8>) -> bool,
) -> Result<(u64, Option<u64>)> {
    let mut carry: Vec<u8> = Vec::new();
    let mut offset = 0u64;
    let mut index = 0u64;
    loop {
        let mut buf = reuse().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(&carry);
        carry.clear();
        let start = buf.len();
        buf.resize(start + size, 0);
        let n = read_full(&mut file, &mut buf[start..]).context("cannot read the ledger")?;
        buf.truncate(start + n);
        if n == 0 {
            let torn = (!buf.is_empty()).then_some(offset);
            return Ok((index, torn));
        }
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                carry.extend_from_slice(&buf[last + 1..]);
                buf.truncate(last + 1);
                offset += buf.len() as u64;
                if !send(index, buf) {
                    return Ok((index, None));
                }
                index += 1;
            }
            // A line longer than any record: its bytes are skipped up to the next newline, and
            // a short line that is not a record stands in for it (reported as damage there).
            None if buf.len() > super::files::MAX_LINE => {
                let mut skipped = buf.len() as u64;
                let mut after = None;
                buf.resize(1 << 20, 0);
                loop {
                    let n = read_full(&mut file, &mut buf).context("cannot read the ledger")?;
                    if n == 0 {
                        break;
                    }
                    if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
                        skipped += i as u64 + 1;
                        after = Some(buf[i + 1..n].to_vec());
                        break;
                    }
                    skipped += n as u64;
                }
                let Some(after) = after else {
                    // The oversize line is also the incomplete last one.
                    return Ok((index, Some(offset)));
                };
                let stub =
                    format!("line of {skipped} bytes at byte {offset}, longer than any record\n");
                if !send(index, stub.into_bytes()) {
                    return Ok((index, None));
                }
                index += 1;
                offset += skipped;
                carry = after;
            }
            None => carry = buf,
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunks_end_on_line_boundaries_and_report_a_torn_tail() {
        let mut text = Vec::new();
        for i in 0..200 {
            text.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, (i * 7) % 53));
            text.push(b'\n');
        }
        let complete = text.len() as u64;
        text.extend_from_slice(b"torn");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&text).unwrap();
        for size in [1, 5, 64, 1 << 20] {
            let mut got = Vec::new();
            let (chunks, torn) = read_chunks(
                f.reopen().unwrap(),
                size,
                || None,
                |i, c| {
                    assert_eq!(i as usize, got.len());
                    assert_eq!(c.last(), Some(&b'\n'));
                    got.push(c);
                    true
                },
            )
            .unwrap();
            assert_eq!(chunks as usize, got.len());
            assert_eq!(got.concat(), text[..complete as usize]);
            assert_eq!(torn, Some(complete));
        }
        // In the calling thread (a small file) and on worker threads: the same lines.
        for inline in [INLINE, 0] {
            let lines = std::cell::Cell::new(0);
            let torn = scan_with(f.reopen().unwrap(), inline, |l| {
                assert!(l.fault.is_some());
                lines.set(lines.get() + 1);
            })
            .unwrap();
            assert_eq!(
                (lines.get(), torn),
                (200, Some(complete)),
                "inline {inline}"
            );
        }
    }
}
