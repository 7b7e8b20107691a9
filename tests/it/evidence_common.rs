//! Shared helpers for the evidence tests: a ledger filled through the library, the CLI on it,
//! the history-rewrite attack an agent with the seal key can carry out, and a real witness
//! process.
#![allow(dead_code)]

use crate::hook_common::BIN;
use patchwork_gateway::ledger::record::build;
use patchwork_gateway::ledger::{Ledger, SealKey};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// A gateway home with a ledger.
pub struct Home {
    pub tmp: tempfile::TempDir,
    pub pw: PathBuf,
}

pub fn fields(i: u64) -> Map<String, Value> {
    json!({"event": "decision", "session": "s-1", "door": "hook", "action": "command_execute",
           "target": format!("echo {i}"), "risk": "low", "verdict": "allow", "rules": ["r.echo"]})
    .as_object()
    .unwrap()
    .clone()
}

impl Home {
    pub fn new() -> Home {
        let tmp = tempfile::tempdir().unwrap();
        let pw = tmp.path().join("pw");
        Home { tmp, pw }
    }

    pub fn ledger_dir(&self) -> PathBuf {
        self.pw.join("ledger")
    }

    /// Appends `n` decision records.
    pub fn append(&self, n: u64) {
        let l = Ledger::open(&self.ledger_dir()).unwrap();
        for i in 0..n {
            l.append(fields(i)).unwrap();
        }
    }

    /// The binary on this home, with no witness or automatic checkpoint from the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("PATCHWORK_HOME", &self.pw)
            .env("PATCHWORK_CHECKPOINT_EVERY", "0")
            .env("PATCHWORK_CHECKPOINT_MINUTES", "0")
            .env_remove("PATCHWORK_WITNESS")
            .env_remove("PATCHWORK_POLICY");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and requires exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The public checkpoint key, written to a file.
    pub fn pubkey(&self) -> PathBuf {
        let p = self.tmp.path().join("log.vkey");
        std::fs::write(&p, self.ok(&["keys", "export", "--public"])).unwrap();
        p
    }

    /// What a prompt-injected agent holding the files and the HMAC key does: deletes record
    /// `victim`, re-chains every later record (new seq, prev and hash, same content and time),
    /// drops the state file, the seals and (with `drop_checkpoints`) the local checkpoints and
    /// tree, and re-seals with the stolen key.
    pub fn rewrite_deleting(&self, victim: u64, drop_checkpoints: bool) {
        let dir = self.ledger_dir();
        let text = std::fs::read_to_string(dir.join("ledger.jsonl")).unwrap();
        let mut out = String::new();
        let mut prev = patchwork_gateway::ledger::GENESIS.to_string();
        let mut seq = 0;
        for line in text.lines() {
            let mut m: Map<String, Value> = serde_json::from_str(line).unwrap();
            if m["seq"].as_u64() == Some(victim) {
                continue;
            }
            let ts = m["ts"].as_i64().unwrap();
            for k in ["v", "seq", "ts", "prev", "hash"] {
                m.remove(k);
            }
            let (bytes, hash) = build(m, seq, ts, &prev).unwrap();
            out.push_str(std::str::from_utf8(&bytes).unwrap());
            out.push('\n');
            prev = hash;
            seq += 1;
        }
        std::fs::write(dir.join("ledger.jsonl"), out).unwrap();
        for f in ["state.json", "synced", "seals.jsonl"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        if drop_checkpoints {
            let _ = std::fs::remove_dir_all(dir.join("checkpoints"));
            let _ = std::fs::remove_dir_all(dir.join("tree"));
        }
        let l = Ledger::open(&dir).unwrap();
        let key = SealKey::load_or_create(&l.default_key_path()).unwrap();
        l.seal(&key).unwrap();
    }
}

/// A witness process (`witness serve`) on a socket in its own folder.
pub struct Witness {
    pub child: Child,
    pub socket: PathBuf,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Witness {
    /// Starts a witness that accepts uid `allow` and the log key in `log_key`.
    pub fn start(allow: u32, log_key: &Path) -> Witness {
        let tmp = tempfile::tempdir().unwrap();
        // Other users must reach the socket (their uid is what the witness checks).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = tmp.path().join("witness.sock");
        let dir = tmp.path().join("store");
        let child = Command::new(BIN)
            .args(["witness", "serve", "--socket"])
            .arg(&socket)
            .arg("--dir")
            .arg(&dir)
            .args(["--allow-uid", &allow.to_string(), "--log-key"])
            .arg(log_key)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "witness did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Witness {
            child,
            socket,
            dir,
            _tmp: tmp,
        }
    }

    pub fn socket(&self) -> &str {
        self.socket.to_str().unwrap()
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// stdout + stderr of an output, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
