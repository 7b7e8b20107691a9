//! Crash recovery: torn lines, a state file behind or missing, and the cases that must not be
//! repaired (log shorter than its state, a tip that does not match). Includes a real writer
//! process killed with SIGKILL while appending.

use patchwork_gateway::ledger::record::sha256_tag;
use patchwork_gateway::ledger::{DamageKind, Ledger, Record};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fields(i: u64) -> Map<String, Value> {
    json!({"event": "decision", "session": "s-2", "action": "file_read", "target": format!("/p/{i}"),
           "risk": "none", "verdict": "allow", "rules": []})
    .as_object()
    .unwrap()
    .clone()
}

fn all(l: &Ledger) -> Vec<Record> {
    l.records().unwrap().map(Result::unwrap).collect()
}

fn log_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("ledger.jsonl")).unwrap()
}

#[test]
fn torn_line_is_cut_off_and_recorded() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..3 {
        l.append(fields(i)).unwrap();
    }
    let before = log_bytes(t.path());
    let first_line = before.split(|&b| b == b'\n').next().unwrap();
    let half = &first_line[..first_line.len() / 2];
    std::fs::OpenOptions::new()
        .append(true)
        .open(t.path().join("ledger.jsonl"))
        .unwrap()
        .write_all(half)
        .unwrap();

    let a = l.append(fields(3)).unwrap();
    assert_eq!(a.seq, 4, "the recovery record takes seq 3");
    let recs = all(&l);
    let rec = &recs[3];
    assert_eq!(rec.event(), Some("ledger_recovery"));
    assert_eq!(rec.str("kind"), Some("torn_tail"));
    assert_eq!(rec.fields["discarded_len"], json!(half.len()));
    assert_eq!(rec.str("discarded_sha256"), Some(sha256_tag(half).as_str()));
    assert_eq!(rec.fields["offset"], json!(before.len()));
    assert_eq!(recs[4].str("target"), Some("/p/3"));
    let after = log_bytes(t.path());
    assert!(after.starts_with(&before));
    assert!(!after[before.len()..].windows(half.len()).any(|w| w == half));
    let r = l.verify(None).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!((r.records, r.recoveries), (5, 1));
}

#[test]
fn state_behind_the_log_is_rolled_forward_and_recorded() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    l.append(fields(0)).unwrap();
    let old_state = std::fs::read(t.path().join("state.json")).unwrap();
    l.append(fields(1)).unwrap();
    l.append(fields(2)).unwrap();
    // As if the writer died after its fdatasync but before renaming the state file.
    std::fs::write(t.path().join("state.json"), old_state).unwrap();
    assert_eq!(l.append(fields(3)).unwrap().seq, 4);
    let recs = all(&l);
    assert_eq!(recs[3].str("kind"), Some("state_rollforward"));
    assert_eq!(
        (
            recs[3].fields["records"].clone(),
            recs[3].fields["from_seq"].clone()
        ),
        (json!(2), json!(1))
    );
    assert!(l.verify(None).unwrap().intact);
}

#[test]
fn missing_or_garbled_state_is_rebuilt_from_the_last_line_and_recorded() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..4 {
        l.append(fields(i)).unwrap();
    }
    std::fs::remove_file(t.path().join("state.json")).unwrap();
    assert_eq!(l.append(fields(4)).unwrap().seq, 5);
    std::fs::write(t.path().join("state.json"), b"{oops").unwrap();
    assert_eq!(l.append(fields(5)).unwrap().seq, 7);
    // A state record whose checksum does not match (a torn or hand-edited write).
    let st = std::fs::read_to_string(t.path().join("state.json")).unwrap();
    assert_eq!(st.len(), 256);
    std::fs::write(
        t.path().join("state.json"),
        st.replacen("\"count\":8", "\"count\":9", 1),
    )
    .unwrap();
    assert_eq!(l.append(fields(6)).unwrap().seq, 9);
    let recs = all(&l);
    let kinds: Vec<_> = recs.iter().filter_map(|r| r.str("kind")).collect();
    assert_eq!(kinds, ["state_rebuilt", "state_rebuilt", "state_rebuilt"]);
    assert_eq!(recs[4].fields["records"], json!(4));
    assert!(recs[8].str("reason").unwrap().contains("checksum"));
    let r = l.verify(None).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!(r.recoveries, 3);
}

#[test]
fn log_shorter_than_state_is_refused_not_repaired() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..5 {
        l.append(fields(i)).unwrap();
    }
    let bytes = log_bytes(t.path());
    let cut = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    std::fs::write(t.path().join("ledger.jsonl"), &bytes[..cut]).unwrap();
    let err = l.append(fields(5)).unwrap_err().to_string();
    assert!(err.contains("shorter than its state"), "{err}");
    // Still refused on retry, and nothing was written.
    assert!(l.append(fields(5)).is_err());
    assert_eq!(log_bytes(t.path()), bytes[..cut]);
    let r = l.verify(None).unwrap();
    assert_eq!(
        r.first().map(|d| (d.kind, d.seq)),
        Some((DamageKind::Truncated, 4))
    );
}

#[test]
fn power_loss_before_sync_loses_only_unacknowledged_records_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..3 {
        l.append(fields(i)).unwrap();
    }
    let synced = std::fs::read(t.path().join("synced")).unwrap();
    let end3 = log_bytes(t.path()).len();
    assert_eq!(
        String::from_utf8_lossy(&synced)
            .trim()
            .parse::<usize>()
            .unwrap(),
        end3
    );
    l.append(fields(3)).unwrap();
    l.append(fields(4)).unwrap();
    // As if the machine lost power after records 3 and 4 were written but before their sync:
    // record 3 made it to disk, half of record 4 did, the synced length is still at record 2.
    let full = log_bytes(t.path());
    let end4 = end3 + full[end3..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let cut = end4 + (full.len() - end4) / 2;
    std::fs::write(t.path().join("ledger.jsonl"), &full[..cut]).unwrap();
    std::fs::write(t.path().join("synced"), &synced).unwrap();

    assert_eq!(l.append(fields(5)).unwrap().seq, 6);
    let recs = all(&l);
    assert_eq!(recs[4].str("kind"), Some("unsynced_tail_lost"));
    assert_eq!(recs[4].fields["expected_records"], json!(5));
    assert_eq!(recs[4].fields["found_records"], json!(4));
    assert_eq!(recs[5].str("kind"), Some("torn_tail"));
    assert_eq!(recs[5].fields["discarded_len"], json!(cut - end4));
    assert_eq!(recs[3].str("target"), Some("/p/3"));
    let r = l.verify(None).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!(r.recoveries, 2);
}

#[test]
fn edited_tip_is_refused_not_repaired() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..5 {
        l.append(fields(i)).unwrap();
    }
    let text = String::from_utf8(log_bytes(t.path())).unwrap();
    let edited = text.replace("/p/4", "/p/9");
    std::fs::write(t.path().join("ledger.jsonl"), &edited).unwrap();
    let err = l.append(fields(5)).unwrap_err().to_string();
    assert!(err.contains("chain mismatch at the tip"), "{err}");
    assert_eq!(log_bytes(t.path()), edited.as_bytes());
    let r = l.verify(None).unwrap();
    assert_eq!(
        r.first().map(|d| (d.kind, d.seq)),
        Some((DamageKind::Edited, 4))
    );
}

#[test]
fn a_lock_held_too_long_fails_the_append_instead_of_hanging() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path())
        .unwrap()
        .with_lock_timeout(Duration::from_millis(200));
    l.append(fields(0)).unwrap();
    // Another holder of the lock (a separate open file description, like another process).
    let other = std::fs::File::open(t.path().join("lock")).unwrap();
    other.lock().unwrap();
    let err = l.append(fields(1)).unwrap_err().to_string();
    assert!(err.contains("stayed locked"), "{err}");
    other.unlock().unwrap();
    // The abandoned waiter releases the lock it may have obtained; appends go on.
    assert_eq!(l.append(fields(1)).unwrap().seq, 1);
    assert_eq!(
        Ledger::open(t.path())
            .unwrap()
            .append(fields(2))
            .unwrap()
            .seq,
        2
    );
    assert!(l.verify(None).unwrap().intact);
}

#[test]
fn garbage_line_past_the_state_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    l.append(fields(0)).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(t.path().join("ledger.jsonl"))
        .unwrap()
        .write_all(b"{\"seq\":1}\n")
        .unwrap();
    let err = l.append(fields(1)).unwrap_err().to_string();
    assert!(err.contains("does not chain"), "{err}");
}

const CHILD_ENV: &str = "PATCHWORK_LEDGER_TEST_KILL_DIR";
const BIG_CHILD_ENV: &str = "PATCHWORK_LEDGER_TEST_BIG_KILL_DIR";

/// A writer killed with SIGKILL in the middle of one large `write` leaves a torn line on disk
/// (Linux stops a buffered write at a page boundary when a fatal signal arrives); the next append
/// cuts it off and records exactly what it discarded.
#[test]
fn writer_killed_inside_a_large_write_leaves_a_torn_line_that_is_recorded() {
    if let Ok(dir) = std::env::var(BIG_CHILD_ENV) {
        let l = Ledger::open(Path::new(&dir)).unwrap();
        let big = "z".repeat(32 << 20);
        loop {
            l.append(
                json!({"event": "outcome", "output": big})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .unwrap();
        }
    }
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..3 {
        l.append(fields(i)).unwrap();
    }
    let before = log_bytes(t.path()).len() as u64;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ledger_recovery::writer_killed_inside_a_large_write_leaves_a_torn_line_that_is_recorded",
            "--nocapture",
        ])
        .env(BIG_CHILD_ENV, t.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = t.path().join("ledger.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&log).unwrap().len() == before {
        assert!(Instant::now() < deadline, "child never started writing");
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        std::thread::sleep(Duration::from_micros(50));
    }
    child.kill().unwrap(); // SIGKILL while the 32 MiB write is under way
    child.wait().unwrap();
    let bytes = log_bytes(t.path());
    let torn = bytes.len() as u64 - before;
    assert!(
        torn > 0 && bytes.last() != Some(&b'\n'),
        "the write was not cut ({torn} bytes)"
    );

    assert_eq!(l.append(fields(3)).unwrap().seq, 4);
    let recs = all(&l);
    assert_eq!(recs[3].str("kind"), Some("torn_tail"));
    assert_eq!(recs[3].fields["discarded_len"], json!(torn));
    assert_eq!(recs[3].fields["offset"], json!(before));
    assert_eq!(
        recs[3].str("discarded_sha256"),
        Some(sha256_tag(&bytes[before as usize..]).as_str())
    );
    let r = l.verify(None).unwrap();
    assert!(r.intact, "{r:?}");
}

/// A writer process appending as fast as it can is killed with SIGKILL, several times; each time
/// the next append recovers (with a recovery record if the kill left anything behind) and the
/// ledger verifies.
#[test]
fn writer_killed_with_sigkill_mid_append() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let l = Ledger::open(Path::new(&dir)).unwrap();
        for i in 0.. {
            l.append(fields(i)).unwrap();
        }
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    let mut expected_min = 0;
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "ledger_recovery::writer_killed_with_sigkill_mid_append",
                "--nocapture",
            ])
            .env(CHILD_ENV, t.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let target = expected_min + 20 + round * 7;
        let deadline = Instant::now() + Duration::from_secs(60);
        while l.status().unwrap().records < target {
            assert!(Instant::now() < deadline, "child made no progress");
            assert!(child.try_wait().unwrap().is_none(), "child exited early");
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success());
        let a = l
            .append(
                json!({"event": "probe", "round": round})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .unwrap();
        assert!(a.seq >= target);
        expected_min = a.seq + 1;
        let r = l.verify(None).unwrap();
        assert!(r.intact, "round {round}: {r:?}");
        assert_eq!(r.records, a.seq + 1);
    }
    // Every recovery record explains itself.
    for r in all(&l)
        .iter()
        .filter(|r| r.event() == Some("ledger_recovery"))
    {
        assert!(
            matches!(r.str("kind"), Some("torn_tail" | "state_rollforward")),
            "{:?}",
            r.fields
        );
    }
}
