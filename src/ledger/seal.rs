//! HMAC-SHA256 seals of the ledger tip, appended to `seals.jsonl` in the ledger folder.
//!
//! A seal binds (record count, tip hash, time, key id) under a 32-byte key kept at
//! `$PATCHWORK_HOME/keys/seal.key` (mode 0600, folder 0700). The MAC input is the canonical JSON
//! of `{"count","domain":"patchwork-gateway/seal/v1","key_id","sealed_at","tip"}`.
//! Symmetric: whoever can read the key can also forge seals (see `docs/ledger.md`).

use super::canonical;
use anyhow::{Context, Result};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Domain-separation tag inside every MAC input.
pub const DOMAIN: &str = "patchwork-gateway/seal/v1";

/// Label hashed with the key to derive its public id.
const KEY_ID_LABEL: &[u8] = b"patchwork-gateway/seal-key-id/v1\n";

/// The seal key and its id.
pub struct SealKey {
    key: [u8; 32],
    id: String,
    path: PathBuf,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("id", &self.id)
            .field("path", &self.path)
            .finish()
    }
}

impl SealKey {
    /// Loads the key at `path`.
    pub fn load(path: &Path) -> Result<SealKey> {
        let bytes = super::files::read_small(path, 64)
            .and_then(|b| b.ok_or_else(|| anyhow::anyhow!("no such file")))
            .with_context(|| format!("cannot read the seal key {}", path.display()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            anyhow::anyhow!(
                "seal key {} has {} bytes, expected 32",
                path.display(),
                b.len()
            )
        })?;
        Ok(SealKey::from_bytes(key, path))
    }

    /// Loads the key at `path`, creating it first (32 bytes from `/dev/urandom`, mode 0600, its
    /// folder 0700) if it does not exist. Safe when several processes race to create it.
    pub fn load_or_create(path: &Path) -> Result<SealKey> {
        match std::fs::metadata(path) {
            Ok(_) => return SealKey::load(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the seal key {}", path.display()));
            }
        }
        let dir = path.parent().context("seal key path has no folder")?;
        crate::home::create_private_dir(dir)?;
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .context("cannot read /dev/urandom")?;
        let tmp = dir.join(format!(".seal.key.{}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(&key)?;
        f.sync_all()?;
        drop(f);
        // A hard link publishes the complete key atomically and never replaces an existing one.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                std::fs::File::open(dir)?.sync_all()?;
                Ok(SealKey::from_bytes(key, path))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => SealKey::load(path),
            Err(e) => {
                Err(e).with_context(|| format!("cannot create the seal key {}", path.display()))
            }
        }
    }

    fn from_bytes(key: [u8; 32], path: &Path) -> SealKey {
        let mut h = Sha256::new();
        h.update(KEY_ID_LABEL);
        h.update(key);
        let id = hex::encode(&h.finalize()[..8]);
        SealKey {
            key,
            id,
            path: path.to_path_buf(),
        }
    }

    /// The key's public id: first 16 hex of SHA-256(label ‖ key).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the key lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `hmac-sha256:<hex>` over the canonical MAC input of a seal.
    pub fn mac(&self, count: u64, tip: &str, sealed_at: i64, key_id: &str) -> String {
        let msg = mac_input(count, tip, sealed_at, key_id);
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        m.update(&msg);
        format!("hmac-sha256:{}", hex::encode(m.finalize().into_bytes()))
    }

    /// Checks `seal.mac` in constant time.
    pub fn check(&self, seal: &Seal) -> bool {
        let Some(tag) = seal
            .mac
            .strip_prefix("hmac-sha256:")
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        let msg = mac_input(seal.count, &seal.tip, seal.sealed_at, &seal.key_id);
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        m.update(&msg);
        m.verify_slice(&tag).is_ok()
    }
}

/// The canonical bytes the MAC covers.
pub fn mac_input(count: u64, tip: &str, sealed_at: i64, key_id: &str) -> Vec<u8> {
    let v = json!({"count": count, "domain": DOMAIN, "key_id": key_id, "sealed_at": sealed_at, "tip": tip});
    canonical::to_vec(&v).expect("seal fields are strings and safe integers")
}

/// One line of `seals.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// Number of records sealed (records `0..count`).
    pub count: u64,
    /// Hash of record `count − 1` (the genesis value when `count` is 0).
    pub tip: String,
    /// Microseconds since the Unix epoch, UTC.
    pub sealed_at: i64,
    pub key_id: String,
    /// `hmac-sha256:<hex>`.
    pub mac: String,
    /// Format version.
    pub v: i64,
}

impl Seal {
    /// The canonical line stored in the seals file (without newline).
    pub fn to_line(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).expect("a seal serialises");
        canonical::to_vec(&v).expect("seal fields are strings and safe integers")
    }
}

/// Reads every seal; a line that does not parse yields its error (with its 0-based index).
pub fn read_seals(path: &Path) -> Result<Vec<Result<Seal, String>>> {
    // Not through a symbolic link; another name (hard link) is reported by `verify` itself.
    let mut bytes = Vec::new();
    match super::files::open(path, std::fs::OpenOptions::new().read(true)) {
        Ok(mut f) => f
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut out = Vec::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\n") else {
            out.push(Err("incomplete last line".to_string()));
            break;
        };
        out.push(parse_seal(body));
    }
    Ok(out)
}

fn parse_seal(body: &[u8]) -> Result<Seal, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let seal: Seal = serde_json::from_value(v).map_err(|e| format!("not a seal: {e}"))?;
    if seal.to_line() != body {
        return Err("not canonical".into());
    }
    Ok(seal)
}

/// Appends `seal` to the seals file and syncs it.
pub fn append_seal(path: &Path, seal: &Seal) -> Result<()> {
    let mut line = seal.to_line();
    line.push(b'\n');
    let mut f = super::files::open(
        path,
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600),
    )
    .with_context(|| format!("cannot open {}", path.display()))?;
    super::files::single_link(&f, path)?;
    f.write_all(&line)?;
    f.sync_data().context("cannot sync the seals file")
}
