//! Eight real processes append 250 records each at the same time; the result is one intact chain
//! of 2,000 records, verified both in process and by the `verify` command.
//!
//! The children are this test binary itself, re-executed with an environment variable that
//! makes the test run its append loop instead.

use patchwork_gateway::ledger::Ledger;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_DIR: &str = "PATCHWORK_LEDGER_TEST_CHILD_DIR";
const CHILD_ID: &str = "PATCHWORK_LEDGER_TEST_CHILD_ID";
const PROCS: u64 = 8;
const EACH: u64 = 250;

fn child(dir: &Path, id: u64) {
    // Start together: wait for the parent's go file.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("go").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    let l = Ledger::open(&dir.join("ledger")).unwrap();
    for i in 0..EACH {
        let f = json!({"event": "decision", "session": format!("proc-{id}"), "n": i, "action": "command_execute",
                       "target": format!("curl -H 'Authorization: Bearer tok-{id}-{i}' https://x")});
        l.append(f.as_object().unwrap().clone()).unwrap();
    }
}

#[test]
fn eight_processes_append_at_once() {
    if let (Ok(dir), Ok(id)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ID)) {
        child(Path::new(&dir), id.parse().unwrap());
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..PROCS)
        .map(|id| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "ledger_concurrency::eight_processes_append_at_once",
                    "--nocapture",
                ])
                .env(CHILD_DIR, t.path())
                .env(CHILD_ID, id.to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(t.path().join("go"), b"").unwrap();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }

    let l = Ledger::open(&t.path().join("ledger")).unwrap();
    let r = l.verify(None).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!((r.records, r.recoveries), (PROCS * EACH, 0));
    // Every (process, n) exactly once, and each process's records in its own order.
    let mut next: HashMap<String, u64> = HashMap::new();
    for (seq, rec) in l.records().unwrap().enumerate() {
        let rec = rec.unwrap();
        assert_eq!(rec.seq, seq as u64);
        let n = next
            .entry(rec.str("session").unwrap().to_string())
            .or_default();
        assert_eq!(rec.fields["n"], json!(*n));
        *n += 1;
    }
    assert_eq!(next.len() as u64, PROCS);
    assert!(next.values().all(|&n| n == EACH));
    let bytes = std::fs::read_to_string(t.path().join("ledger/ledger.jsonl")).unwrap();
    assert!(!bytes.contains("tok-"), "a bearer token reached the ledger");

    let out = Command::new(crate::hook_common::BIN)
        .arg("--home")
        .arg(t.path())
        .arg("verify")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("records  2000 (2000 verified)"), "{stdout}");
}
