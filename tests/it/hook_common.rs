//! Shared helpers for every integration test: a temporary HOME, PATCHWORK_HOME and project,
//! running the real binary (as Claude Code would, or with `--home`), reading the ledger, and
//! waiting on a condition with a time limit.
#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_patchwork-gateway");

/// A throwaway HOME, gateway home and project.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub pw: PathBuf,
    pub project: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let pw = dir.path().join("pw");
        let project = dir.path().join("project");
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join("src/main.rs"), "fn main() {}\n").unwrap();
        Sandbox {
            dir,
            home,
            pw,
            project,
        }
    }

    /// The binary with HOME, PATCHWORK_HOME and CLAUDE_PROJECT_DIR pointing into the sandbox.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("HOME", &self.home)
            .env("PATCHWORK_HOME", &self.pw)
            .env("CLAUDE_PROJECT_DIR", &self.project)
            .env_remove("PATCHWORK_POLICY")
            .env_remove("PATCHWORK_WEBHOOK_URL")
            .env_remove("PATCHWORK_HOOK_TEST_PANIC");
        c
    }

    /// Runs `hook` with `stdin` as the payload.
    pub fn hook(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with_stdin(self.cmd(args), stdin)
    }

    /// A payload for `event` in this sandbox's project.
    pub fn payload(&self, event: &str, extra: Value) -> Vec<u8> {
        let mut p = serde_json::json!({
            "session_id": "sess-test",
            "transcript_path": self.home.join(".claude/t.jsonl"),
            "cwd": self.project,
            "permission_mode": "default",
            "hook_event_name": event,
        });
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        serde_json::to_vec(&p).unwrap()
    }

    /// Every ledger record, in `seq` order.
    pub fn records(&self) -> Vec<Value> {
        ledger_records(&self.pw)
    }

    /// All bytes stored under the ledger folder.
    pub fn ledger_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        collect_bytes(&self.pw.join("ledger"), &mut out);
        out
    }
}

/// Every ledger record under the gateway home `pw`, in `seq` order.
pub fn ledger_records(pw: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    collect_records(&pw.join("ledger"), &mut out);
    out.sort_by_key(|r| r["seq"].as_u64());
    out
}

fn collect_records(dir: &Path, out: &mut Vec<Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_records(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            for line in std::fs::read_to_string(&p).unwrap_or_default().lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line)
                    && v.get("seq").is_some()
                    && v.get("event").is_some()
                {
                    out.push(v);
                }
            }
        }
    }
}

fn collect_bytes(dir: &Path, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_bytes(&p, out);
        } else {
            out.extend(std::fs::read(&p).unwrap_or_default());
        }
    }
}

/// Runs `cmd` feeding `stdin` (a writer thread, so large inputs cannot deadlock).
pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The hook may stop reading early (size limit): a broken pipe is expected then.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The PreToolUse decision in a hook's stdout, if any.
pub fn decision(out: &Output) -> Option<String> {
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .map(str::to_string)
}

/// Asserts stdout holds exactly one compact JSON object.
pub fn assert_one_json_object(out: &Output) -> Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let trimmed = text.trim_end_matches('\n');
    assert!(
        !trimmed.contains('\n'),
        "one line of JSON expected: {text:?}"
    );
    let v: Value = serde_json::from_str(trimmed).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert!(v.is_object(), "{text}");
    v
}

/// The binary with `--home HOME` and nothing else of the caller's gateway settings.
pub fn gateway_at(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--home")
        .arg(home)
        .env_remove("PATCHWORK_POLICY")
        .env_remove("PATCHWORK_HOME");
    c
}

/// Polls `done` every few milliseconds until it holds; panics naming `what` after `limit`.
pub fn wait_until(limit: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A process's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A minimal strict-enough policy file for tests that need a loadable policy.
pub fn write_policy(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
