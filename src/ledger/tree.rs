//! The ledger's Merkle tree kept incrementally beside the log, in `ledger/tree/`:
//! `level-LL` holds the hashes of the perfect subtrees of 2^L leaves (entry i covers leaves
//! i·2^L .. (i+1)·2^L), 32 bytes each; `tree.json` records how many leaves and log bytes are in
//! and the root and last leaf at that size. About two hashes per record: any subtree hash RFC
//! 6962's proofs need is O(log n) reads, so a proof never re-reads the log and a checkpoint only
//! hashes the records appended since the last one.
//!
//! The tree is a cache of the log: on any mismatch (root or last leaf not what `tree.json`
//! says, files short) it is rebuilt from the log. Updating it needs the ledger lock (it reads
//! the log up to the locked tip), so it runs inside [`super::Ledger::checkpoint`].

use super::merkle::{self, Hash, Subtrees};
use super::stream::{Line, scan_file};
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The tree folder inside the ledger folder.
pub const TREE_DIR: &str = "tree";
const STATE: &str = "tree.json";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TreeState {
    size: u64,
    log_len: u64,
    root: String,
    last: String,
}

/// The stored tree at some size.
pub struct Tree {
    dir: PathBuf,
    size: u64,
    levels: Vec<File>,
}

/// The record hashes (the leaves' data), 32 bytes each.
const LEAVES: &str = "leaves";

fn level_path(dir: &Path, level: usize) -> PathBuf {
    dir.join(format!("level-{level:02}"))
}

fn open_level(dir: &Path, name: impl LevelName) -> Result<File> {
    let p = name.path(dir);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&p)
        .with_context(|| format!("cannot open {}", p.display()))
}

/// A level number or the name of the leaves file.
trait LevelName {
    fn path(&self, dir: &Path) -> PathBuf;
}

impl LevelName for usize {
    fn path(&self, dir: &Path) -> PathBuf {
        level_path(dir, *self)
    }
}

impl LevelName for &str {
    fn path(&self, dir: &Path) -> PathBuf {
        dir.join(self)
    }
}

/// Levels needed for `size` leaves (level L has `size >> L` entries).
fn levels_for(size: u64) -> usize {
    (64 - size.leading_zeros() as usize).max(1)
}

impl Tree {
    /// Opens the stored tree read-only as recorded in `tree.json` (for proofs), checking its
    /// root. `None` when there is no usable tree.
    pub fn open(ledger_dir: &Path) -> Result<Option<Tree>> {
        let dir = ledger_dir.join(TREE_DIR);
        let Ok(bytes) = std::fs::read(dir.join(STATE)) else {
            return Ok(None);
        };
        let Ok(st) = serde_json::from_slice::<TreeState>(&bytes) else {
            return Ok(None);
        };
        let mut levels = Vec::new();
        for l in 0..levels_for(st.size) {
            match File::open(level_path(&dir, l)) {
                Ok(f) => levels.push(f),
                Err(_) => return Ok(None),
            }
        }
        let t = Tree {
            dir,
            size: st.size,
            levels,
        };
        Ok(t.matches(&st).then_some(t))
    }

    fn matches(&self, st: &TreeState) -> bool {
        let ok = |t: &Tree| -> Result<bool> {
            if st.size == 0 {
                return Ok(st.root == hex::encode(merkle::empty_root()));
            }
            let last = t.leaf(st.size - 1)?;
            Ok(hex::encode(last) == st.last && hex::encode(t.root()?) == st.root)
        };
        ok(self).unwrap_or(false)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of all leaves.
    pub fn root(&self) -> Result<Hash> {
        merkle::root(self, self.size)
    }

    /// The leaf data (record hash) of entry `i`.
    pub fn leaf(&self, i: u64) -> Result<Hash> {
        ensure!(
            i < self.size,
            "record {i} is not in the tree of {} records",
            self.size
        );
        // Level 0 stores leaf hashes; the record hash itself is in `leaves`.
        let mut b = [0u8; 32];
        let f = File::open(self.dir.join(LEAVES)).context("cannot open tree/leaves")?;
        f.read_exact_at(&mut b, i * 32)
            .context("tree/leaves is short")?;
        Ok(b)
    }

    fn node(&self, level: usize, index: u64) -> Result<Hash> {
        let f = self
            .levels
            .get(level)
            .with_context(|| format!("tree level {level} missing"))?;
        let mut b = [0u8; 32];
        f.read_exact_at(&mut b, index * 32)
            .with_context(|| format!("tree level {level} has no entry {index}"))?;
        Ok(b)
    }
}

impl Subtrees for Tree {
    fn range(&self, start: u64, end: u64) -> Result<Hash> {
        ensure!(
            start < end && end <= self.size,
            "range {start}..{end} outside the tree"
        );
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            return self.node(n.trailing_zeros() as usize, start / n);
        }
        let k = merkle::split(n);
        Ok(merkle::node_hash(
            &self.range(start, start + k)?,
            &self.range(start + k, end)?,
        ))
    }
}

/// Brings the stored tree up to the locked tip (`count` records, `log_len` bytes) of the log in
/// `ledger_dir`, hashing only the records added since the last update (all of them when the
/// stored tree is missing or does not match). Fails when the new records do not chain.
pub fn update(ledger_dir: &Path, log: &Path, count: u64, log_len: u64) -> Result<Tree> {
    let dir = ledger_dir.join(TREE_DIR);
    crate::home::create_private_dir(&dir)?;
    let st = std::fs::read(dir.join(STATE))
        .ok()
        .and_then(|b| serde_json::from_slice::<TreeState>(&b).ok())
        .filter(|st| st.size <= count && st.log_len <= log_len)
        .filter(|st| {
            Tree::open(ledger_dir)
                .ok()
                .flatten()
                .is_some_and(|t| t.size == st.size)
        })
        .unwrap_or_default();
    let nlevels = levels_for(count);
    let mut levels = Vec::with_capacity(nlevels);
    for l in 0..nlevels {
        let f = open_level(&dir, l)?;
        f.set_len((st.size >> l) * 32)?;
        levels.push(f);
    }
    let leaves_f = open_level(&dir, LEAVES)?;
    leaves_f.set_len(st.size * 32)?;
    // Per level: entries so far and the last one (the left sibling of the next right child).
    let mut counts: Vec<u64> = (0..nlevels).map(|l| st.size >> l).collect();
    let mut lasts: Vec<Hash> = Vec::with_capacity(nlevels);
    for (l, f) in levels.iter().enumerate() {
        let mut b = [0u8; 32];
        if counts[l] > 0 {
            f.read_exact_at(&mut b, (counts[l] - 1) * 32)?;
        }
        lasts.push(b);
    }
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); levels.len()];
    let mut new_leaves = Vec::new();
    let mut size = st.size;
    let mut prev = [0u8; 32];
    if st.size > 0 {
        leaves_f.read_exact_at(&mut prev, (st.size - 1) * 32)?;
    }
    let mut fault = None;
    if count > st.size {
        let mut f = File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
        ensure!(
            f.metadata()?.len() >= log_len,
            "the ledger log is shorter than its tip; run `patchwork-gateway verify`"
        );
        // Nothing lies past the locked tip: the lock holder's session cut any torn tail.
        f.seek(SeekFrom::Start(st.log_len))?;
        scan_file(f, |l: Line| {
            if fault.is_some() || size == count {
                return;
            }
            let (Some(h), true, None) = (l.hash, l.hash_ok, &l.fault) else {
                fault = Some(format!("record {size} is not a valid record"));
                return;
            };
            if l.seq != Some(size) || l.prev != Some(prev) {
                fault = Some(format!("record {size} does not chain"));
                return;
            }
            prev = h;
            new_leaves.extend_from_slice(&h);
            let mut node = merkle::leaf_hash(&h);
            let mut lvl = 0;
            loop {
                let idx = counts[lvl];
                pending[lvl].extend_from_slice(&node);
                counts[lvl] += 1;
                if idx % 2 == 1 {
                    let parent = merkle::node_hash(&lasts[lvl], &node);
                    lasts[lvl] = node;
                    node = parent;
                    lvl += 1;
                } else {
                    lasts[lvl] = node;
                    break;
                }
            }
            size += 1;
        })?;
    }
    if let Some(f) = fault {
        bail!("cannot extend the Merkle tree: {f}; run `patchwork-gateway verify`");
    }
    ensure!(
        size == count,
        "the ledger log holds {size} records, its tip says {count}; run `patchwork-gateway verify`"
    );
    for (l, bytes) in pending.iter().enumerate() {
        if !bytes.is_empty() {
            levels[l].write_all_at(bytes, (counts[l] - (bytes.len() / 32) as u64) * 32)?;
        }
    }
    leaves_f.write_all_at(&new_leaves, st.size * 32)?;
    let tree = Tree {
        dir: dir.clone(),
        size,
        levels,
    };
    let state = TreeState {
        size,
        log_len,
        root: hex::encode(tree.root()?),
        last: if size > 0 {
            hex::encode(tree.leaf(size - 1)?)
        } else {
            String::new()
        },
    };
    let tmp = dir.join(format!(".tree.json.{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec(&state)?)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(STATE))?;
    Ok(tree)
}
