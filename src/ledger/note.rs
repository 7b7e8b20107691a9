//! C2SP signed notes with Ed25519 keys, tlog-checkpoint bodies and tlog-cosignature lines.
//!
//! - A note is a UTF-8 body ending in `\n`, a blank line, then signature lines
//!   `— <key name> <base64(key id[4] ‖ signature)>\n` (em dash U+2014).
//! - Key id = first 4 bytes of SHA-256(name ‖ `\n` ‖ type ‖ public key); type `0x01` for a log
//!   signature (Ed25519 over the body), `0x04` for a witness cosignature (Ed25519 over
//!   `cosignature/v1\ntime <T>\n` ‖ body, the line carrying key id ‖ T as 8 bytes big-endian ‖
//!   signature).
//! - Verifier key: `<name>+<hex key id>+<base64(type ‖ public key)>`; secret key file:
//!   `PRIVATE+KEY+<name>+<hex key id>+<base64(type ‖ seed)>`.

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Signature type byte of an Ed25519 note signature.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of a timestamped Ed25519 cosignature (tlog-cosignature).
pub const TYPE_COSIGNATURE: u8 = 0x04;
/// The signature line prefix: em dash and a space.
const DASH: &str = "\u{2014} ";

/// First 4 bytes of SHA-256(name ‖ `\n` ‖ type ‖ public key).
pub fn key_id(name: &str, kind: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn check_name(name: &str) -> Result<()> {
    ensure!(
        !name.is_empty()
            && !name.contains('+')
            && !name.chars().any(|c| c.is_whitespace() || c.is_control()),
        "key name `{name}` is not a valid note key name (no spaces, `+` or control characters)"
    );
    Ok(())
}

/// An Ed25519 signing key with its note key name and type byte.
pub struct NoteKey {
    name: String,
    kind: u8,
    key: SigningKey,
}

impl std::fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteKey")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl NoteKey {
    /// A fresh key from `/dev/urandom`.
    pub fn generate(name: &str, kind: u8) -> Result<NoteKey> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .context("cannot read /dev/urandom")?;
        Ok(NoteKey {
            name: name.to_string(),
            kind,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`.
    pub fn parse(text: &str) -> Result<NoteKey> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .context("not a note secret key (expected PRIVATE+KEY+…)")?;
        let (name, id, raw) = split_key(rest)?;
        ensure!(
            raw.len() == 33,
            "secret key has {} bytes, expected 33",
            raw.len()
        );
        let seed: [u8; 32] = raw[1..].try_into().expect("length checked");
        let key = NoteKey {
            name: name.to_string(),
            kind: raw[0],
            key: SigningKey::from_bytes(&seed),
        };
        ensure!(key.id() == id, "secret key id does not match its key");
        Ok(key)
    }

    /// Loads the key at `path`, or creates it (mode 0600, never replacing an existing one).
    pub fn load_or_create(path: &Path, name: &str, kind: u8) -> Result<NoteKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => return NoteKey::parse(&text),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        let key = NoteKey::generate(name, kind)?;
        match write_new_secret(path, key.secret_string().as_bytes()) {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => NoteKey::load(path),
            Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }

    /// Loads the key at `path`.
    pub fn load(path: &Path) -> Result<NoteKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key {}", path.display()))?;
        NoteKey::parse(&text).with_context(|| format!("key {}", path.display()))
    }

    /// The key name (for a log key: the checkpoint origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, self.kind, &self.key.verifying_key().to_bytes())
    }

    /// The public verifier key.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            kind: self.kind,
            key: self.key.verifying_key(),
        }
    }

    fn secret_string(&self) -> String {
        let mut raw = vec![self.kind];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}\n",
            self.name,
            hex::encode(self.id()),
            B64.encode(raw)
        )
    }

    /// Signs `body` (must end in `\n`) and returns the complete signed note.
    pub fn sign_note(&self, body: &str) -> Result<String> {
        ensure!(self.kind == TYPE_ED25519, "not a log signing key");
        ensure!(body.ends_with('\n'), "note body must end with a newline");
        let sig = self.key.sign(body.as_bytes());
        let mut blob = self.id().to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{body}\n{DASH}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }

    /// A tlog-cosignature line (with its newline) over checkpoint `body` at Unix time `time`.
    pub fn cosign(&self, body: &str, time: u64) -> Result<String> {
        ensure!(self.kind == TYPE_COSIGNATURE, "not a cosigning key");
        let sig = self.key.sign(cosigned_message(body, time).as_bytes());
        let mut blob = self.id().to_vec();
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!("{DASH}{} {}\n", self.name, B64.encode(blob)))
    }
}

/// The message a witness signs: `cosignature/v1\ntime <T>\n` followed by the checkpoint body.
pub fn cosigned_message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

fn split_key(s: &str) -> Result<(&str, [u8; 4], Vec<u8>)> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("malformed key: expected <name>+<hex id>+<base64 key>");
    };
    check_name(name)?;
    let mut idb = [0u8; 4];
    hex::decode_to_slice(id, &mut idb).context("malformed key id (8 hex digits)")?;
    let raw = B64.decode(b64).context("malformed key: bad base64")?;
    ensure!(!raw.is_empty(), "malformed key: empty");
    Ok((name, idb, raw))
}

/// Creates `path` with `bytes`, mode 0600, atomically and only if it does not exist yet.
pub fn write_new_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(".key.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

use std::os::unix::fs::DirBuilderExt;

/// A public verifier key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    kind: u8,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex key id>+<base64(type ‖ public key)>`.
    pub fn parse(text: &str) -> Result<NoteVerifier> {
        let (name, id, raw) = split_key(text.trim())?;
        ensure!(
            raw.len() == 33,
            "verifier key has {} bytes, expected 33",
            raw.len()
        );
        ensure!(
            raw[0] == TYPE_ED25519 || raw[0] == TYPE_COSIGNATURE,
            "verifier key type {:#04x} is not supported (Ed25519 0x01 or cosignature 0x04)",
            raw[0]
        );
        let public: [u8; 32] = raw[1..].try_into().expect("length checked");
        let key = VerifyingKey::from_bytes(&public).map_err(|e| anyhow!("bad public key: {e}"))?;
        let v = NoteVerifier {
            name: name.to_string(),
            kind: raw[0],
            key,
        };
        ensure!(v.id() == id, "verifier key id does not match its key");
        Ok(v)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, self.kind, &self.key.to_bytes())
    }

    /// `<name>+<hex key id>+<base64(type ‖ public key)>`.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![self.kind];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id()),
            B64.encode(raw)
        )
    }

    /// Verifies a signed note and returns its body. Signatures by other keys are ignored; the
    /// note is rejected unless one of them is a valid signature by this key.
    pub fn open<'n>(&self, note: &'n SignedNote) -> Result<&'n str> {
        ensure!(self.kind == TYPE_ED25519, "not a log verifier key");
        let id = self.id();
        let mut seen = false;
        for s in note
            .sigs
            .iter()
            .filter(|s| s.name == self.name && s.id == id)
        {
            seen = true;
            let Ok(bytes) = <[u8; 64]>::try_from(s.blob.as_slice()) else {
                continue;
            };
            if self
                .key
                .verify(note.body.as_bytes(), &Signature::from_bytes(&bytes))
                .is_ok()
            {
                return Ok(&note.body);
            }
        }
        if seen {
            bail!(
                "the signature of key {} does not verify (note altered or forged)",
                self.name
            )
        }
        bail!("the note carries no signature of key {}", self.name)
    }

    /// Verifies this witness's cosignature on `note` and returns its time.
    pub fn cosigned_at(&self, note: &SignedNote) -> Result<u64> {
        ensure!(
            self.kind == TYPE_COSIGNATURE,
            "not a cosignature verifier key"
        );
        let id = self.id();
        for s in note
            .sigs
            .iter()
            .filter(|s| s.name == self.name && s.id == id)
        {
            if s.blob.len() != 72 {
                continue;
            }
            let time = u64::from_be_bytes(s.blob[..8].try_into().expect("8 bytes"));
            let sig = Signature::from_bytes(&s.blob[8..].try_into().expect("64 bytes"));
            let msg = cosigned_message(&note.body, time);
            if self.key.verify(msg.as_bytes(), &sig).is_ok() {
                return Ok(time);
            }
        }
        bail!("no valid cosignature of witness {}", self.name)
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSig {
    pub name: String,
    pub id: [u8; 4],
    /// The signature bytes after the key id.
    pub blob: Vec<u8>,
}

/// A parsed (not yet verified) signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, ending in `\n`.
    pub body: String,
    pub sigs: Vec<NoteSig>,
}

impl SignedNote {
    /// Parses a note: body, blank line, 1 to 100 signature lines.
    pub fn parse(text: &str) -> Result<SignedNote> {
        ensure!(text.len() <= 1 << 20, "note too large");
        ensure!(text.ends_with('\n'), "note does not end with a newline");
        let split = text
            .rfind("\n\n")
            .context("note has no blank line before its signatures")?;
        let body = &text[..split + 1];
        let mut sigs = Vec::new();
        for line in text[split + 2..].lines() {
            let rest = line
                .strip_prefix(DASH)
                .with_context(|| format!("malformed signature line `{line}`"))?;
            let (name, b64) = rest
                .split_once(' ')
                .with_context(|| format!("malformed signature line `{line}`"))?;
            check_name(name)?;
            let raw = B64.decode(b64).context("signature is not base64")?;
            ensure!(raw.len() > 4, "signature too short");
            sigs.push(NoteSig {
                name: name.to_string(),
                id: raw[..4].try_into().expect("4 bytes"),
                blob: raw[4..].to_vec(),
            });
        }
        ensure!(!sigs.is_empty(), "note has no signatures");
        ensure!(sigs.len() <= 100, "note has too many signatures");
        Ok(SignedNote {
            body: body.to_string(),
            sigs,
        })
    }

    /// The note as text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n", self.body);
        for sig in &self.sigs {
            let mut raw = sig.id.to_vec();
            raw.extend_from_slice(&sig.blob);
            s.push_str(&format!("{DASH}{} {}\n", sig.name, B64.encode(raw)));
        }
        s
    }
}

/// A tlog-checkpoint body: origin, size, root and extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBody {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    /// Extension lines, without newlines.
    pub extensions: Vec<String>,
}

impl CheckpointBody {
    /// The body text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body.
    pub fn parse(body: &str) -> Result<CheckpointBody> {
        let mut lines = body
            .strip_suffix('\n')
            .context("checkpoint body does not end with a newline")?
            .split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .context("no origin")?;
        let size = lines
            .next()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .filter(|s| s.len() == 1 || !s.starts_with('0'))
            .context("checkpoint size is not a decimal number")?
            .parse()
            .context("checkpoint size out of range")?;
        let root = B64
            .decode(lines.next().context("no root hash")?)
            .ok()
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .context("root hash is not 32 bytes of base64")?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        ensure!(
            extensions.iter().all(|e| !e.is_empty()),
            "empty extension line"
        );
        Ok(CheckpointBody {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The value of extension line `<name> <value>`.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find_map(|e| e.strip_prefix(name)?.strip_prefix(' '))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c2sp_example_key_and_note_verify() {
        // The example verifier key and signed note of the C2SP signed-note specification.
        let v = NoteVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .unwrap();
        let note = SignedNote::parse(
            "If you think cryptography is the answer to your problem,\n\
             then you don't know what your problem is.\n\
             \n\
             \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        )
        .unwrap();
        assert_eq!(
            v.open(&note).unwrap(),
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        );
        let mut bad = note.clone();
        bad.body = bad.body.replace("answer", "Answer");
        assert!(v.open(&bad).is_err());
    }

    #[test]
    fn sign_parse_verify_round_trip_and_cosign() {
        let k = NoteKey::generate("example.com/log", TYPE_ED25519).unwrap();
        let body = CheckpointBody {
            origin: "example.com/log".into(),
            size: 7,
            root: [9; 32],
            extensions: vec!["time 5".into()],
        };
        let text = k.sign_note(&body.to_text()).unwrap();
        let note = SignedNote::parse(&text).unwrap();
        assert_eq!(note.to_text(), text);
        let vk = NoteVerifier::parse(&k.verifier().to_vkey()).unwrap();
        let opened = CheckpointBody::parse(vk.open(&note).unwrap()).unwrap();
        assert_eq!(opened, body);
        assert_eq!(opened.extension("time"), Some("5"));
        let other = NoteKey::generate("example.com/log", TYPE_ED25519).unwrap();
        assert!(other.verifier().open(&note).is_err());

        let w = NoteKey::generate("witness", TYPE_COSIGNATURE).unwrap();
        let mut cosigned = note.clone();
        let line = w.cosign(&note.body, 1234).unwrap();
        cosigned
            .sigs
            .extend(SignedNote::parse(&format!("x\n\n{line}")).unwrap().sigs);
        assert_eq!(w.verifier().cosigned_at(&cosigned).unwrap(), 1234);
        assert!(vk.open(&cosigned).is_ok());
        let reparsed = NoteKey::parse(&k.secret_string()).unwrap();
        assert_eq!(reparsed.id(), k.id());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for b in [
            "o\n01\nAAAA\n",
            "o\n-1\n",
            "\n1\nx\n",
            "o\n1\nAAAA\n",
            "o\n1\n",
        ] {
            assert!(CheckpointBody::parse(b).is_err(), "{b:?}");
        }
    }
}
