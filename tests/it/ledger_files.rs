//! Ledger file safety with real files: a log deleted while in use, state and synced-length
//! files replaced by symlinks, hard links to the ledger and its key (the history-rewrite
//! attack), and oversize lines. Each is refused or made harmless, and recorded.

use patchwork_gateway::ledger::record::build;
use patchwork_gateway::ledger::{DamageKind, Ledger, Record};
use serde_json::{Map, Value, json};
use std::io::Write;

use std::time::{Duration, Instant};

fn fields(i: u64) -> Map<String, Value> {
    json!({"event": "decision", "session": "s-f", "action": "command_execute",
           "target": format!("cmd {i}"), "risk": "none", "verdict": "allow", "rules": []})
    .as_object()
    .unwrap()
    .clone()
}

fn all(l: &Ledger) -> Vec<Record> {
    l.records().unwrap().map(Result::unwrap).collect()
}

fn recoveries(l: &Ledger) -> Vec<String> {
    all(l)
        .iter()
        .filter(|r| r.event() == Some("ledger_recovery"))
        .map(|r| r.str("kind").unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_log_deleted_while_in_use_fails_closed_and_restarts_with_a_record() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..3 {
        l.append(fields(i)).unwrap();
    }
    std::fs::remove_file(t.path().join("ledger.jsonl")).unwrap();
    // The next append notices before writing: refused, not lost in the unlinked inode.
    let err = l.append(fields(3)).unwrap_err().to_string();
    assert!(err.contains("deleted"), "{err}");
    let recs = all(&l);
    assert_eq!(recs.len(), 1, "the fresh log holds the recovery record");
    assert_eq!(recs[0].str("kind"), Some("ledger_lost"));
    assert_eq!(recs[0].fields["lost_records"], json!(3));
    // Later appends continue the fresh chain, which verifies.
    l.append(fields(4)).unwrap();
    assert_eq!(all(&l).len(), 2);
    let report = l.verify(None).unwrap();
    assert!(report.intact, "{:?}", report.damage);
    // Everyday neighbour: a second handle on the same folder sees the same file.
    let other = Ledger::open(t.path()).unwrap();
    other.append(fields(5)).unwrap();
    l.append(fields(6)).unwrap();
    assert_eq!(all(&l).len(), 4);
}

#[test]
fn a_log_replaced_by_another_file_is_not_appended_to_blindly() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    l.append(fields(0)).unwrap();
    let log = t.path().join("ledger.jsonl");
    std::fs::rename(&log, t.path().join("moved.jsonl")).unwrap();
    std::fs::write(&log, b"").unwrap();
    let err = l.append(fields(1)).unwrap_err().to_string();
    assert!(err.contains("replaced"), "{err}");
    assert_eq!(recoveries(&l), ["ledger_lost"]);
    // The moved file did not receive the record.
    let moved = std::fs::read_to_string(t.path().join("moved.jsonl")).unwrap();
    assert_eq!(moved.lines().count(), 1);
}

#[test]
fn state_and_synced_symlinks_are_never_written_through() {
    let t = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    l.append(fields(0)).unwrap();
    let victim_state = outside.path().join("victim-state");
    let victim_synced = outside.path().join("victim-synced");
    std::fs::write(&victim_state, b"precious\n").unwrap();
    std::fs::write(&victim_synced, b"precious\n").unwrap();
    for (name, victim) in [("state.json", &victim_state), ("synced", &victim_synced)] {
        let p = t.path().join(name);
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(victim, &p).unwrap();
    }
    // A fresh handle (like a new hook process) and the old one both append.
    let fresh = Ledger::open(t.path()).unwrap();
    fresh.append(fields(1)).unwrap();
    l.append(fields(2)).unwrap();
    assert_eq!(std::fs::read(&victim_state).unwrap(), b"precious\n");
    assert_eq!(std::fs::read(&victim_synced).unwrap(), b"precious\n");
    for name in ["state.json", "synced"] {
        let m = std::fs::symlink_metadata(t.path().join(name)).unwrap();
        assert!(m.file_type().is_file(), "{name} is a plain file again");
    }
    // The unusable state was rebuilt from the log, and that is on record.
    assert!(recoveries(&l).contains(&"state_rebuilt".to_string()));
    assert!(l.verify(None).unwrap().intact);
}

#[test]
fn a_symlinked_log_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("log");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, t.path().join("ledger.jsonl")).unwrap();
    let l = Ledger::open(t.path()).unwrap();
    let err = format!("{:#}", l.append(fields(0)).unwrap_err());
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"");
}

#[test]
fn a_hard_link_to_the_log_is_refused_and_recorded() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    l.append(fields(0)).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let link = elsewhere.path().join("copy.jsonl");
    std::fs::hard_link(t.path().join("ledger.jsonl"), &link).unwrap();
    let err = format!("{:#}", l.append(fields(1)).unwrap_err());
    assert!(err.contains("2 hard links"), "{err}");
    assert_eq!(recoveries(&l), ["hard_link"]);
    let report = l.verify(None).unwrap();
    assert!(!report.intact);
    assert!(report.damage.iter().any(|d| d.kind == DamageKind::Linked));
    // Removing the other name ends it: appends work again and verify is clean.
    std::fs::remove_file(&link).unwrap();
    l.append(fields(2)).unwrap();
    assert!(l.verify(None).unwrap().intact);
}

/// The history rewrite from the report: a process links the ledger, state, seals and seal key
/// into its own folder, deletes its refused call through the links, re-chains and rewrites.
/// The links themselves are refused at the next append and reported by verify, so the
/// rewrite cannot pass as intact.
#[test]
fn history_rewrite_through_hard_links_is_refused_and_reported() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("ledger");
    let l = Ledger::open(&dir).unwrap();
    let key = patchwork_gateway::ledger::SealKey::load_or_create(&l.default_key_path()).unwrap();
    for i in 0..3 {
        l.append(fields(i)).unwrap();
    }
    let mut refused = fields(3);
    refused.insert("verdict".into(), json!("deny"));
    l.append(refused).unwrap();
    l.seal(&key).unwrap();
    let attacker = tempfile::tempdir().unwrap();
    for (name, from) in [
        ("l", dir.join("ledger.jsonl")),
        ("s", dir.join("state.json")),
        ("x", dir.join("seals.jsonl")),
        ("k", home.path().join("keys/seal.key")),
    ] {
        std::fs::hard_link(from, attacker.path().join(name)).unwrap();
    }
    // Rewrite through the link: drop the refused record, re-chain the rest in place.
    let text = std::fs::read_to_string(attacker.path().join("l")).unwrap();
    let mut prev = patchwork_gateway::ledger::GENESIS.to_string();
    let mut out = Vec::new();
    for (seq, line) in text.lines().take(3).enumerate() {
        let mut v: Map<String, Value> = serde_json::from_str(line).unwrap();
        for k in ["v", "seq", "ts", "prev", "hash"] {
            v.remove(k);
        }
        let (mut bytes, hash) = build(v, seq as u64, 1, &prev).unwrap();
        bytes.push(b'\n');
        out.extend(bytes);
        prev = hash;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(attacker.path().join("l"))
        .unwrap();
    f.write_all(&out).unwrap();
    drop(f);
    // verify names every linked file; it does not call the ledger intact.
    let report = l.verify(Some(&key)).unwrap();
    assert!(!report.intact);
    let linked = report
        .damage
        .iter()
        .filter(|d| d.kind == DamageKind::Linked)
        .count();
    assert_eq!(linked, 4, "{:?}", report.damage);
    // The gateway refuses to go on appending to a ledger someone else can rewrite.
    let err = format!("{:#}", l.append(fields(9)).unwrap_err());
    assert!(
        err.contains("hard links") || err.contains("modified") || err.contains("chain"),
        "{err}"
    );
    // The key cannot be loaded while it has another name.
    let err = format!(
        "{:#}",
        patchwork_gateway::ledger::SealKey::load(&home.path().join("keys/seal.key")).unwrap_err()
    );
    assert!(err.contains("hard links"), "{err}");
}

#[test]
fn an_oversize_line_is_damage_and_the_next_append_records_its_cut() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    for i in 0..3 {
        l.append(fields(i)).unwrap();
    }
    // 64 MiB without a newline (sparse: costs no disk), appended past the tip.
    let log = t.path().join("ledger.jsonl");
    let len = std::fs::metadata(&log).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    let huge: u64 = 64 << 20;
    f.set_len(len + huge).unwrap();
    drop(f);
    let started = Instant::now();
    let report = l.verify(None).unwrap();
    assert!(!report.intact);
    assert!(started.elapsed() < Duration::from_secs(20));
    // The next append cuts it and writes the promised recovery record.
    l.append(fields(3)).unwrap();
    let recs = all(&l);
    let rec = recs
        .iter()
        .find(|r| r.event() == Some("ledger_recovery"))
        .expect("recovery record");
    assert_eq!(rec.str("kind"), Some("oversize_tail"));
    assert_eq!(rec.fields["discarded_len"], json!(huge));
    assert!(l.verify(None).unwrap().intact);
    assert!(std::fs::metadata(&log).unwrap().len() < 1 << 20);
}

#[test]
fn an_oversize_line_inside_the_log_is_reported_where_it_is() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    l.append(fields(0)).unwrap();
    let log = t.path().join("ledger.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let line = vec![b'x'; 8 << 20];
    f.write_all(&line).unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    let report = l.verify(None).unwrap();
    assert!(!report.intact);
    assert_eq!(report.records, 2);
    let first = report.first().unwrap();
    assert_eq!(first.seq, 1, "{first:?}");
    // Past the tip, it is cut off by the next append, on record.
    l.append(fields(1)).unwrap();
    assert_eq!(recoveries(&l), ["oversize_tail"]);
    assert!(l.verify(None).unwrap().intact);
}
