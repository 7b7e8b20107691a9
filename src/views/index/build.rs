//! Reading the log into index entries, fast enough for a first look at a million records: the
//! span to index is cut at line boundaries into one stretch per core; each stretch is read in
//! large chunks with `pread`, and each line's few top-level members are read in place
//! ([`crate::views::members`], no JSON tree). The stretches are merged in log order, so the
//! result is the same as reading the span line by line on one thread.

use super::{Indexed, NO_RISK, NO_SESSION, NO_VERDICT, RISKS, VERDICTS};
use crate::ledger::files::MAX_LINE;
use crate::views::members;
use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;

/// Spans shorter than this are read on one thread (an update after a few appends).
pub const PARALLEL_FROM: u64 = 8 << 20;

/// Bytes read per step: room for the longest record and a large read after it.
const BUFFER: usize = MAX_LINE + (1 << 20);

/// The highest action number; later new names share it (a flood of invented names).
const MAX_ACTION: usize = u16::MAX as usize;

/// Names (session ids, actions) numbered in order of first appearance.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub list: Vec<String>,
    pub ids: HashMap<String, u32>,
    /// The number last returned: records of one session (and action) come in runs.
    last: u32,
}

impl Names {
    /// The number of `name`, numbering it when new; past `max`, new names share `max`.
    pub fn number(&mut self, name: &str, max: usize) -> u32 {
        if self.list.get(self.last as usize).is_some_and(|s| s == name) {
            return self.last;
        }
        let n = match self.ids.get(name) {
            Some(&n) => n,
            None if self.list.len() <= max => {
                let n = self.list.len() as u32;
                self.list.push(name.to_string());
                self.ids.insert(name.to_string(), n);
                n
            }
            None => return max as u32,
        };
        self.last = n;
        n
    }

    /// Names read back from the saved index; `None` when one is listed twice.
    pub fn from_list(list: Vec<String>) -> Option<Names> {
        let ids: HashMap<String, u32> = (0..).zip(&list).map(|(i, s)| (s.clone(), i)).collect();
        (ids.len() == list.len()).then_some(Names { list, ids, last: 0 })
    }
}

/// What one stretch of the log holds, its names numbered on their own.
#[derive(Debug)]
pub struct Part {
    pub entries: Vec<Indexed>,
    pub sessions: Names,
    pub actions: Names,
    /// Lines that are not records.
    pub unreadable: u64,
    /// Offset of the stretch, and just after the last complete line read.
    pub start: u64,
    pub end: u64,
    /// Offset and length of the last record's line.
    pub last: Option<(u64, usize)>,
}

/// Indexes the complete lines of `file` in `[from, to)` on up to `workers` threads.
pub fn read_span(file: &File, from: u64, to: u64, workers: usize) -> Result<Vec<Part>> {
    if workers < 2 {
        return Ok(vec![Part::read(file, from, to)?]);
    }
    let cuts = split_at_lines(file, from, to, workers)?;
    if cuts.len() == 1 {
        return Ok(vec![Part::read(file, from, to)?]);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = cuts
            .iter()
            .map(|&(a, b)| s.spawn(move || Part::read(file, a, b)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("an index thread failed")))
            })
            .collect()
    })
}

/// Cuts `[from, to)` into `n` stretches at the first line start after each even share.
pub fn split_at_lines(file: &File, from: u64, to: u64, n: usize) -> Result<Vec<(u64, u64)>> {
    let mut cuts = vec![from];
    let mut probe = vec![0u8; 64 << 10];
    for k in 1..n as u64 {
        let mut at = (from + (to - from) * k / n as u64).max(*cuts.last().expect("a cut"));
        // The stretch starts just after the first newline before `at` is passed.
        at = at.saturating_sub(1).max(from);
        loop {
            let got = read_at(file, &mut probe, at)?;
            if got == 0 {
                at = to;
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &probe[..got]) {
                at += i as u64 + 1;
                break;
            }
            at += got as u64;
        }
        cuts.push(at.min(to));
    }
    cuts.push(to);
    Ok(cuts
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| (w[0], w[1]))
        .collect())
}

impl Part {
    fn new(from: u64, to: u64) -> Part {
        Part {
            // Records are several hundred bytes: a first guess that rarely grows.
            entries: Vec::with_capacity(((to - from) / 400) as usize),
            sessions: Names::default(),
            actions: Names::default(),
            unreadable: 0,
            start: from,
            end: from,
            last: None,
        }
    }

    /// Indexes the complete lines in `[from, to)` (`from` is a line start). A line longer than
    /// any record ([`MAX_LINE`]) is passed over as not a record, without holding it whole.
    pub fn read(file: &File, from: u64, to: u64) -> Result<Part> {
        let mut part = Part::new(from, to);
        let mut buf = vec![0u8; BUFFER.min((to - from) as usize + 1)];
        // File offset of `buf[0]`, bytes held, and whether they continue an over-long line.
        let (mut base, mut held, mut overlong) = (from, 0usize, false);
        while base + (held as u64) < to {
            let want = (buf.len() - held).min((to - base) as usize - held);
            let got = read_at(file, &mut buf[held..held + want], base + held as u64)?;
            if got == 0 {
                break; // The log shrank while being read: what is there is indexed.
            }
            let filled = held + got;
            let (mut start, mut search) = (0, held);
            while let Some(i) = memchr::memchr(b'\n', &buf[search..filled]) {
                let nl = search + i;
                if overlong {
                    part.unreadable += 1;
                    overlong = false;
                } else {
                    part.add(base + start as u64, &buf[start..nl]);
                }
                start = nl + 1;
                search = start;
                part.end = base + start as u64;
            }
            if start == 0 && filled == buf.len() {
                // No line end in a full buffer: the line is longer than any record.
                overlong = true;
                base += filled as u64;
                held = 0;
            } else {
                buf.copy_within(start..filled, 0);
                base += start as u64;
                held = filled - start;
            }
        }
        Ok(part)
    }

    fn add(&mut self, offset: u64, line: &[u8]) {
        let k = if line.len() <= MAX_LINE {
            key(line)
        } else {
            None
        };
        let Some(k) = k else {
            self.unreadable += 1;
            return;
        };
        let session = k.session.as_deref().map_or(NO_SESSION, |s| {
            self.sessions.number(s, NO_SESSION as usize - 1)
        });
        let action = k.action.as_deref().or(k.event.as_deref()).unwrap_or("-");
        self.entries.push(Indexed {
            offset,
            seq: k.seq,
            ts: k.ts,
            session,
            action: self.actions.number(action, MAX_ACTION) as u16,
            verdict: slot(k.verdict.as_deref(), &VERDICTS, NO_VERDICT),
            risk: slot(k.risk.as_deref(), &RISKS, NO_RISK),
        });
        self.last = Some((offset, line.len()));
    }
}

/// The slot of `value` among the first `none` of `names`, else `none`.
fn slot(value: Option<&str>, names: &[&str], none: u8) -> u8 {
    value
        .and_then(|v| names[..none as usize].iter().position(|x| *x == v))
        .map_or(none, |p| p as u8)
}

/// `pread` until `buf` is full or the file ends; returns the bytes read.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("cannot read the ledger"),
        }
    }
    Ok(done)
}

/// The members the index keeps of one line.
#[derive(Debug, PartialEq)]
pub struct Key<'a> {
    pub seq: u64,
    pub ts: i64,
    pub session: Option<Cow<'a, str>>,
    pub action: Option<Cow<'a, str>>,
    pub event: Option<Cow<'a, str>>,
    pub verdict: Option<Cow<'a, str>>,
    pub risk: Option<Cow<'a, str>>,
}

/// The key of one line, `None` when it is not a record (no integer `seq` and `ts`). Usual
/// lines are read in place; unusual ones (a verdict object, escapes in a key, a repeated
/// member) by a full parse into borrowed members.
pub fn key(line: &[u8]) -> Option<Key<'_>> {
    match members::read(line) {
        Some(m) if !m.odd => Some(Key {
            seq: m.seq?,
            ts: m.ts?,
            session: m.session,
            action: m.action,
            event: m.event,
            verdict: m.verdict,
            risk: m.risk,
        }),
        _ => {
            let k: FullKey<'_> = serde_json::from_slice(line).ok()?;
            Some(Key {
                seq: k.seq,
                ts: k.ts,
                session: k.session.and_then(Text::text),
                action: k.action.and_then(Text::text),
                event: k.event.and_then(Text::text),
                verdict: k.verdict.and_then(Text::text),
                risk: k.risk.and_then(Text::text),
            })
        }
    }
}

/// The members of an unusual line, by serde (which refuses a repeated member, as the views'
/// own parse does).
#[derive(Deserialize)]
struct FullKey<'a> {
    seq: u64,
    ts: i64,
    #[serde(borrow, default)]
    session: Option<Text<'a>>,
    #[serde(borrow, default)]
    action: Option<Text<'a>>,
    #[serde(borrow, default)]
    event: Option<Text<'a>>,
    #[serde(borrow, default)]
    verdict: Option<Text<'a>>,
    #[serde(borrow, default)]
    risk: Option<Text<'a>>,
}

/// A member that should be text: a string, an object with a string `effect` (an early
/// verdict form), or anything else (read as no value).
#[derive(Deserialize)]
#[serde(untagged)]
enum Text<'a> {
    Str(#[serde(borrow)] Cow<'a, str>),
    Effect {
        #[serde(borrow)]
        effect: Cow<'a, str>,
    },
    Other(IgnoredAny),
}

impl<'a> Text<'a> {
    fn text(self) -> Option<Cow<'a, str>> {
        match self {
            Text::Str(s) | Text::Effect { effect: s } => Some(s),
            Text::Other(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn unusual_lines_are_read_fully() {
        let k = key(br#"{"seq":0,"ts":1,"verdict":{"effect":"deny"},"session":"s"}"#).unwrap();
        assert_eq!(
            (k.verdict.as_deref(), k.session.as_deref()),
            (Some("deny"), Some("s"))
        );
        let k = key(br#"{"seq":1,"ts":2,"sessio\u006e":"spelled"}"#).unwrap();
        assert_eq!(k.session.as_deref(), Some("spelled"));
        assert_eq!(
            key(br#"{"seq":1,"ts":2,"session":"a","session":"b"}"#),
            None
        );
        assert_eq!(key(br#"{"seq":+1,"ts":2}"#), None);
        assert_eq!(key(br#"{"seq":1.0,"ts":2}"#), None);
        let k = key(br#"{"seq":1,"ts":2,"risk":7,"session":null}"#).unwrap();
        assert_eq!((k.risk, k.session), (None, None));
    }

    #[test]
    fn over_long_and_torn_lines() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let rec = |seq: u64| format!("{{\"seq\":{seq},\"session\":\"s\",\"ts\":5}}\n");
        let mut text = rec(0).into_bytes();
        text.extend(std::iter::repeat_n(b'x', BUFFER + 10));
        text.push(b'\n');
        text.extend(rec(2).bytes());
        text.extend(b"{\"seq\":3,");
        f.write_all(&text).unwrap();
        let part = Part::read(f.as_file(), 0, text.len() as u64).unwrap();
        let seqs: Vec<u64> = part.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 2]);
        assert_eq!(part.unreadable, 1);
        assert_eq!(part.end, text.len() as u64 - 9, "the torn line waits");
        assert_eq!(
            part.entries[1].offset,
            (text.len() - 9 - rec(2).len()) as u64
        );
    }

    #[test]
    fn stretches_start_at_line_starts() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let text: String = (0..300)
            .map(|i| format!("{}\n", "y".repeat(i % 37)))
            .collect();
        f.write_all(text.as_bytes()).unwrap();
        let len = text.len() as u64;
        for n in [2, 3, 7, 300, 1000] {
            let cuts = split_at_lines(f.as_file(), 0, len, n).unwrap();
            assert_eq!(cuts.first().unwrap().0, 0);
            assert_eq!(cuts.last().unwrap().1, len);
            for w in cuts.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert_eq!(text.as_bytes()[w[1].0 as usize - 1], b'\n');
            }
        }
    }
}
