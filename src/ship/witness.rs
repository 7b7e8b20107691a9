//! The checkpoint witness: a small server on a Unix socket, run as another user, that accepts
//! only checkpoints consistent with the last one it holds for their log, cosigns them (C2SP
//! tlog-cosignature) and keeps them where the agent's user cannot write; and its client.
//!
//! Protocol (one request per connection; the client half-closes after writing its request):
//! - `add-checkpoint\n` followed by the C2SP tlog-witness request body: `old <size>\n`, the
//!   consistency proof from `old` to the new size as base64 lines, a blank line, the signed
//!   checkpoint note. Answers `200 OK\n` + the cosignature line; `409 Conflict\n<size>\n` when
//!   `old` is not the size the witness holds; `422 …` for an inconsistent or badly signed
//!   checkpoint; `403 …` for a peer whose uid is not allowed.
//! - `get-checkpoints <origin>\n`: answers `200 OK\n` + the history (JSON lines
//!   `{"time":…,"note":"…"}`, the cosigned notes in order), or `404 …`.
//!
//! Witness folder: `witness.key` (0600), `witness.vkey`, and per log
//! `logs/<first 16 hex of SHA-256(origin)>/{history.jsonl, latest.note}` (world-readable).

use crate::ledger::merkle::{self, Hash};
use crate::ledger::note::{CheckpointBody, NoteKey, NoteVerifier, SignedNote, TYPE_COSIGNATURE};
use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest request accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a connection may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One entry of a log's history at the witness.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Witnessed {
    /// Unix seconds of the cosignature.
    pub time: u64,
    /// The checkpoint note with the log's signature and the witness's cosignature.
    pub note: String,
}

/// The witness's folder for the log `origin`.
fn log_dir(dir: &Path, origin: &str) -> PathBuf {
    let h = Sha256::digest(origin.as_bytes());
    dir.join("logs").join(hex::encode(&h[..8]))
}

/// Reads a log's history from a witness folder (what `verify --witness DIR` reads).
pub fn read_history(dir: &Path, origin: &str) -> Result<Vec<Witnessed>> {
    let p = log_dir(dir, origin).join("history.jsonl");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    text.lines()
        .map(|l| serde_json::from_str(l).context("witness history line unreadable"))
        .collect()
}

/// The witness server's configuration.
pub struct Server {
    pub dir: PathBuf,
    pub allowed_uids: Vec<u32>,
    pub logs: Vec<NoteVerifier>,
    key: NoteKey,
}

impl Server {
    /// Prepares the witness folder (creating the witness key on first use).
    pub fn new(dir: &Path, allowed_uids: Vec<u32>, logs: Vec<NoteVerifier>) -> Result<Server> {
        ensure!(
            !logs.is_empty(),
            "the witness needs at least one log key (--log-key)"
        );
        ensure!(
            !allowed_uids.is_empty(),
            "the witness needs at least one --allow-uid"
        );
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        let mut r = [0u8; 6];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut r)?;
        let key = NoteKey::load_or_create(
            &dir.join("witness.key"),
            &format!("patchwork-witness/{}", hex::encode(r)),
            TYPE_COSIGNATURE,
        )?;
        let vkey = dir.join("witness.vkey");
        std::fs::write(&vkey, format!("{}\n", key.verifier().to_vkey()))?;
        std::fs::set_permissions(&vkey, std::fs::Permissions::from_mode(0o644))?;
        Ok(Server {
            dir: dir.to_path_buf(),
            allowed_uids,
            logs,
            key,
        })
    }

    /// The witness's public key.
    pub fn verifier(&self) -> NoteVerifier {
        self.key.verifier()
    }

    /// Serves forever on `socket` (replacing a stale socket file), one connection at a time.
    pub fn serve(&self, socket: &Path) -> Result<()> {
        if let Ok(m) = std::fs::symlink_metadata(socket) {
            use std::os::unix::fs::FileTypeExt;
            ensure!(
                m.file_type().is_socket(),
                "{} exists and is not a socket",
                socket.display()
            );
            std::fs::remove_file(socket)?;
        }
        let listener = UnixListener::bind(socket)
            .with_context(|| format!("cannot listen on {}", socket.display()))?;
        // Anyone may connect; the peer's uid is what is checked.
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
        for conn in listener.incoming() {
            match conn {
                Ok(s) => {
                    if let Err(e) = self.handle(s) {
                        tracing::warn!("witness: {e:#}");
                    }
                }
                Err(e) => tracing::warn!("witness: accept failed: {e}"),
            }
        }
        Ok(())
    }

    fn handle(&self, mut s: UnixStream) -> Result<()> {
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        let uid = peer_uid(&s)?;
        // The request is read (bounded) even from a refused peer: closing a Unix socket with
        // unread data resets it, and the peer would never see why it was refused.
        let mut req = Vec::new();
        (&mut s).take(MAX_REQUEST + 1).read_to_end(&mut req)?;
        if !self.allowed_uids.contains(&uid) {
            s.write_all(
                format!("403 Forbidden\npeer uid {uid} is not allowed to submit to this witness\n")
                    .as_bytes(),
            )?;
            bail!("refused a peer with uid {uid}");
        }
        let answer = if req.len() as u64 > MAX_REQUEST {
            "413 Too Large\nrequest too large\n".to_string()
        } else {
            match String::from_utf8(req) {
                Ok(text) => self.answer(&text),
                Err(_) => "400 Bad Request\nrequest is not UTF-8\n".into(),
            }
        };
        s.write_all(answer.as_bytes())?;
        Ok(())
    }

    /// The answer to one request.
    pub fn answer(&self, req: &str) -> String {
        let (cmd, rest) = req.split_once('\n').unwrap_or((req, ""));
        if cmd == "add-checkpoint" {
            return self
                .add(rest)
                .unwrap_or_else(|(code, why)| format!("{code}\n{why}\n"));
        }
        if let Some(origin) = cmd.strip_prefix("get-checkpoints ") {
            return match read_history(&self.dir, origin) {
                Ok(h) if h.is_empty() => "404 Not Found\nno checkpoint of this log\n".into(),
                Ok(h) => {
                    let mut out = "200 OK\n".to_string();
                    for w in h {
                        out.push_str(&serde_json::to_string(&w).unwrap_or_default());
                        out.push('\n');
                    }
                    out
                }
                Err(e) => format!("500 Internal Error\n{e:#}\n"),
            };
        }
        "400 Bad Request\nunknown request (add-checkpoint or get-checkpoints ORIGIN)\n".into()
    }

    fn add(&self, body: &str) -> Result<String, (&'static str, String)> {
        let bad = |why: String| ("400 Bad Request", why);
        let (head, note_text) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        let old: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("first line must be `old <size>`".into()))?;
        let proof: Vec<Hash> = lines
            .map(|l| B64.decode(l).ok().and_then(|b| Hash::try_from(b).ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("proof lines must be base64 hashes".into()))?;
        if proof.len() > 63 {
            return Err(bad("too many proof lines".into()));
        }
        let note = SignedNote::parse(note_text).map_err(|e| bad(format!("{e:#}")))?;
        let unsigned = CheckpointBody::parse(&note.body).map_err(|e| bad(format!("{e:#}")))?;
        let log = self
            .logs
            .iter()
            .find(|v| v.name() == unsigned.origin)
            .ok_or_else(|| {
                (
                    "404 Not Found",
                    format!("unknown log `{}`", unsigned.origin),
                )
            })?;
        log.open(&note)
            .map_err(|e| ("403 Forbidden", format!("{e:#}")))?;
        let ldir = log_dir(&self.dir, &unsigned.origin);
        let history = read_history(&self.dir, &unsigned.origin)
            .map_err(|e| ("500 Internal Error", format!("{e:#}")))?;
        let current = match history.last() {
            Some(w) => Some(
                SignedNote::parse(&w.note)
                    .and_then(|n| CheckpointBody::parse(&n.body))
                    .map_err(|e| ("500 Internal Error", format!("stored checkpoint: {e:#}")))?,
            ),
            None => None,
        };
        let (held, held_root) = current
            .as_ref()
            .map_or((0, merkle::empty_root()), |c| (c.size, c.root));
        if old != held {
            return Err(("409 Conflict", held.to_string()));
        }
        if unsigned.size < held {
            return Err((
                "422 Unprocessable",
                format!(
                    "checkpoint of {} records is smaller than the {} records already witnessed (rollback or truncation)",
                    unsigned.size, held
                ),
            ));
        }
        if !merkle::verify_consistency(held, unsigned.size, &held_root, &unsigned.root, &proof) {
            return Err((
                "422 Unprocessable",
                format!(
                    "checkpoint of {} records is not consistent with the witnessed checkpoint of {held} records: \
                     the log was rewritten",
                    unsigned.size
                ),
            ));
        }
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let line = self
            .key
            .cosign(&note.body, time)
            .map_err(|e| ("500 Internal Error", format!("{e:#}")))?;
        let stored = format!("{}{line}", note.to_text());
        store(&ldir, &Witnessed { time, note: stored })
            .map_err(|e| ("500 Internal Error", format!("{e:#}")))?;
        Ok(format!("200 OK\n{line}"))
    }
}

/// Appends to the history (synced) and replaces `latest.note`.
fn store(ldir: &Path, w: &Witnessed) -> Result<()> {
    std::fs::create_dir_all(ldir)?;
    std::fs::set_permissions(ldir, std::fs::Permissions::from_mode(0o755))?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(ldir.join("history.jsonl"))?;
    f.write_all(format!("{}\n", serde_json::to_string(w)?).as_bytes())?;
    f.sync_data()?;
    let tmp = ldir.join(".latest.tmp");
    std::fs::write(&tmp, &w.note)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(tmp, ldir.join("latest.note"))?;
    Ok(())
}

/// The uid of the process at the other end of `s` (`SO_PEERCRED`).
pub fn peer_uid(s: &UnixStream) -> Result<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    ensure!(
        rc == 0,
        "cannot read the peer's credentials: {}",
        std::io::Error::last_os_error()
    );
    Ok(cred.uid)
}

/// Sends one request to the witness at `socket` and returns (status code, rest of the answer).
pub fn request(socket: &Path, req: &str) -> Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("cannot reach the witness at {}", socket.display()))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    // A refusing witness may close before reading everything: its answer still counts.
    let _ = s.write_all(req.as_bytes());
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    (&mut s)
        .take(4 << 20)
        .read_to_string(&mut out)
        .context("no answer from the witness")?;
    let (status, rest) = out.split_once('\n').unwrap_or((&out, ""));
    let code = status
        .split(' ')
        .next()
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("malformed witness answer `{status}`"))?;
    Ok((code, rest.to_string()))
}

/// The `add-checkpoint` request for `note` with the consistency proof from `old`.
pub fn add_request(old: u64, proof: &[String], note: &str) -> String {
    let mut r = format!("add-checkpoint\nold {old}\n");
    for p in proof {
        r.push_str(p);
        r.push('\n');
    }
    r.push('\n');
    r.push_str(note);
    r
}

/// The witness history of `origin`: from a witness socket, or read from a witness folder.
pub fn fetch_history(witness: &Path, origin: &str) -> Result<Vec<Witnessed>> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(witness)
        .with_context(|| format!("cannot reach the witness at {}", witness.display()))?;
    if meta.is_dir() {
        return read_history(witness, origin);
    }
    ensure!(
        meta.file_type().is_socket(),
        "{} is neither a witness socket nor a witness folder",
        witness.display()
    );
    let (code, body) = request(witness, &format!("get-checkpoints {origin}\n"))?;
    match code {
        200 => body
            .lines()
            .map(|l| serde_json::from_str(l).context("witness history line unreadable"))
            .collect(),
        404 => Ok(Vec::new()),
        _ => bail!("the witness answered {code}: {}", body.trim()),
    }
}
