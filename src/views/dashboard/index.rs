//! The dashboard's view of the ledger: the views' session index ([`SessionIndex`], saved in
//! `state/views/` and shared with `log` and `replay`) plus the running totals the overview
//! shows, both kept current by reading only the records appended since the last look. A warm
//! start loads the saved index instead of reading the log; pages count and filter over the
//! compact entries and read the few full records they show back by offset.

use crate::ledger::record::into_record;
use crate::ledger::{LOG_FILE, Record};
use crate::views::Source;
use crate::views::index::SessionIndex;
pub use crate::views::index::{Indexed as Entry, NO_RISK, NO_VERDICT, RISKS, VERDICTS};
use anyhow::{Context, Result, anyhow};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

/// Width of one bucket of the activity chart, in microseconds (one hour).
pub const BUCKET_MICROS: i64 = 3_600_000_000;

/// What the overview and the sessions page know about one session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Position of its first record in [`Index::entries`].
    pub first: u32,
    pub first_ts: i64,
    pub last_ts: i64,
    pub records: u64,
    pub refusals: u64,
    /// Highest risk slot seen (in [`RISKS`] order; [`NO_RISK`] when none).
    pub worst: u8,
}

/// Calls and refusals in one activity bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    pub calls: u64,
    pub refusals: u64,
}

/// The index of one ledger and its totals.
#[derive(Debug, Default)]
pub struct Index {
    records: SessionIndex,
    /// Records folded into the totals so far.
    counted: usize,
    /// Per session number of the session index.
    pub sessions: Vec<SessionInfo>,
    pub by_verdict: [u64; 5],
    pub by_risk: [u64; 6],
    /// Decision records (those with a verdict): the calls.
    pub calls: u64,
    pub activity: BTreeMap<i64, Bucket>,
    /// Positions in [`Index::entries`] of refused calls, oldest first.
    pub refusals: Vec<u32>,
    /// Bumped when the log shrank or was replaced and the index was rebuilt.
    pub generation: u64,
}

impl Index {
    /// Loads (or builds) the saved index of `source`'s ledger and counts it.
    pub fn load(source: &Source) -> Result<Index> {
        let mut idx = Index {
            records: source.index()?,
            ..Index::default()
        };
        idx.count_new();
        Ok(idx)
    }

    /// Reads the records appended since the last call and returns how many were added. A log
    /// that shrank (a repaired tail) or was replaced is indexed again from the start.
    pub fn catch_up(&mut self) -> Result<usize> {
        match self.records.refresh()? {
            Some(_) => {}
            None => {
                let records = std::mem::take(&mut self.records);
                *self = Index {
                    records,
                    generation: self.generation + 1,
                    ..Index::default()
                };
            }
        }
        Ok(self.count_new())
    }

    /// Saves what is new to the index folder (best effort: the index is a cache).
    pub fn save(&mut self) -> Result<()> {
        self.records.save()
    }

    fn count_new(&mut self) -> usize {
        let from = self.counted;
        let all = self.records.records();
        self.sessions
            .resize_with(self.records.sessions().len(), || SessionInfo {
                first: u32::MAX,
                first_ts: i64::MAX,
                last_ts: i64::MIN,
                records: 0,
                refusals: 0,
                worst: NO_RISK,
            });
        for (pos, e) in all.iter().enumerate().skip(from) {
            self.by_verdict[e.verdict as usize] += 1;
            self.by_risk[e.risk as usize] += 1;
            if e.verdict != NO_VERDICT {
                self.calls += 1;
                let b = self
                    .activity
                    .entry(e.ts.div_euclid(BUCKET_MICROS))
                    .or_default();
                b.calls += 1;
                if e.refused() {
                    b.refusals += 1;
                    self.refusals.push(pos as u32);
                }
            }
            if let Some(s) = self.sessions.get_mut(e.session as usize) {
                if s.first == u32::MAX {
                    s.first = pos as u32;
                }
                s.records += 1;
                s.first_ts = s.first_ts.min(e.ts);
                s.last_ts = s.last_ts.max(e.ts);
                if e.refused() {
                    s.refusals += 1;
                }
                if e.risk != NO_RISK && (s.worst == NO_RISK || e.risk > s.worst) {
                    s.worst = e.risk;
                }
            }
        }
        self.counted = all.len();
        all.len() - from
    }

    /// Every record's entry, in log order.
    pub fn entries(&self) -> &[Entry] {
        self.records.records()
    }

    /// Every action name, in order of first appearance.
    pub fn actions(&self) -> &[String] {
        self.records.actions()
    }

    /// The id of session number `n`.
    pub fn session_id(&self, n: usize) -> &str {
        &self.records.sessions()[n]
    }

    /// Every session id, by number.
    pub fn session_ids(&self) -> &[String] {
        self.records.sessions()
    }

    /// The session number of `id`, if the ledger has it.
    pub fn session(&self, id: &str) -> Option<u32> {
        self.records.session_number(id)
    }

    /// The action number of `name`, if the ledger has it.
    pub fn action(&self, name: &str) -> Option<u16> {
        self.records.action_number(name)
    }

    /// The entry of record `seq` (binary search: seqs only grow).
    pub fn by_seq(&self, seq: u64) -> Option<&Entry> {
        let entries = self.entries();
        let i = entries.partition_point(|e| e.seq < seq);
        entries.get(i).filter(|e| e.seq == seq)
    }

    /// Lines of the log that are not records.
    pub fn unreadable(&self) -> u64 {
        self.records.unreadable()
    }

    /// Bytes of the log indexed.
    pub fn indexed_bytes(&self) -> u64 {
        self.records.covered_bytes()
    }
}

/// Reads the stored line of `e` (without its newline) back from the log.
pub fn read_line(ledger_dir: &Path, e: &Entry) -> Result<Vec<u8>> {
    let file = File::open(ledger_dir.join(LOG_FILE)).context("cannot open the ledger")?;
    let mut line = Vec::new();
    crate::views::source::read_line_at(&file, e.offset, &mut line)?;
    Ok(line)
}

/// Reads the full record of `e` back from the log.
pub fn read_record(ledger_dir: &Path, e: &Entry) -> Result<Record> {
    let line = read_line(ledger_dir, e)?;
    let m: Map<String, Value> = serde_json::from_slice(&line)
        .with_context(|| format!("ledger record {} is not JSON", e.seq))?;
    into_record(m).map_err(|f| anyhow!("ledger record {}: {f}", e.seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use serde_json::json;
    use std::io::Write;

    fn decision(session: &str, verdict: &str, risk: &str) -> Map<String, Value> {
        json!({"event": "decision", "session": session, "action": "command_execute",
               "verdict": verdict, "risk": risk, "target": ["command_execute:ls"]})
        .as_object()
        .unwrap()
        .clone()
    }

    fn source(dir: &Path) -> Source {
        Source::new(&dir.join("ledger"), &dir.join("state").join("views"))
    }

    #[test]
    fn catches_up_incrementally_and_waits_for_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        let mut idx = Index::load(&source(dir.path())).unwrap();
        assert_eq!(idx.catch_up().unwrap(), 0, "no log yet");
        ledger.append(decision("a", "allow", "none")).unwrap();
        ledger.append(decision("a", "deny", "critical")).unwrap();
        assert_eq!(idx.catch_up().unwrap(), 2);
        ledger.append(decision("b", "ask", "high")).unwrap();
        assert_eq!(idx.catch_up().unwrap(), 1, "only the new line is read");
        assert_eq!((idx.calls, idx.by_verdict[3], idx.by_verdict[2]), (3, 1, 1));
        assert_eq!(idx.refusals.len(), 2);
        assert_eq!(idx.sessions.len(), 2);
        assert_eq!(idx.sessions[0].refusals, 1);
        assert_eq!(idx.sessions[1].first, 2);
        assert_eq!(idx.by_seq(2).map(|e| RISKS[e.risk as usize]), Some("high"));
        let r = read_record(ledger.dir(), idx.by_seq(1).unwrap()).unwrap();
        assert_eq!(r.str("verdict"), Some("deny"));

        // A writer caught mid-line: nothing is indexed until the line is complete.
        let log = ledger.dir().join(LOG_FILE);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"seq\":3,").unwrap();
        assert_eq!(idx.catch_up().unwrap(), 0);
        assert_eq!(
            idx.indexed_bytes(),
            std::fs::metadata(&log).unwrap().len() - 9
        );
    }

    #[test]
    fn a_saved_index_is_loaded_not_rebuilt_and_totals_match() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        for i in 0..20 {
            let v = ["allow", "deny", "ask", "flag"][i % 4];
            ledger
                .append(decision(&format!("s{}", i % 3), v, "medium"))
                .unwrap();
        }
        let mut first = Index::load(&source(dir.path())).unwrap();
        ledger.append(decision("s9", "deny", "high")).unwrap();
        assert_eq!(first.catch_up().unwrap(), 1);
        first.save().unwrap();
        // Proof the second load reads the saved files: the log's bytes are not read again
        // (a log that no longer parses before the saved tip would be skipped as unreadable).
        let log = ledger.dir().join(LOG_FILE);
        let text = std::fs::read_to_string(&log).unwrap();
        let last_start = text[..text.len() - 1].rfind('\n').unwrap() + 1;
        let mut garbled = text.clone().into_bytes();
        garbled[..10].copy_from_slice(b"xxxxxxxxxx");
        std::fs::write(&log, &garbled).unwrap();
        assert!(last_start > 10);
        let second = Index::load(&source(dir.path())).unwrap();
        assert_eq!(second.entries(), first.entries());
        assert_eq!(second.unreadable(), 0, "record 0 was not read again");
        assert_eq!(
            (second.calls, second.by_verdict, second.by_risk),
            (first.calls, first.by_verdict, first.by_risk)
        );
        assert_eq!(second.session("s9"), Some(3));
        assert_eq!(second.actions(), ["command_execute"]);
    }

    #[test]
    fn a_shrunk_or_replaced_log_is_indexed_again() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        for _ in 0..3 {
            ledger.append(decision("a", "deny", "high")).unwrap();
        }
        let mut idx = Index::load(&source(dir.path())).unwrap();
        let log = ledger.dir().join(LOG_FILE);
        let text = std::fs::read_to_string(&log).unwrap();
        let first = text.lines().next().unwrap();
        std::fs::write(&log, format!("{first}\n")).unwrap();
        idx.catch_up().unwrap();
        assert_eq!((idx.entries().len(), idx.generation), (1, 1));
        assert_eq!(idx.by_verdict[3], 1, "totals rebuilt, not added to");
        // Same length, other content: the last indexed line no longer holds its record.
        let mut other = first.replace("\"seq\":0", "\"seq\":9").into_bytes();
        let h = first.find("\"hash\":\"sha256:").unwrap() + 15;
        other[h] = if other[h] == b'0' { b'1' } else { b'0' };
        std::fs::write(&log, [other, b"\n".to_vec()].concat()).unwrap();
        idx.catch_up().unwrap();
        assert_eq!(idx.generation, 2);
        assert_eq!(idx.entries()[0].seq, 9);
    }

    #[test]
    fn odd_lines_are_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let ledger_dir = dir.path().join("ledger");
        std::fs::create_dir_all(&ledger_dir).unwrap();
        let lines = [
            r#"{"seq":0,"ts":1,"verdict":{"effect":"deny"},"risk":"high","session":"s"}"#,
            "not json",
            r#"{"seq":"x"}"#,
            r#"{"seq":2,"ts":3,"risk":"bogus","action":"<b>x</b>"}"#,
        ];
        std::fs::write(ledger_dir.join(LOG_FILE), lines.join("\n") + "\n").unwrap();
        let idx = Index::load(&source(dir.path())).unwrap();
        assert_eq!(idx.entries().len(), 2);
        assert_eq!(idx.unreadable(), 2);
        assert_eq!(
            idx.by_verdict[3], 1,
            "a verdict object is read by its effect"
        );
        assert_eq!(
            idx.by_risk[NO_RISK as usize], 1,
            "an unknown risk is not a risk"
        );
        assert!(idx.action("<b>x</b>").is_some());
    }
}
