//! Every kind of tampering is detected by `verify`, with the right kind and seq; the CLI's exit
//! codes follow.

use crate::hook_common::*;
use patchwork_gateway::ledger::record::build;
use patchwork_gateway::ledger::{DamageKind, Ledger, SealKey, VerifyReport};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

fn fields(i: u64) -> Map<String, Value> {
    json!({"event": "decision", "session": "s-1", "door": "hook", "action": "command_execute",
           "target": format!("echo {i}"), "risk": "low", "verdict": "allow", "rules": ["r.echo"]})
    .as_object()
    .unwrap()
    .clone()
}

/// A home with `n` records, sealed after `sealed_at` records (if given).
fn home_with(n: u64, sealed_at: Option<u64>) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ledger");
    let l = Ledger::open(&dir).unwrap();
    let key = SealKey::load_or_create(&l.default_key_path()).unwrap();
    for i in 0..n {
        if sealed_at == Some(i) {
            l.seal(&key).unwrap();
        }
        assert_eq!(l.append(fields(i)).unwrap().seq, i);
    }
    if sealed_at == Some(n) {
        l.seal(&key).unwrap();
    }
    (t, dir)
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ledger.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn put_lines(dir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join("ledger.jsonl"), text).unwrap();
}

fn verify(dir: &Path) -> VerifyReport {
    let l = Ledger::open(dir).unwrap();
    let key = SealKey::load(&l.default_key_path()).unwrap();
    l.verify(Some(&key)).unwrap()
}

fn first(dir: &Path) -> (DamageKind, u64) {
    let r = verify(dir);
    assert!(!r.intact, "tampering not detected: {r:?}");
    let d = r.first().unwrap();
    (d.kind, d.seq)
}

/// Re-encodes a stored line with new `seq`/`prev` (and content edits), with a valid own hash.
fn forge(
    line: &str,
    seq: u64,
    prev: &str,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> (String, String) {
    let mut m: Map<String, Value> = serde_json::from_str(line).unwrap();
    let ts = m["ts"].as_i64().unwrap();
    for k in ["v", "seq", "ts", "prev", "hash"] {
        m.remove(k);
    }
    edit(&mut m);
    let (bytes, hash) = build(m, seq, ts, prev).unwrap();
    (String::from_utf8(bytes).unwrap(), hash)
}

fn hash_of(line: &str) -> String {
    serde_json::from_str::<Value>(line).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn intact_ledger_verifies_and_reports_the_unsealed_tail() {
    let (_t, dir) = home_with(20, Some(12));
    let r = verify(&dir);
    assert!(r.intact, "{r:?}");
    assert_eq!((r.records, r.verified, r.seals, r.seals_ok), (20, 20, 1, 1));
    assert_eq!((r.sealed, r.unsealed_tail), (12, 8));
    assert_eq!(r.tip, hash_of(lines(&dir).last().unwrap()));
}

#[test]
fn edited_record_is_found() {
    let (_t, dir) = home_with(20, None);
    let mut ls = lines(&dir);
    ls[7] = ls[7].replace("echo 7", "echo 8");
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Edited, 7));
}

#[test]
fn edited_and_rehashed_record_is_found() {
    let (_t, dir) = home_with(20, None);
    let mut ls = lines(&dir);
    let prev = hash_of(&ls[6]);
    ls[7] = forge(&ls[7], 7, &prev, |m| {
        m.insert("verdict".into(), json!("deny"));
    })
    .0;
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Edited, 7));
}

#[test]
fn non_canonical_rewrite_is_an_edit() {
    let (_t, dir) = home_with(5, None);
    let mut ls = lines(&dir);
    ls[2] = ls[2].replacen(",", ", ", 1);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Edited, 2));
}

#[test]
fn deleted_records_are_found() {
    let (_t, dir) = home_with(20, None);
    let mut ls = lines(&dir);
    ls.drain(7..9);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Deleted, 7));
    let mut ls = lines(&dir);
    ls.remove(0);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Deleted, 0));
}

#[test]
fn inserted_records_are_found() {
    // A foreign line.
    let (_t, dir) = home_with(20, None);
    let orig = lines(&dir);
    let mut ls = orig.clone();
    ls.insert(7, r#"{"event":"decision","note":"planted"}"#.into());
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Inserted, 7));
    // A well-formed record claiming seq 7 and chaining to 6: the original 7 then collides.
    let mut ls = orig.clone();
    let forged = forge(&orig[7], 7, &hash_of(&orig[6]), |m| {
        m.insert("target".into(), json!("echo planted"));
    });
    ls.insert(7, forged.0);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Inserted, 7));
    // A copy of a later record.
    let mut ls = orig.clone();
    ls.insert(7, orig[15].clone());
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Inserted, 7));
    // Before the first record.
    let mut ls = orig;
    ls.insert(0, r#"{"seq":0}"#.into());
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Inserted, 0));
}

#[test]
fn reordered_records_are_found() {
    let (_t, dir) = home_with(20, None);
    let orig = lines(&dir);
    let mut ls = orig.clone();
    ls.swap(7, 8);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Reordered, 7));
    // A record moved earlier by several places.
    let mut ls = orig.clone();
    let moved = ls.remove(12);
    ls.insert(5, moved);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Reordered, 5));
    // The last two swapped.
    let mut ls = orig;
    ls.swap(18, 19);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Reordered, 18));
}

#[test]
fn truncation_behind_a_seal_is_found() {
    let (_t, dir) = home_with(20, Some(16));
    let mut ls = lines(&dir);
    ls.truncate(10);
    put_lines(&dir, &ls);
    // Without the state file, only the seal knows the ledger was longer.
    std::fs::remove_file(dir.join("state.json")).unwrap();
    let r = verify(&dir);
    assert_eq!(r.damage.len(), 1, "{r:?}");
    let d = r.first().unwrap();
    assert_eq!((d.kind, d.seq), (DamageKind::Truncated, 10));
    assert!(d.detail.contains("seal #0"), "{}", d.detail);
}

#[test]
fn truncation_is_also_caught_by_the_state_file() {
    let (_t, dir) = home_with(20, None);
    let mut ls = lines(&dir);
    ls.truncate(19);
    put_lines(&dir, &ls);
    assert_eq!(first(&dir), (DamageKind::Truncated, 19));
}

#[test]
fn history_rewritten_under_a_seal_is_found() {
    let (_t, dir) = home_with(20, Some(15));
    let orig = lines(&dir);
    let mut ls = orig[..5].to_vec();
    let mut prev = hash_of(&orig[4]);
    for (i, line) in orig.iter().enumerate().skip(5) {
        let (l, h) = forge(line, i as u64, &prev, |m| {
            if i == 5 {
                m.insert("verdict".into(), json!("deny"));
            }
        });
        ls.push(l);
        prev = h;
    }
    put_lines(&dir, &ls);
    std::fs::remove_file(dir.join("state.json")).unwrap();
    assert_eq!(first(&dir), (DamageKind::Rewritten, 14));
}

#[test]
fn torn_tail_is_reported() {
    let (_t, dir) = home_with(5, None);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("ledger.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"event\":\"deci").unwrap();
    assert_eq!(first(&dir), (DamageKind::TornTail, 5));
}

#[test]
fn forged_or_foreign_seals_are_bad() {
    let (_t, dir) = home_with(10, Some(10));
    let seals = dir.join("seals.jsonl");
    let orig = std::fs::read_to_string(&seals).unwrap();
    // Claim more records under the old MAC.
    std::fs::write(&seals, orig.replace("\"count\":10", "\"count\":9")).unwrap();
    assert_eq!(first(&dir), (DamageKind::BadSeal, 9));
    // A seal made with another key.
    std::fs::write(&seals, &orig).unwrap();
    let other = tempfile::tempdir().unwrap();
    let k2 = SealKey::load_or_create(&other.path().join("k")).unwrap();
    Ledger::open(&dir).unwrap().seal(&k2).unwrap();
    let r = verify(&dir);
    assert_eq!((r.seals, r.seals_ok), (2, 1));
    assert_eq!(r.first().unwrap().kind, DamageKind::BadSeal);
    // Without the key, seals cannot be checked and verify does not claim they are fine.
    std::fs::write(&seals, &orig).unwrap();
    let r = Ledger::open(&dir).unwrap().verify(None).unwrap();
    assert!(!r.intact);
    assert_eq!(r.first().unwrap().kind, DamageKind::BadSeal);
}

fn cli(home: &Path, args: &[&str]) -> (i32, String) {
    let out = gateway_at(home).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), stdout(&out))
}

#[test]
fn verify_command_exit_codes() {
    let (t, dir) = home_with(8, None);
    let (code, out) = cli(t.path(), &["seal"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("sealed 8 records"), "{out}");
    let (code, out) = cli(t.path(), &["verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("unsealed tail 0"), "{out}");

    let mut ls = lines(&dir);
    ls[3] = ls[3].replace("echo 3", "echo 4");
    put_lines(&dir, &ls);
    let (code, out) = cli(t.path(), &["verify", "--json"]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intact"], json!(false));
    assert_eq!(report["damage"][0]["kind"], json!("edited"));
    assert_eq!(report["damage"][0]["seq"], json!(3));

    // An unreadable key: the ledger cannot be verified at all.
    std::fs::write(t.path().join("keys/seal.key"), b"short").unwrap();
    let (code, _) = cli(t.path(), &["verify"]);
    assert_eq!(code, 2);

    // A home that has no ledger yet verifies as empty and is not created.
    let fresh = tempfile::tempdir().unwrap();
    let (code, out) = cli(&fresh.path().join("none"), &["verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(!fresh.path().join("none").exists());
}
