//! When the MCP door's ledger records become durable, seen from outside: the real gateway
//! binary over stdio, a raw JSON-RPC client, the real ledger files and real `fdatasync`s.
//!
//! - a decision record is synced before its answer (refused and allowed calls);
//! - outcome records, written after the answer, are all written and synced by a clean exit
//!   (end of input, SIGTERM);
//! - a decision record that cannot be synced fails closed, and with `--sync-before-forward`
//!   the tool never runs.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A gateway on stdio with its own home and project folders.
struct Gateway {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines<BufReader<ChildStdout>>,
    home: tempfile::TempDir,
    project: tempfile::TempDir,
    next_id: u64,
}

impl Gateway {
    fn start(extra: &[&str], prepare: impl FnOnce(&Path)) -> Gateway {
        Gateway::start_in(tempfile::tempdir().unwrap(), extra, prepare)
    }

    fn start_in(home: tempfile::TempDir, extra: &[&str], prepare: impl FnOnce(&Path)) -> Gateway {
        let project = tempfile::tempdir().unwrap();
        std::fs::write(project.path().join("notes.txt"), "hello\n").unwrap();
        std::fs::write(project.path().join(".env"), "TOKEN=never-show-this\n").unwrap();
        prepare(home.path());
        let mut child = Command::new(crate::hook_common::BIN)
            .args(["--policy", "strict", "serve"])
            .args(extra)
            .env("PATCHWORK_HOME", home.path())
            .env_remove("CLAUDE_PROJECT_DIR")
            .current_dir(project.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut g = Gateway {
            child,
            stdin,
            out,
            home,
            project,
            next_id: 1,
        };
        let init = g.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "1"}}),
        );
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        g.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        g
    }

    fn send(&mut self, msg: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self.out.next().expect("gateway closed stdout").unwrap();
            let msg: Value = serde_json::from_str(&line).unwrap();
            if msg["id"] == id {
                return msg;
            }
        }
    }

    /// Calls a tool; returns its result.
    fn call(&mut self, tool: &str, args: Value) -> Value {
        let answer = self.request("tools/call", json!({"name": tool, "arguments": args}));
        answer["result"].clone()
    }

    fn ledger_dir(&self) -> PathBuf {
        self.home.path().join("ledger")
    }

    /// The ledger's records with the byte offset where each line ends.
    fn records(&self) -> Vec<(Value, u64)> {
        let text = std::fs::read_to_string(self.ledger_dir().join("ledger.jsonl")).unwrap();
        let mut end = 0;
        text.lines()
            .map(|l| {
                end += l.len() as u64 + 1;
                (serde_json::from_str(l).unwrap(), end)
            })
            .collect()
    }

    /// The length of the log known synced (raised only after an `fdatasync` returned).
    fn synced(&self) -> u64 {
        std::fs::read_to_string(self.ledger_dir().join("synced"))
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0)
    }

    /// Closes stdin (or leaves it open), waits for a clean exit and returns stderr.
    fn finish(mut self, close_stdin: bool) -> (String, tempfile::TempDir, tempfile::TempDir) {
        if close_stdin {
            drop(self.stdin.take());
        }
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(status.success(), "the gateway must exit cleanly: {err}");
        (err, self.home, self.project)
    }
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The decision record with `seq`, and where its line ends.
fn decision(records: &[(Value, u64)], seq: u64) -> (Value, u64) {
    records
        .iter()
        .find(|(r, _)| r["seq"] == seq)
        .cloned()
        .unwrap_or_else(|| panic!("no record with seq {seq}"))
}

#[test]
fn a_decision_is_synced_before_its_answer_arrives() {
    decisions_are_synced_before_their_answers(Gateway::start(&[], |_| {}));
}

/// On a tmpfs syncs take microseconds and mostly run on the gateway's own thread instead of
/// the blocking pool: same guarantees.
#[test]
fn a_decision_is_synced_before_its_answer_arrives_on_tmpfs() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("no /dev/shm here: the disk variant above covers the pool path only");
        return;
    }
    let home = tempfile::tempdir_in(shm).unwrap();
    decisions_are_synced_before_their_answers(Gateway::start_in(home, &[], |_| {}));
}

fn decisions_are_synced_before_their_answers(mut g: Gateway) {
    let refused = g.call("read_file", json!({"path": ".env"}));
    assert_eq!(refused["isError"], true, "{refused}");
    // The refusal names the seq of its decision record; the record is durable already.
    let text = text_of(&refused);
    let seq: u64 = text
        .split("ledger seq ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no ledger seq in {text}"));
    let (record, end) = decision(&g.records(), seq);
    assert_eq!(record["event"], "decision");
    assert_eq!(record["verdict"], "deny", "{record}");
    assert!(
        g.synced() >= end,
        "refusal answered before its record was synced"
    );

    for _ in 0..5 {
        let allowed = g.call("read_file", json!({"path": "notes.txt"}));
        assert_ne!(allowed["isError"], true, "{allowed}");
        assert!(text_of(&allowed).contains("hello"), "{allowed}");
        let records = g.records();
        let (record, end) = records
            .iter()
            .rev()
            .find(|(r, _)| r["event"] == "decision" && r["tool"] == "read_file")
            .cloned()
            .unwrap();
        assert_eq!(record["verdict"], "allow", "{record}");
        assert!(
            g.synced() >= end,
            "answer sent before its decision was synced"
        );
    }
    g.finish(true);
}

/// Every allowed call has exactly one outcome record pointing at its decision, and the whole
/// log is synced.
fn assert_outcomes_complete(home: &Path, calls: usize) {
    let text = std::fs::read_to_string(home.join("ledger/ledger.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decisions: Vec<u64> = records
        .iter()
        .filter(|r| r["event"] == "decision" && r["tool"] == "list_directory")
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(decisions.len(), calls, "{text}");
    for seq in decisions {
        let outcomes = records
            .iter()
            .filter(|r| r["event"] == "outcome" && r["decision_seq"] == seq)
            .count();
        assert_eq!(outcomes, 1, "decision {seq} has {outcomes} outcome records");
    }
    let synced: u64 = std::fs::read_to_string(home.join("ledger/synced"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        synced,
        text.len() as u64,
        "the log is not fully synced at exit"
    );
}

#[test]
fn outcome_records_are_all_written_and_synced_when_input_ends() {
    let mut g = Gateway::start(&[], |_| {});
    for _ in 0..25 {
        let r = g.call("list_directory", json!({"path": "."}));
        assert_ne!(r["isError"], true, "{r}");
    }
    // End of input right after the last answer: outcomes may still be pending.
    let (_, home, _) = g.finish(true);
    assert_outcomes_complete(home.path(), 25);
}

#[test]
fn outcome_records_are_all_written_and_synced_on_sigterm() {
    let mut g = Gateway::start(&[], |_| {});
    for _ in 0..25 {
        let r = g.call("list_directory", json!({"path": "."}));
        assert_ne!(r["isError"], true, "{r}");
    }
    let pid = g.child.id() as i32;
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (_, home, _) = g.finish(false);
    assert_outcomes_complete(home.path(), 25);
}

/// A ledger whose log is /dev/null: every write succeeds, every `fdatasync` fails (EINVAL).
fn unsyncable_ledger(home: &Path) {
    let dir = home.join("ledger");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.join("ledger.jsonl")).unwrap();
}

#[test]
fn a_decision_that_cannot_be_synced_fails_closed() {
    let mut g = Gateway::start(&[], unsyncable_ledger);
    let r = g.call("write_file", json!({"path": "out.txt", "content": "x"}));
    assert_eq!(r["isError"], true, "{r}");
    let text = text_of(&r);
    assert!(text.contains("ledger cannot be written"), "{text}");
    assert!(text.contains("cannot sync the ledger"), "{text}");
    // Later calls are refused too (the log no longer matches its state).
    let r = g.call("read_file", json!({"path": "notes.txt"}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(!text_of(&r).contains("hello"), "{r}");
    let (err, _, _) = g.finish(true);
    assert!(err.contains("cannot sync the ledger"), "not logged: {err}");
}

#[test]
fn sync_before_forward_never_runs_a_call_whose_decision_is_not_durable() {
    let mut g = Gateway::start(&["--sync-before-forward"], unsyncable_ledger);
    let r = g.call("write_file", json!({"path": "out.txt", "content": "x"}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(text_of(&r).contains("cannot sync the ledger"), "{r}");
    let (_, _, project) = g.finish(true);
    assert!(
        !project.path().join("out.txt").exists(),
        "the tool ran although its decision record was not durable"
    );
}

#[test]
fn sync_before_forward_still_answers_allowed_calls() {
    let mut g = Gateway::start(&["--sync-before-forward"], |_| {});
    let r = g.call("read_file", json!({"path": "notes.txt"}));
    assert!(text_of(&r).contains("hello"), "{r}");
    let records = g.records();
    let (_, end) = records
        .iter()
        .rev()
        .find(|(r, _)| r["event"] == "decision")
        .cloned()
        .unwrap();
    assert!(g.synced() >= end);
    let (_, home, _) = g.finish(true);
    let text = std::fs::read_to_string(home.path().join("ledger/ledger.jsonl")).unwrap();
    assert!(text.contains("\"outcome\""), "{text}");
}
