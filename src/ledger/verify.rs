//! Full verification: every line re-canonicalised and re-hashed, every link and seq checked,
//! every seal's MAC and sealed tip checked, and the first damage classified.
//!
//! Classification of the first broken place (expected seq `e`, expected `prev` = hash of the
//! last good record):
//! - an invalid line (not JSON, not canonical, hash not matching its content) after which the
//!   chain continues as if it were absent → `inserted` at `e`; otherwise → `edited` at `e`;
//! - a second record with seq `e − 1` and the same `prev` → `inserted` at `e − 1`;
//! - seq `e` and a valid self-hash but a wrong `prev` → `edited` at `e − 1` (it was changed and
//!   re-hashed, so its successor no longer links to it);
//! - seq `s` greater than `e`: `inserted` at `e` if seq `s` appears again in the next lines (a
//!   copy), else `reordered` at `e` if seq `e` appears in them, otherwise `deleted` at `e`;
//! - seq smaller than `e` (an old record replayed) → `inserted` at `e`.
//!
//! Then: `truncated` when a seal (or the state file) counts more records than the log holds,
//! `rewritten` when a validly MACed seal (or the state file) names a different tip hash than the
//! record at that count, `bad_seal` for a seal whose MAC fails or cannot be checked, and
//! `torn_tail` for an incomplete last line.

use super::append::read_state;
use super::seal::{Seal, SealKey, read_seals};
use super::stream::{Line, scan_file, tagged};
use super::{LOCK_FILE, LOG_FILE, SEALS_FILE, STATE_FILE, SYNCED_FILE};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// How many lines past a break are read to tell reordering from deletion.
const LOOK_AHEAD: usize = 4096;

/// Kinds of damage `verify` tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// A record's content changed (or it is not a valid canonical record).
    Edited,
    /// One or more records are missing.
    Deleted,
    /// A record that does not belong to the chain was inserted.
    Inserted,
    /// Records are out of order.
    Reordered,
    /// The history up to a seal (or the state file's tip) was rewritten and re-chained.
    Rewritten,
    /// The log ends before a seal's (or the state file's) record count.
    Truncated,
    /// The last line is incomplete (a writer stopped mid-append; the next append repairs it).
    TornTail,
    /// A seal whose MAC does not verify or cannot be checked.
    BadSeal,
    /// A ledger file or the seal key has another name (hard link) or is a symbolic link:
    /// whoever holds the other name can rewrite it, seals included.
    Linked,
}

impl DamageKind {
    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DamageKind::Edited => "edited",
            DamageKind::Deleted => "deleted",
            DamageKind::Inserted => "inserted",
            DamageKind::Reordered => "reordered",
            DamageKind::Rewritten => "rewritten",
            DamageKind::Truncated => "truncated",
            DamageKind::TornTail => "torn_tail",
            DamageKind::BadSeal => "bad_seal",
            DamageKind::Linked => "linked",
        }
    }
}

/// One finding of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    pub kind: DamageKind,
    /// The first affected seq (for seals: the seal's record count).
    pub seq: u64,
    pub detail: String,
}

/// The result of [`super::Ledger::verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// True when nothing is damaged.
    pub intact: bool,
    /// Complete lines in the log.
    pub records: u64,
    /// Records whose hash, seq and link were verified (all of them when intact).
    pub verified: u64,
    /// Hash of the last verified record.
    pub tip: String,
    /// `ledger_recovery` records among the verified ones.
    pub recoveries: u64,
    /// Seals in the seals file, and how many verified (MAC and tip).
    pub seals: u64,
    pub seals_ok: u64,
    /// Records covered by the newest verified seal.
    pub sealed: u64,
    /// Records after the newest verified seal.
    pub unsealed_tail: u64,
    /// Findings, the first chain break first.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// The first finding, if any.
    pub fn first(&self) -> Option<&Damage> {
        self.damage.first()
    }
}

/// A tip some outside source vouches for: a seal or the state file.
#[derive(Debug, Clone)]
struct Expect {
    tip: String,
    who: String,
    seal: Option<usize>,
}

/// Verifies the ledger in `dir`. `key` checks seal MACs; without it, existing seals are reported
/// as unverifiable.
pub fn verify(dir: &Path, key: Option<&SealKey>) -> Result<VerifyReport> {
    let mut v = Verifier::start(dir, key)?;
    let torn_at = match open_log(dir)? {
        Some(f) => scan_file(f, |l| v.feed(l))?,
        None => None,
    };
    v.finish(torn_at)
}

/// The log, opened for reading as `verify` reads it (not through a symbolic link); `None` when
/// there is none yet.
pub fn open_log(dir: &Path) -> Result<Option<File>> {
    match super::files::open(&dir.join(LOG_FILE), std::fs::OpenOptions::new().read(true)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot open the ledger"),
    }
}

/// Verification fed by someone else's read of the log: [`Verifier::start`] reads the seals and
/// the state (before the log: both only ever name records already written), [`Verifier::feed`]
/// takes every line's summary in file order, [`Verifier::finish`] completes the report.
pub struct Verifier {
    dir: PathBuf,
    seals: Vec<Result<Seal, String>>,
    /// Findings about the seals themselves.
    seal_damage: Vec<Damage>,
    walk: Walk,
}

impl Verifier {
    /// Reads the seals (checked with `key`) and the state of the ledger in `dir`.
    pub fn start(dir: &Path, key: Option<&SealKey>) -> Result<Verifier> {
        let state = read_state(dir).ok().flatten();
        let seals = read_seals(&dir.join(SEALS_FILE))?;
        let mut damage = Vec::new();
        let mut expect: HashMap<u64, Vec<Expect>> = HashMap::new();
        let mut seal_ok = vec![false; seals.len()];
        for (i, s) in seals.iter().enumerate() {
            let s = match s {
                Ok(s) => s,
                Err(e) => {
                    damage.push(bad_seal(0, format!("seal #{i} is malformed: {e}")));
                    continue;
                }
            };
            let problem = match key {
                None => Some("no seal key to check its MAC".to_string()),
                Some(k) if k.id() != s.key_id => Some(format!(
                    "made with key {} but the key is {}",
                    s.key_id,
                    k.id()
                )),
                Some(k) if !k.check(s) => {
                    Some("MAC does not match (seal forged or altered)".to_string())
                }
                Some(_) => None,
            };
            match problem {
                Some(p) => damage.push(bad_seal(
                    s.count,
                    format!("seal #{i} ({} records): {p}", s.count),
                )),
                None => {
                    seal_ok[i] = true;
                    expect.entry(s.count).or_default().push(Expect {
                        tip: s.tip.clone(),
                        who: format!("seal #{i}"),
                        seal: Some(i),
                    });
                }
            }
        }
        if let Some(st) = &state {
            expect.entry(st.count).or_default().push(Expect {
                tip: st.hash.clone(),
                who: "the state file".into(),
                seal: None,
            });
        }
        let mut walk = Walk {
            expect,
            seal_ok,
            damage: Vec::new(),
            verified: 0,
            tip: [0; 32],
            last_prev: [0; 32],
            recoveries: 0,
            broken: false,
            lines: 0,
            mode: Mode::Normal,
        };
        walk.reached(0);
        Ok(Verifier {
            dir: dir.to_path_buf(),
            seals,
            seal_damage: damage,
            walk,
        })
    }

    /// Takes the next line's summary, in file order.
    pub fn feed(&mut self, l: Line) {
        self.walk.feed(l);
    }

    /// The report, once every complete line was fed; `torn_at` is the offset of an incomplete
    /// last line, if the read found one.
    pub fn finish(self, torn_at: Option<u64>) -> Result<VerifyReport> {
        let Verifier {
            dir,
            seals,
            seal_damage: mut damage,
            walk: mut v,
        } = self;
        let dir = dir.as_path();
        v.finish_break();
        let records = v.lines;
        if !v.broken {
            if let Some(off) = torn_at
                && still_torn(dir)?
            {
                v.damage.push(Damage {
                    kind: DamageKind::TornTail,
                    seq: records,
                    detail: format!(
                        "incomplete last line at byte {off} (a writer stopped mid-append); the next append cuts it off and records it"
                    ),
                });
            }
            // Anything still expected lies beyond the end of the log.
            let mut beyond: Vec<(u64, Expect)> = v
                .expect
                .drain()
                .flat_map(|(n, es)| es.into_iter().map(move |e| (n, e)))
                .collect();
            beyond.sort_by_key(|(n, _)| *n);
            for (n, e) in beyond {
                if let Some(i) = e.seal {
                    v.seal_ok[i] = false;
                }
                v.damage.push(Damage {
                    kind: DamageKind::Truncated,
                    seq: records,
                    detail: format!(
                        "{} counts {n} records but the ledger ends after {records}",
                        e.who
                    ),
                });
            }
        }
        let seals_total = seals.len() as u64;
        let sealed = seals
            .iter()
            .zip(&v.seal_ok)
            .filter(|(_, ok)| **ok)
            .filter_map(|(s, _)| s.as_ref().ok().map(|s| s.count))
            .max()
            .unwrap_or(0);
        let seals_ok = v.seal_ok.iter().filter(|ok| **ok).count() as u64;
        let mut all = v.damage;
        all.extend(linked_files(dir));
        // A chain break stays first: it is the earliest place the log itself is wrong.
        let first = if v.broken { 1 } else { 0 };
        all.append(&mut damage);
        all[first..].sort_by_key(|d| d.seq);
        Ok(VerifyReport {
            intact: all.is_empty(),
            records,
            verified: v.verified,
            tip: tagged(&v.tip),
            recoveries: v.recoveries,
            seals: seals_total,
            seals_ok,
            sealed,
            unsealed_tail: records.saturating_sub(sealed),
            damage: all,
        })
    }
}

fn bad_seal(seq: u64, detail: String) -> Damage {
    Damage {
        kind: DamageKind::BadSeal,
        seq,
        detail,
    }
}

/// The ledger's files and the seal key that have another name or are symbolic links.
fn linked_files(dir: &Path) -> Vec<Damage> {
    use std::os::unix::fs::MetadataExt;
    let key = dir.parent().unwrap_or(dir).join("keys").join("seal.key");
    let files = [LOG_FILE, STATE_FILE, SEALS_FILE, SYNCED_FILE]
        .iter()
        .map(|n| dir.join(n))
        .chain([key]);
    files
        .filter_map(|path| {
            let m = std::fs::symlink_metadata(&path).ok()?;
            let detail = if m.file_type().is_symlink() {
                format!("{} is a symbolic link", path.display())
            } else if m.nlink() > 1 {
                format!(
                    "{} has {} hard links: another name can rewrite it (find them with `find / -xdev -samefile {}`)",
                    path.display(),
                    m.nlink(),
                    path.display()
                )
            } else {
                return None;
            };
            Some(Damage {
                kind: DamageKind::Linked,
                seq: 0,
                detail,
            })
        })
        .collect()
}

/// Re-checks a torn tail under the writers' lock, so an append in flight is not reported.
fn still_torn(dir: &Path) -> Result<bool> {
    let lock = File::open(dir.join(LOCK_FILE));
    let _guard = match &lock {
        Ok(l) => l.lock_shared().ok(),
        Err(_) => None,
    };
    let f = File::open(dir.join(LOG_FILE))?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut b = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, len - 1)?;
    Ok(b[0] != b'\n')
}

/// State of the sequential walk over the log.
struct Walk {
    expect: HashMap<u64, Vec<Expect>>,
    seal_ok: Vec<bool>,
    damage: Vec<Damage>,
    verified: u64,
    /// Hash of the last verified record, and that record's `prev` (zeros = genesis).
    tip: [u8; 32],
    last_prev: [u8; 32],
    recoveries: u64,
    /// The chain broke (the first break is `damage[0]`); later seals are not checked.
    broken: bool,
    /// Complete lines seen.
    lines: u64,
    mode: Mode,
}

/// Where the walk is: checking the chain, gathering lines after a break, or only counting.
enum Mode {
    Normal,
    Ahead { e: u64, cur: Line, ahead: Vec<Line> },
    Counting,
}

impl Walk {
    /// Checks the seals and state that name `count` records against the current tip.
    fn reached(&mut self, count: u64) {
        let Some(es) = self.expect.remove(&count) else {
            return;
        };
        for e in es {
            let tip = tagged(&self.tip);
            if e.tip != tip {
                if let Some(i) = e.seal {
                    self.seal_ok[i] = false;
                }
                self.damage.push(Damage {
                    kind: DamageKind::Rewritten,
                    seq: count.saturating_sub(1),
                    detail: format!(
                        "{} names tip {} for {count} records, but record {} has hash {}: history up to here was rewritten",
                        e.who,
                        e.tip,
                        count.saturating_sub(1),
                        tip
                    ),
                });
            }
        }
    }

    /// Takes the next line's summary, in file order.
    fn feed(&mut self, l: Line) {
        self.lines += 1;
        if matches!(self.mode, Mode::Normal) {
            let e = self.verified;
            let chained =
                l.fault.is_none() && l.hash_ok && l.seq == Some(e) && l.prev == Some(self.tip);
            if chained {
                if l.recovery {
                    self.recoveries += 1;
                }
                self.last_prev = std::mem::replace(&mut self.tip, l.hash.unwrap_or_default());
                self.verified += 1;
                self.reached(self.verified);
            } else {
                // First break: gather the next lines to classify it, then only count.
                self.mode = Mode::Ahead {
                    e,
                    cur: l,
                    ahead: Vec::new(),
                };
            }
        } else if let Mode::Ahead { ahead, .. } = &mut self.mode {
            ahead.push(l);
            if ahead.len() >= LOOK_AHEAD {
                self.finish_break();
            }
        }
    }

    /// Classifies a pending break with the lines gathered after it.
    fn finish_break(&mut self) {
        if let Mode::Ahead { e, cur, ahead } = std::mem::replace(&mut self.mode, Mode::Counting) {
            let d = self.classify(e, &cur, &ahead);
            self.damage.insert(0, d);
            self.broken = true;
        }
    }

    fn classify(&self, e: u64, cur: &Line, ahead: &[Line]) -> Damage {
        let d = |kind, seq, detail: String| Damage { kind, seq, detail };
        // Without the current line the chain would continue (for two lines, or to the end).
        let skippable = ahead.first().is_some_and(|next| {
            next.hash_ok
                && next.seq == Some(e)
                && next.prev == Some(self.tip)
                && match ahead.get(1) {
                    Some(n2) => n2.seq == Some(e + 1) && n2.prev == next.hash,
                    None => !(cur.seq == Some(e + 1) && cur.prev == next.hash),
                }
        });
        if skippable && (cur.fault.is_some() || !cur.hash_ok) {
            return d(
                DamageKind::Inserted,
                e,
                format!("a line that does not belong to the chain was inserted before seq {e}"),
            );
        }
        if let Some(f) = &cur.fault {
            return d(
                DamageKind::Edited,
                e,
                format!("record {e} is not a valid ledger record: {f}"),
            );
        }
        let s = cur.seq.unwrap_or_default();
        if !cur.hash_ok {
            return d(
                DamageKind::Edited,
                e,
                format!("the line at seq {e} does not match its own hash (content changed)"),
            );
        }
        if e > 0 && s == e - 1 && cur.prev == Some(self.last_prev) {
            return d(
                DamageKind::Inserted,
                e - 1,
                format!(
                    "two records claim seq {} with the same predecessor: one was inserted",
                    e - 1
                ),
            );
        }
        if s == e {
            return if e == 0 {
                d(
                    DamageKind::Edited,
                    0,
                    "record 0 does not start from the genesis hash".into(),
                )
            } else {
                d(
                    DamageKind::Edited,
                    e - 1,
                    format!(
                        "record {e} does not link to record {}: record {} was changed and re-hashed",
                        e - 1,
                        e - 1
                    ),
                )
            };
        }
        if s > e {
            return if ahead.iter().any(|p| p.seq == Some(s)) {
                d(
                    DamageKind::Inserted,
                    e,
                    format!("a copy of record {s} was inserted before seq {e}"),
                )
            } else if ahead.iter().any(|p| p.seq == Some(e)) {
                d(
                    DamageKind::Reordered,
                    e,
                    format!("record {s} appears where record {e} belongs"),
                )
            } else {
                d(
                    DamageKind::Deleted,
                    e,
                    format!(
                        "records {e}..{} are missing (the next record is {s})",
                        s - 1
                    ),
                )
            };
        }
        d(
            DamageKind::Inserted,
            e,
            format!("a copy of record {s} was inserted where record {e} belongs"),
        )
    }
}
