//! Ed25519-signed checkpoints of the ledger's Merkle tree (C2SP tlog-checkpoint in a signed
//! note), inclusion proofs, and checking checkpoints against the log.
//!
//! Files: `ledger/checkpoints/<size, 20 digits>.note` (the signed note as written),
//! `<size>.witnessed` (the same note with a witness's cosignature, once a witness accepted it);
//! the signing key is `keys/checkpoint.key`. Public API for other parts of the gateway:
//! [`list`], [`latest`], [`check_all`], [`prove`], [`Proof::verify`] and [`anchoring`].

use super::LOG_FILE;
use super::merkle::{self, Hash};
use super::note::{CheckpointBody, NoteKey, NoteVerifier, SignedNote, TYPE_ED25519};
use super::scan::scan;
use super::stream::{digest, scan_file, tagged};
use super::tree::Tree;
use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The checkpoints folder inside the ledger folder.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The checkpoint signing key inside the keys folder.
pub const KEY_FILE: &str = "checkpoint.key";
/// The `event` of the record written after each checkpoint.
pub const EVENT: &str = "ledger.checkpoint";

/// The checkpoint key in `keys_dir`, created on first use with a fresh origin name
/// `patchwork-gateway/ledger-<12 hex>`.
pub fn load_or_create_key(keys_dir: &Path) -> Result<NoteKey> {
    let path = keys_dir.join(KEY_FILE);
    if path.exists() {
        return NoteKey::load(&path);
    }
    let mut r = [0u8; 6];
    use std::io::Read as _;
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut r))
        .context("cannot read /dev/urandom")?;
    NoteKey::load_or_create(
        &path,
        &format!("patchwork-gateway/ledger-{}", hex::encode(r)),
        TYPE_ED25519,
    )
}

/// The verifying key of the checkpoint key in `keys_dir`, if it exists (never creates one).
pub fn own_verifier(keys_dir: &Path) -> Result<Option<NoteVerifier>> {
    let path = keys_dir.join(KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(NoteKey::load(&path)?.verifier()))
}

/// `checkpoints/LATEST`: "<size> <unix time>" of the newest checkpoint, for the hook's cheap
/// check whether one is due.
const LATEST: &str = "LATEST";

/// When automatic checkpoints are made: every `every` records or after `minutes` minutes with
/// new records, whichever comes first (0 disables a condition). From the environment:
/// `PATCHWORK_CHECKPOINT_EVERY` (default 256) and `PATCHWORK_CHECKPOINT_MINUTES` (default 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoPolicy {
    pub every: u64,
    pub minutes: u64,
}

impl AutoPolicy {
    /// The policy from the environment.
    pub fn from_env() -> AutoPolicy {
        let num = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(d)
        };
        AutoPolicy {
            every: num("PATCHWORK_CHECKPOINT_EVERY", 256),
            minutes: num("PATCHWORK_CHECKPOINT_MINUTES", 1),
        }
    }

    /// Whether a checkpoint is due for a ledger of `records` records whose newest checkpoint
    /// covers `last_size` records and was made at `last_time` (Unix seconds), at time `now`.
    /// Without a checkpoint the minutes count from `first`, the time of the ledger's first
    /// record (a fresh ledger is not signed after its very first record).
    pub fn due(&self, records: u64, last: Option<(u64, u64)>, first: u64, now: u64) -> bool {
        let (size, time) = last.unwrap_or((0, first));
        // The newest checkpoint's own record does not call for another checkpoint.
        let new = records.saturating_sub(size + u64::from(last.is_some()));
        new > 0
            && ((self.every > 0 && new >= self.every)
                || (self.minutes > 0 && now.saturating_sub(time) >= self.minutes * 60))
    }
}

/// Makes a checkpoint of the ledger in `ledger_dir` if one is due under `policy`: two small
/// reads when none is, one signature when one is. For the doors, after they answered.
pub fn auto(
    ledger: &super::Ledger,
    keys_dir: &Path,
    policy: AutoPolicy,
) -> Result<Option<Checkpoint>> {
    let Ok(Some(tip)) = super::append::read_state(ledger.dir()) else {
        return Ok(None);
    };
    if !is_due(ledger.dir(), tip.count, policy) {
        return Ok(None);
    }
    let key = load_or_create_key(keys_dir)?;
    ledger.checkpoint(&key).map(Some)
}

/// Whether a checkpoint of the ledger in `dir`, which holds `records` records, is due under
/// `policy`: one small read of `checkpoints/LATEST` (and of the log's first line while no
/// checkpoint exists). A caller that just appended knows `records` without reading the state.
pub fn is_due(dir: &Path, records: u64, policy: AutoPolicy) -> bool {
    let last = std::fs::read_to_string(dir.join(CHECKPOINTS_DIR).join(LATEST))
        .ok()
        .and_then(|t| {
            let (a, b) = t.trim().split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let first = match last {
        Some(_) => 0,
        None => first_record_time(dir).unwrap_or(now),
    };
    policy.due(records, last, first, now)
}

/// The time (Unix seconds) of the ledger's first record: one short read of the log's head.
fn first_record_time(dir: &Path) -> Option<u64> {
    use std::io::Read;
    let mut head = [0u8; 4096];
    let n = std::fs::File::open(dir.join("ledger.jsonl"))
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let line = head[..n].split(|b| *b == b'\n').next()?;
    let record: serde_json::Value = serde_json::from_slice(line).ok()?;
    record["ts"].as_u64().map(|micros| micros / 1_000_000)
}

/// One stored checkpoint, parsed (its signature is checked by [`check_all`]).
#[derive(Debug, Clone, Serialize)]
pub struct Checkpoint {
    pub origin: String,
    /// Records covered (the tree size).
    pub size: u64,
    /// RFC 6962 root, `sha256:<hex>`.
    pub root: String,
    /// Hash of record `size − 1`.
    pub tip: String,
    /// Unix seconds when it was signed.
    pub time: u64,
    /// `sha256:<hex>` of the note file.
    pub note_sha256: String,
    /// The signed note.
    #[serde(skip)]
    pub note: String,
    /// Whether a witness cosigned it (a `.witnessed` file exists).
    pub witnessed: bool,
}

impl Checkpoint {
    fn from_note(text: &str) -> Result<Checkpoint> {
        let note = SignedNote::parse(text)?;
        let body = CheckpointBody::parse(&note.body)?;
        Ok(Checkpoint {
            origin: body.origin.clone(),
            size: body.size,
            root: tagged(&body.root),
            tip: body.extension("tip").unwrap_or_default().to_string(),
            time: body
                .extension("time")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            note_sha256: super::record::sha256_tag(text.as_bytes()),
            note: text.to_string(),
            witnessed: false,
        })
    }

    /// The root as raw bytes.
    pub fn root_hash(&self) -> Hash {
        digest(&self.root).unwrap_or_default()
    }
}

fn note_path(dir: &Path, size: u64, ext: &str) -> PathBuf {
    dir.join(CHECKPOINTS_DIR).join(format!("{size:020}.{ext}"))
}

/// The note file names in the checkpoints folder, by size (zero-padded names sort by size).
fn note_names(ledger_dir: &Path) -> Result<Vec<String>> {
    let dir = ledger_dir.join(CHECKPOINTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".note"))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads and parses one note file of the checkpoints folder.
fn read_note(ledger_dir: &Path, name: &str) -> Result<Checkpoint, String> {
    let p = ledger_dir.join(CHECKPOINTS_DIR).join(name);
    let mut c = std::fs::read_to_string(&p)
        .map_err(|e| e.to_string())
        .and_then(|t| Checkpoint::from_note(&t).map_err(|e| format!("{e:#}")))
        .map_err(|e| format!("{name}: {e}"))?;
    c.witnessed = note_path(ledger_dir, c.size, "witnessed").exists();
    Ok(c)
}

/// All checkpoints of the ledger in `ledger_dir`, by size; unreadable ones as errors naming
/// the file.
pub fn list(ledger_dir: &Path) -> Result<Vec<Result<Checkpoint, String>>> {
    Ok(note_names(ledger_dir)?
        .iter()
        .map(|n| read_note(ledger_dir, n))
        .collect())
}

/// The newest readable checkpoint, if any (reads only the newest note files).
pub fn latest(ledger_dir: &Path) -> Result<Option<Checkpoint>> {
    Ok(note_names(ledger_dir)?
        .iter()
        .rev()
        .find_map(|n| read_note(ledger_dir, n).ok()))
}

/// The cosigned note of the newest witnessed checkpoint, if any.
pub fn latest_witnessed(ledger_dir: &Path) -> Result<Option<(Checkpoint, String)>> {
    for c in list(ledger_dir)?.into_iter().rev().filter_map(Result::ok) {
        if let Ok(text) = std::fs::read_to_string(note_path(ledger_dir, c.size, "witnessed")) {
            return Ok(Some((c, text)));
        }
    }
    Ok(None)
}

/// Names of the witnesses whose cosignatures are stored beside checkpoint `c` (the stored
/// `.witnessed` copy must carry exactly `c`'s body). The cosignatures themselves are checked
/// against the witness by `verify --witness`.
pub fn cosigners(ledger_dir: &Path, c: &Checkpoint) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(note_path(ledger_dir, c.size, "witnessed")) else {
        return Vec::new();
    };
    match (SignedNote::parse(&text), SignedNote::parse(&c.note)) {
        (Ok(w), Ok(own)) if w.body == own.body => w
            .sigs
            .into_iter()
            .map(|s| s.name)
            .filter(|n| *n != c.origin)
            .collect(),
        _ => Vec::new(),
    }
}

/// Stores a witness's cosigned copy of checkpoint `size`.
pub fn store_witnessed(ledger_dir: &Path, size: u64, cosigned: &str) -> Result<()> {
    let p = note_path(ledger_dir, size, "witnessed");
    std::fs::write(&p, cosigned).with_context(|| format!("cannot write {}", p.display()))
}

/// Signs a checkpoint of the stored `tree` (already brought to the locked tip `tip`) and writes
/// its note file; returns it and the fields of the `ledger.checkpoint` record to append.
pub(super) fn sign(
    ledger_dir: &Path,
    key: &NoteKey,
    tree: &Tree,
    tip: &str,
) -> Result<(Checkpoint, serde_json::Map<String, serde_json::Value>)> {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = CheckpointBody {
        origin: key.name().to_string(),
        size: tree.size(),
        root: tree.root()?,
        extensions: vec![format!("tip {tip}"), format!("time {time}")],
    };
    let text = key.sign_note(&body.to_text())?;
    let dir = ledger_dir.join(CHECKPOINTS_DIR);
    crate::home::create_private_dir(&dir)?;
    let path = note_path(ledger_dir, tree.size(), "note");
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, &text)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    let c = Checkpoint::from_note(&text)?;
    let latest = dir.join(LATEST);
    std::fs::write(&tmp, format!("{} {}\n", c.size, c.time))?;
    std::fs::rename(&tmp, &latest)?;
    let mut fields = serde_json::Map::new();
    fields.insert("event".into(), EVENT.into());
    fields.insert("size".into(), c.size.into());
    fields.insert("root".into(), c.root.clone().into());
    fields.insert("origin".into(), c.origin.clone().into());
    fields.insert("key_id".into(), hex::encode(key.id()).into());
    fields.insert("note_sha256".into(), c.note_sha256.clone().into());
    Ok((c, fields))
}

/// Roots of the log's tree at each of `sizes`, computed from the records themselves (not the
/// stored tree), and the number of records in the log.
pub fn roots_of_log(
    ledger_dir: &Path,
    sizes: &BTreeSet<u64>,
) -> Result<(BTreeMap<u64, Hash>, u64)> {
    let mut out = BTreeMap::new();
    if sizes.contains(&0) {
        out.insert(0, merkle::empty_root());
    }
    let mut range = CompactRange::default();
    let f = match File::open(ledger_dir.join(LOG_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((out, 0)),
        Err(e) => return Err(e).context("cannot open the ledger"),
    };
    let want = sizes.last().copied().unwrap_or(0);
    scan_file(f, |l| {
        if range.size >= want {
            range.size += 1;
            return;
        }
        range.push(merkle::leaf_hash(&l.hash.unwrap_or_default()));
        if sizes.contains(&range.size) {
            out.insert(range.size, range.root());
        }
    })?;
    Ok((out, range.size))
}

/// The right edge of a growing tree: roots of its perfect subtrees, largest first.
#[derive(Default)]
struct CompactRange {
    size: u64,
    nodes: Vec<(u64, Hash)>,
}

impl CompactRange {
    fn push(&mut self, leaf: Hash) {
        self.size += 1;
        self.nodes.push((1, leaf));
        while self.nodes.len() >= 2 {
            let n = self.nodes.len();
            if self.nodes[n - 2].0 != self.nodes[n - 1].0 {
                break;
            }
            let (w, r) = self.nodes.pop().expect("two nodes");
            let (_, l) = self.nodes.pop().expect("two nodes");
            self.nodes.push((w * 2, merkle::node_hash(&l, &r)));
        }
    }

    fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some((_, mut r)) = it.next().copied() else {
            return merkle::empty_root();
        };
        for (_, l) in it {
            r = merkle::node_hash(l, &r);
        }
        r
    }
}

/// What checking the checkpoints found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckpointReport {
    /// Checkpoint files found, and how many verified (signature, size, root).
    pub checkpoints: u64,
    pub valid: u64,
    /// Size of the newest valid checkpoint.
    pub newest: Option<u64>,
    /// Problems, in size order: `(size, description)`.
    pub problems: Vec<(u64, String)>,
    /// Records in the log when it was checked.
    #[serde(skip)]
    pub records: u64,
    /// Each readable checkpoint with what was found, in size order (for the compliance report).
    #[serde(skip)]
    pub each: Vec<Checked>,
}

/// What checking one checkpoint found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Signed by the verifier key, and the log's first `size` records have its root.
    Valid,
    /// No verifier key was given, so its signature was not checked.
    Unchecked,
    /// Its signature does not verify with the key.
    BadSignature,
    /// It covers more records than the log holds (deletion or truncation).
    BeyondLog,
    /// The log's first `size` records have another root (history rewritten).
    RootMismatch,
}

/// One checkpoint and what checking it found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub checkpoint: Checkpoint,
    pub finding: Finding,
}

/// Checks every checkpoint: a valid signature by `verifier` (when given), a size the log
/// reaches, and the root of the log's first `size` records. Two checkpoints that both match the
/// log are consistent with each other; one that does not names the first size where the log
/// and the signed history diverge. Without checkpoints the log is not read.
pub fn check_all(ledger_dir: &Path, verifier: Option<&NoteVerifier>) -> Result<CheckpointReport> {
    let all = list(ledger_dir)?;
    let mut report = CheckpointReport {
        checkpoints: all.len() as u64,
        ..CheckpointReport::default()
    };
    if all.is_empty() {
        return Ok(report);
    }
    let sizes: BTreeSet<u64> = all
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .map(|c| c.size)
        .collect();
    let (roots, records) = roots_of_log(ledger_dir, &sizes)?;
    report.records = records;
    for c in all {
        let c = match c {
            Ok(c) => c,
            Err(e) => {
                report
                    .problems
                    .push((0, format!("unreadable checkpoint {e}")));
                continue;
            }
        };
        let signed = match verifier {
            Some(v) => SignedNote::parse(&c.note)
                .and_then(|n| v.open(&n).map(|_| ()))
                .map_err(|e| (Finding::BadSignature, format!("{e:#}"))),
            None => Err((
                Finding::Unchecked,
                "no checkpoint verifier key to check its signature".into(),
            )),
        };
        let problem = if let Err((f, e)) = signed {
            Some((f, format!("checkpoint of {} records: {e}", c.size)))
        } else if c.size > records {
            Some((
                Finding::BeyondLog,
                format!(
                    "checkpoint covers {} records but the ledger holds {records}: records were deleted or the log truncated",
                    c.size
                ),
            ))
        } else if roots.get(&c.size) != Some(&c.root_hash()) {
            Some((
                Finding::RootMismatch,
                format!(
                    "the first {} records do not have the signed root {}: history up to here was rewritten",
                    c.size, c.root
                ),
            ))
        } else {
            None
        };
        let finding = match problem {
            Some((f, p)) => {
                report.problems.push((c.size, p));
                f
            }
            None => {
                report.valid += 1;
                report.newest = Some(c.size);
                Finding::Valid
            }
        };
        report.each.push(Checked {
            checkpoint: c,
            finding,
        });
    }
    Ok(report)
}

/// An inclusion proof of one record in a signed checkpoint: everything needed to check it
/// offline with the checkpoint's public key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proof {
    /// `patchwork-gateway/inclusion-proof/v1`.
    pub format: String,
    pub seq: u64,
    /// The record's stored line (canonical JSON).
    pub record: String,
    pub tree_size: u64,
    /// Base64 hashes of the RFC 6962 audit path, leaf side first.
    pub proof: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// The proof format name.
pub const PROOF_FORMAT: &str = "patchwork-gateway/inclusion-proof/v1";

/// Proves record `seq` in the newest checkpoint (which must cover it).
pub fn prove(ledger_dir: &Path, seq: u64) -> Result<Proof> {
    let c = latest(ledger_dir)?.context("no checkpoint yet: run `patchwork-gateway checkpoint`")?;
    ensure!(
        seq < c.size,
        "record {seq} is not covered by the newest checkpoint ({} records); run `patchwork-gateway checkpoint`",
        c.size
    );
    let tree = Tree::open(ledger_dir)?
        .context("the stored Merkle tree is missing: run `patchwork-gateway checkpoint`")?;
    ensure!(
        tree.size() >= c.size,
        "the stored Merkle tree is older than the newest checkpoint: run `patchwork-gateway checkpoint`"
    );
    ensure!(
        merkle::root(&tree, c.size)? == c.root_hash(),
        "the stored tree does not match the newest checkpoint: run `patchwork-gateway verify`"
    );
    let path = merkle::inclusion_proof(&tree, seq, c.size)?;
    let record = read_record_line(ledger_dir, seq, Some(tree.leaf(seq)?))?;
    Ok(Proof {
        format: PROOF_FORMAT.into(),
        seq,
        record,
        tree_size: c.size,
        proof: path.iter().map(|h| B64.encode(h)).collect(),
        checkpoint: c.note,
    })
}

/// The stored line of record `seq`, found by binary search on the byte offset (records are in
/// seq order) and checked against the tree's leaf when given.
fn read_record_line(ledger_dir: &Path, seq: u64, leaf: Option<Hash>) -> Result<String> {
    use std::os::unix::fs::FileExt;
    let f = File::open(ledger_dir.join(LOG_FILE)).context("cannot open the ledger")?;
    let len = f.metadata()?.len();
    let line_at = |off: u64| -> Result<(u64, Vec<u8>)> {
        let start = if off == 0 {
            0
        } else {
            super::append::line_start(&f, off)?
        };
        let mut buf = Vec::new();
        let mut pos = start;
        loop {
            let mut chunk = vec![0u8; 4096];
            let n = f.read_at(&mut chunk, pos)?;
            ensure!(n > 0, "unexpected end of the ledger");
            if let Some(i) = chunk[..n].iter().position(|&b| b == b'\n') {
                buf.extend_from_slice(&chunk[..i]);
                return Ok((start, buf));
            }
            buf.extend_from_slice(&chunk[..n]);
            pos += n as u64;
        }
    };
    let (mut lo, mut hi) = (0u64, len);
    for _ in 0..128 {
        let (start, line) = line_at(lo + (hi - lo) / 2)?;
        let s = scan(&line).map_err(|e| anyhow::anyhow!("ledger line at byte {start}: {e}"))?;
        if s.seq == seq {
            ensure!(
                s.hash_ok && leaf.is_none_or(|l| digest(s.hash) == Some(l)),
                "record {seq} in the log does not match the Merkle tree: run `patchwork-gateway verify`"
            );
            return String::from_utf8(line).context("record is not UTF-8");
        }
        if s.seq < seq {
            lo = start + line.len() as u64 + 1;
        } else {
            hi = start;
        }
        ensure!(lo < hi, "record {seq} not found in the ledger");
    }
    bail!("record {seq} not found in the ledger")
}

impl Proof {
    /// Checks the proof offline: the checkpoint's signature by `verifier`, the record's own
    /// hash, and its inclusion under the signed root. Returns the checkpoint.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<CheckpointBody> {
        ensure!(
            self.format == PROOF_FORMAT,
            "unknown proof format `{}`",
            self.format
        );
        let note = SignedNote::parse(&self.checkpoint).context("checkpoint note")?;
        let body = CheckpointBody::parse(verifier.open(&note)?)?;
        ensure!(
            body.size == self.tree_size,
            "the proof is for {} records but the checkpoint covers {}",
            self.tree_size,
            body.size
        );
        let s = scan(self.record.as_bytes()).map_err(|e| anyhow::anyhow!("record: {e}"))?;
        ensure!(
            s.hash_ok,
            "the record does not match its own hash (content changed)"
        );
        ensure!(
            s.seq == self.seq,
            "the record is seq {}, not {}",
            s.seq,
            self.seq
        );
        let leaf = merkle::leaf_hash(&digest(s.hash).context("record hash")?);
        let path: Vec<Hash> = self
            .proof
            .iter()
            .map(|p| {
                B64.decode(p)
                    .ok()
                    .and_then(|b| Hash::try_from(b).ok())
                    .context("proof hash is not 32 bytes of base64")
            })
            .collect::<Result<_>>()?;
        ensure!(
            merkle::verify_inclusion(&leaf, self.seq, body.size, &path, &body.root),
            "the record is not included under the checkpoint's root (record or proof altered)"
        );
        Ok(body)
    }
}

/// How far the ledger is anchored outside the agent's reach.
#[derive(Debug, Clone, Serialize)]
pub struct Anchoring {
    /// Records in the ledger.
    pub records: u64,
    /// Newest checkpoint: size and Unix time.
    pub checkpoint: Option<(u64, u64)>,
    /// Newest checkpoint a witness cosigned: size and Unix time.
    pub witnessed: Option<(u64, u64)>,
    /// Records not covered by a witnessed checkpoint (by any checkpoint without a witness).
    pub unanchored_records: u64,
    /// Seconds since the oldest unanchored record was written, if any.
    pub unanchored_age_secs: Option<u64>,
    /// Checkpoints newer than the newest witnessed one (the witness backlog).
    pub witness_backlog: u64,
}

/// The anchoring status of the ledger in `ledger_dir` (cheap: no full read of the log).
pub fn anchoring(ledger_dir: &Path) -> Result<Anchoring> {
    let status = super::query::status(ledger_dir)?;
    let all: Vec<Checkpoint> = list(ledger_dir)?
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let newest = all.last().map(|c| (c.size, c.time));
    let witnessed = all
        .iter()
        .rev()
        .find(|c| c.witnessed)
        .map(|c| (c.size, c.time));
    let anchored = witnessed.or(newest).map_or(0, |w| w.0);
    let backlog = all
        .iter()
        .filter(|c| witnessed.is_none_or(|w| c.size > w.0))
        .count() as u64;
    let unanchored = status.records.saturating_sub(anchored);
    let age = if unanchored > 0 {
        first_ts_after(ledger_dir, anchored).map(|ts| {
            let now = super::append::now_micros();
            u64::try_from((now - ts) / 1_000_000).unwrap_or(0)
        })
    } else {
        None
    };
    Ok(Anchoring {
        records: status.records,
        checkpoint: newest,
        witnessed,
        unanchored_records: unanchored,
        unanchored_age_secs: age,
        witness_backlog: backlog,
    })
}

/// The `ts` of record `seq`, if the log has it.
fn first_ts_after(ledger_dir: &Path, seq: u64) -> Option<i64> {
    let line = read_record_line(ledger_dir, seq, None).ok()?;
    scan(line.as_bytes()).ok().map(|s| s.ts)
}

/// Consistency proof (base64 lines) from the log's tree of `old` records to that of `new`, from
/// the stored tree.
pub fn consistency(ledger_dir: &Path, old: u64, new: u64) -> Result<Vec<String>> {
    let tree = Tree::open(ledger_dir)?.context("the stored Merkle tree is missing")?;
    ensure!(
        new <= tree.size(),
        "the stored tree has only {} records",
        tree.size()
    );
    Ok(merkle::consistency_proof(&tree, old, new)?
        .iter()
        .map(|h| B64.encode(h))
        .collect())
}
