//! Signed checkpoints and inclusion proofs through the real binary: proofs verify offline and
//! fail when one byte changes; the history-rewrite attack passes plain `verify` only when no
//! checkpoint covers it.

use crate::evidence_common::{Home, text};
use serde_json::Value;

#[test]
fn checkpoint_is_a_c2sp_signed_note_and_is_recorded() {
    let h = Home::new();
    h.append(5);
    let out = h.ok(&["checkpoint"]);
    assert!(out.contains("checkpoint 5 records"), "{out}");
    let note =
        std::fs::read_to_string(h.ledger_dir().join("checkpoints/00000000000000000005.note"))
            .unwrap();
    let vkey = std::fs::read_to_string(h.pubkey()).unwrap();
    let name = vkey.split('+').next().unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], name, "origin is the key name");
    assert_eq!(lines[1], "5");
    assert!(
        lines[3].starts_with("tip sha256:") && lines[4].starts_with("time "),
        "{note}"
    );
    assert_eq!(lines[5], "");
    assert!(lines[6].starts_with(&format!("\u{2014} {name} ")), "{note}");
    // The checkpoint's record follows; a second checkpoint with nothing new signs nothing.
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(h.ledger_dir().join("ledger.jsonl"))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["event"], "ledger.checkpoint");
    assert_eq!(last["size"], 5);
    h.ok(&["checkpoint"]);
    assert_eq!(
        std::fs::read_dir(h.ledger_dir().join("checkpoints"))
            .unwrap()
            .count(),
        2
    );
    let v: Value = serde_json::from_str(&h.ok(&["verify", "--json"])).unwrap();
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["checkpoints"]["valid"], 1, "{v}");
    assert_eq!(v["anchoring"]["checkpoint"][0], 5, "{v}");
}

#[test]
fn inclusion_proofs_verify_offline_and_fail_on_one_changed_byte() {
    let h = Home::new();
    h.append(37);
    h.ok(&["checkpoint"]);
    h.append(3);
    let pubkey = h.pubkey();
    let dir = h.tmp.path();
    for seq in [0u64, 17, 36] {
        let file = dir.join(format!("proof-{seq}.json"));
        h.ok(&["prove", &seq.to_string(), "-o", file.to_str().unwrap()]);
        // Offline: another home, no ledger, only the proof and the public key.
        let other = Home::new();
        let ok = other.run(&[
            "verify",
            "--proof",
            file.to_str().unwrap(),
            "--pubkey",
            pubkey.to_str().unwrap(),
        ]);
        assert!(ok.status.success(), "{}", text(&ok));
        assert!(!other.pw.exists(), "offline verification created a home");

        let proof: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let record = proof["record"].as_str().unwrap();
        let mut tampered = Vec::new();
        // One byte of the record's content (its target), of a proof hash, of the signed root.
        let at = record.find(&format!("echo {seq}")).unwrap() + 5;
        let mut r = record.as_bytes().to_vec();
        r[at] = if r[at] == b'9' { b'8' } else { r[at] + 1 };
        let mut p = proof.clone();
        p["record"] = Value::String(String::from_utf8(r).unwrap());
        tampered.push(("record byte", p));
        if !proof["proof"].as_array().unwrap().is_empty() {
            let mut p = proof.clone();
            let h0 = p["proof"][0].as_str().unwrap().to_string();
            let flipped = if h0.starts_with('A') {
                h0.replacen('A', "B", 1)
            } else {
                format!("A{}", &h0[1..])
            };
            p["proof"][0] = Value::String(flipped);
            tampered.push(("proof hash", p));
        }
        let mut p = proof.clone();
        p["seq"] = Value::from(seq + 1);
        tampered.push(("seq", p));
        let note = proof["checkpoint"].as_str().unwrap();
        let mut p = proof.clone();
        p["checkpoint"] = Value::String(note.replacen("\n37\n", "\n38\n", 1));
        tampered.push(("checkpoint size", p));
        for (what, p) in tampered {
            let f = dir.join("bad.json");
            std::fs::write(&f, serde_json::to_string(&p).unwrap()).unwrap();
            let out = other.run(&[
                "verify",
                "--proof",
                f.to_str().unwrap(),
                "--pubkey",
                pubkey.to_str().unwrap(),
            ]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{what} changed but the proof passed: {}",
                text(&out)
            );
        }
        // Another key does not vouch for this checkpoint.
        let stranger = Home::new();
        let out = other.run(&[
            "verify",
            "--proof",
            file.to_str().unwrap(),
            "--pubkey",
            stranger.pubkey().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    }
    // A record the newest checkpoint does not cover has no proof yet.
    let out = h.run(&["prove", "39"]);
    assert!(
        !out.status.success() && text(&out).contains("not covered"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_rewrite_covered_by_a_checkpoint_fails_plain_verify() {
    let h = Home::new();
    h.append(20);
    h.ok(&["seal"]);
    h.ok(&["checkpoint"]);
    h.append(5);
    h.rewrite_deleting(7, false);
    let out = h.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("checkpoint 20"), "{}", text(&out));
    assert!(text(&out).contains("rewritten"), "{}", text(&out));
    // Refusing to sign over a rewritten history is not required (the key holder can), but the
    // stored tree no longer matches and the next checkpoint is refused.
    let out = h.run(&["checkpoint"]);
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn a_rewrite_no_checkpoint_covers_passes_plain_verify() {
    // The limit of local evidence: after the attacker also deletes the local checkpoints,
    // plain verify has nothing outside the ledger to compare with (the witness tests show the
    // fix).
    let h = Home::new();
    h.append(20);
    h.ok(&["checkpoint"]);
    h.rewrite_deleting(7, true);
    let out = h.run(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn truncation_behind_a_checkpoint_is_caught() {
    let h = Home::new();
    h.append(10);
    h.ok(&["checkpoint"]);
    let dir = h.ledger_dir();
    let text_ = std::fs::read_to_string(dir.join("ledger.jsonl")).unwrap();
    let kept: Vec<&str> = text_.lines().take(6).collect();
    std::fs::write(dir.join("ledger.jsonl"), kept.join("\n") + "\n").unwrap();
    std::fs::remove_file(dir.join("state.json")).unwrap();
    let out = h.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("covers 10 records but the ledger holds 6"),
        "{}",
        text(&out)
    );
}

#[test]
fn hooks_checkpoint_automatically_every_n_records() {
    let s = crate::hook_common::Sandbox::new();
    for i in 0..7 {
        let p = s.payload("PreToolUse", serde_json::json!({"tool_name": "Bash", "tool_input": {"command": format!("echo {i}")}}));
        let mut c = s.cmd(&["hook", "PreToolUse"]);
        c.env("PATCHWORK_CHECKPOINT_EVERY", "3")
            .env("PATCHWORK_CHECKPOINT_MINUTES", "0");
        let out = crate::hook_common::run_with_stdin(c, &p);
        assert!(out.status.success(), "{}", text(&out));
    }
    let mut sizes: Vec<String> = std::fs::read_dir(s.pw.join("ledger/checkpoints"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".note"))
        .collect();
    sizes.sort();
    // 3 decisions → checkpoint of 3 (+ its record), 3 more → of 7 (+ record), one more: not due.
    assert_eq!(
        sizes,
        ["00000000000000000003.note", "00000000000000000007.note"]
    );
    let out = s.cmd(&["verify"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
