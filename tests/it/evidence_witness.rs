//! The witness as a real process: it cosigns only consistent checkpoints, refuses peers of
//! the wrong uid (a client really running as another user), and `verify --witness` catches
//! rewrites, deletions and truncations even when they were re-sealed and re-signed with the
//! keys an agent can read.

use crate::evidence_common::{Home, Witness, text};
use serde_json::Value;
use std::os::unix::process::CommandExt;

/// An unprivileged uid for the "other user" side.
const NOBODY: u32 = 65534;

#[test]
fn witness_cosigns_consistent_checkpoints_and_verify_matches() {
    let h = Home::new();
    h.append(10);
    let w = Witness::start(0, &h.pubkey());
    let out = h.ok(&["checkpoint", "--witness", w.socket()]);
    assert!(out.contains("witnessed"), "{out}");
    h.append(7);
    h.ok(&["checkpoint", "--witness", w.socket()]);
    let local = std::fs::read_to_string(
        h.ledger_dir()
            .join("checkpoints/00000000000000000018.witnessed"),
    )
    .unwrap();
    let vkey = std::fs::read_to_string(w.dir.join("witness.vkey")).unwrap();
    let wname = vkey.split('+').next().unwrap();
    assert!(local.contains(&format!("\u{2014} {wname} ")), "{local}");
    for target in [w.socket(), w.dir.to_str().unwrap()] {
        let v: Value =
            serde_json::from_str(&h.ok(&["verify", "--json", "--witness", target])).unwrap();
        assert_eq!(v["intact"], true, "{v}");
        assert_eq!(v["witness"]["witnessed_size"], 18, "{v}");
        assert_eq!(v["witness"]["checkpoints"], 2, "{v}");
        assert_eq!(v["anchoring"]["witnessed"][0], 18, "{v}");
    }
    // A witness that holds nothing from this ledger's key is no evidence (a replaced key).
    let stranger = Home::new();
    stranger.append(2);
    stranger.pubkey();
    let out = stranger.run(&["verify", "--witness", w.socket()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("holds no checkpoint signed by"),
        "{}",
        text(&out)
    );
    let status = h.ok(&["status"]);
    assert!(
        status.contains("witnessed 18") && status.contains("witness backlog 0"),
        "{status}"
    );
}

#[test]
fn a_rewrite_resealed_and_resigned_with_the_agents_keys_is_caught_by_the_witness() {
    let h = Home::new();
    h.append(12);
    h.ok(&["seal"]);
    let w = Witness::start(0, &h.pubkey());
    h.ok(&["checkpoint", "--witness", w.socket()]);
    h.append(4);
    // The attacker deletes record 5, re-chains, drops the local checkpoints, re-seals with the
    // HMAC key and signs a fresh checkpoint with the checkpoint key (both readable to it).
    h.rewrite_deleting(5, true);
    h.ok(&["checkpoint"]);
    let plain = h.run(&["verify"]);
    assert_eq!(
        plain.status.code(),
        Some(0),
        "local evidence alone cannot see it: {}",
        text(&plain)
    );
    // The witness refuses the rewritten history…
    let out = h.run(&["checkpoint", "--witness", w.socket()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not consistent"), "{}", text(&out));
    // …and verify against it names the first diverging size, through the socket or the folder.
    for target in [w.socket(), w.dir.to_str().unwrap()] {
        let out = h.run(&["verify", "--witness", target]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains("first diverging size 12"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn a_forged_consistency_proof_sent_straight_to_the_witness_is_refused() {
    // The agent talks to the socket itself: a proof with one flipped byte, a proof from a size
    // the witness does not hold, and no proof at all are refused; the honest request then works.
    use patchwork_gateway::ledger::checkpoint;
    use patchwork_gateway::ship::witness;
    let h = Home::new();
    h.append(6);
    let w = Witness::start(0, &h.pubkey());
    h.ok(&["checkpoint", "--witness", w.socket()]);
    h.append(9);
    h.ok(&["checkpoint"]);
    let dir = h.ledger_dir();
    let (held, _) = checkpoint::latest_witnessed(&dir).unwrap().unwrap();
    let newest = checkpoint::latest(&dir).unwrap().unwrap();
    assert!(newest.size > held.size && !newest.witnessed);
    let proof = checkpoint::consistency(&dir, held.size, newest.size).unwrap();
    assert!(!proof.is_empty());
    let mut forged = proof.clone();
    let mut bytes = base64_decode(&forged[0]);
    bytes[0] ^= 1;
    forged[0] = base64_encode(&bytes);
    let socket = w.socket.clone();
    let ask = |old: u64, proof: &[String]| {
        witness::request(&socket, &witness::add_request(old, proof, &newest.note)).unwrap()
    };
    let (code, body) = ask(held.size, &forged);
    assert_eq!(code, 422, "{body}");
    let (code, body) = ask(held.size, &[]);
    assert_eq!(code, 422, "{body}");
    let (code, body) = ask(0, &proof);
    assert_eq!(code, 409, "{body}");
    assert_eq!(body.trim(), held.size.to_string());
    let (code, body) = ask(held.size, &proof);
    assert_eq!(code, 200, "{body}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn truncation_and_deletion_are_caught_by_the_witness() {
    let h = Home::new();
    h.append(9);
    let w = Witness::start(0, &h.pubkey());
    h.ok(&["checkpoint", "--witness", w.socket()]);
    let dir = h.ledger_dir();
    let all = std::fs::read_to_string(dir.join("ledger.jsonl")).unwrap();
    let kept: Vec<&str> = all.lines().take(4).collect();
    std::fs::write(dir.join("ledger.jsonl"), kept.join("\n") + "\n").unwrap();
    for f in ["state.json", "synced"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::remove_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::remove_dir_all(dir.join("tree")).unwrap();
    assert_eq!(h.run(&["verify"]).status.code(), Some(0));
    let out = h.run(&["verify", "--witness", w.socket()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("has only 4"), "{}", text(&out));
    // A smaller checkpoint is a rollback to the witness.
    h.ok(&["checkpoint"]);
    let out = h.run(&["checkpoint", "--witness", w.socket()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn witness_refuses_a_peer_of_the_wrong_uid() {
    // The client really runs as another user (setuid in the child), against a witness that
    // allows only root, then against one that allows that user.
    let h = Home::new();
    h.append(3);
    let pubkey = h.pubkey();
    chown_tree(&h.pw, NOBODY);
    let as_nobody = |w: &Witness| {
        let mut c = h.cmd(&["checkpoint", "--witness", w.socket()]);
        // SAFETY: setgid/setuid are async-signal-safe and run in the forked child only.
        unsafe {
            c.pre_exec(|| {
                if libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c.output().unwrap()
    };
    let root_only = Witness::start(0, &pubkey);
    let out = as_nobody(&root_only);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("peer uid {NOBODY} is not allowed")),
        "{}",
        text(&out)
    );
    assert!(
        !root_only.dir.join("logs").exists(),
        "a refused peer's checkpoint was stored"
    );

    let allows_nobody = Witness::start(NOBODY, &pubkey);
    let out = as_nobody(&allows_nobody);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("witnessed"), "{}", text(&out));
}

fn chown_tree(p: &std::path::Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
    // The temp folder above the home must be traversable.
    if let Some(parent) = p.parent() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn witness_install_writes_a_unit_with_instructions() {
    let h = Home::new();
    let out_dir = h.tmp.path().join("unit");
    let out = h.ok(&[
        "witness",
        "install",
        "--allow-uid",
        "1000",
        "--output",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.contains("systemctl enable --now patchwork-witness"),
        "{out}"
    );
    let unit = std::fs::read_to_string(out_dir.join("patchwork-witness.service")).unwrap();
    assert!(unit.contains("User=patchwork-witness"), "{unit}");
    assert!(
        unit.contains("witness serve --socket /run/patchwork-witness/witness.sock"),
        "{unit}"
    );
    assert!(unit.contains("--allow-uid 1000 --log-key"), "{unit}");
    let vkey = std::fs::read_to_string(out_dir.join("patchwork-log.vkey")).unwrap();
    assert_eq!(vkey, h.ok(&["keys", "export", "--public"]));
}
