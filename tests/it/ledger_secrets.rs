//! Secrets never reach the ledger's bytes; floats become strings; reserved fields are refused;
//! the `log` command's filters and output.

use crate::hook_common::*;
use patchwork_gateway::ledger::redact::marker;
use patchwork_gateway::ledger::{Ledger, SealKey};
use serde_json::{Map, Value, json};
use std::path::Path;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Every file in the ledger folder, concatenated.
fn all_bytes(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        out.push_str(&String::from_utf8_lossy(
            &std::fs::read(e.unwrap().path()).unwrap(),
        ));
    }
    out
}

#[test]
fn secrets_in_any_field_never_reach_the_ledger_bytes() {
    let secrets = [
        "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
        "sk-proj-Qw3Er4Ty5Ui6Op7As8Df9Gh0Jk",
        "AKIAZ7XQ3MPLEW2VNB4T",
        "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
        "xoxb-2222222222-ZZZZyyyyXXXX",
        "AIzaSyD-9tSrke72PouQMnMX_7ocU5vCDpoU3aQ",
        "sk_live_51HxYzAbCdEfGhIjKlMnOp",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVlLWhlcmU",
        "Sup3rS3cret!",
        "hunter2hunter2",
        "mysqlpw99",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    ];
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(&t.path().join("ledger")).unwrap();
    l.append(obj(json!({
        "event": "decision",
        "target": format!("curl -H 'Authorization: Bearer {}' https://api.x", secrets[0]),
        "input": {
            "command": format!("OPENAI_API_KEY={} AWS_ACCESS_KEY_ID={} ./deploy --password={}", secrets[1], secrets[2], secrets[9]),
            "env": {"GITHUB_TOKEN": secrets[3], "slack": [secrets[4], {"deep": secrets[5]}]},
            "url": format!("postgres://admin:{}@db.internal/app", secrets[8]),
            "stripe": secrets[6],
            "headers": {"Authorization": format!("Bearer {}", secrets[7])},
            "shell": format!("mysql -u root -p{} app", secrets[10]),
            "file": format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n", secrets[11]),
        },
        "rules": [format!("note {}", secrets[3])],
    })))
    .unwrap();
    let key = SealKey::load_or_create(&l.default_key_path()).unwrap();
    l.seal(&key).unwrap();
    let bytes = all_bytes(&t.path().join("ledger"));
    for s in secrets {
        assert!(
            !bytes.contains(s),
            "secret {s:?} reached the ledger: {bytes}"
        );
    }
    // Markers carry the first 8 hex of the secret's SHA-256, so equal secrets correlate.
    assert!(bytes.contains(&marker(secrets[3])));
    assert!(bytes.contains(&marker(secrets[8])));
    assert!(
        bytes.contains("Authorization: Bearer [REDACTED:"),
        "{bytes}"
    );
    assert!(l.verify(Some(&key)).unwrap().intact);
}

#[test]
fn floats_become_strings_and_reserved_fields_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(t.path()).unwrap();
    l.append(obj(
        json!({"event": "outcome", "ratio": 0.25, "big": 18446744073709551615u64, "n": 3}),
    ))
    .unwrap();
    let rec = l.records().unwrap().next().unwrap().unwrap();
    assert_eq!(rec.fields["ratio"], json!("0.25"));
    assert_eq!(rec.fields["big"], json!("18446744073709551615"));
    assert_eq!(rec.fields["n"], json!(3));
    for k in ["seq", "ts", "prev", "hash", "v"] {
        let err = l.append(obj(json!({"event": "x", k: 1}))).unwrap_err();
        assert!(err.to_string().contains(&format!("`{k}`")), "{err}");
    }
    assert_eq!(l.status().unwrap().records, 1);
    // Absurdly deep input is kept as text instead of breaking the ledger for later appends.
    let mut deep = json!("x");
    for _ in 0..500 {
        deep = json!({"d": deep});
    }
    l.append(obj(json!({"event": "decision", "input": deep})))
        .unwrap();
    l.append(obj(json!({"event": "decision"}))).unwrap();
    let r = l.verify(None).unwrap();
    assert!(r.intact && r.records == 3, "{r:?}");
}

fn cli(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = gateway_at(home).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

fn seqs(json_lines: &str) -> Vec<u64> {
    json_lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn log_command_filters_and_formats() {
    let t = tempfile::tempdir().unwrap();
    let l = Ledger::open(&t.path().join("ledger")).unwrap();
    let rows = [
        ("sess-aaaa-1111", "file_read", "low", "allow"),
        ("sess-aaaa-1111", "command_execute", "high", "deny"),
        ("sess-bbbb-2222", "command_execute", "critical", "deny"),
        ("sess-bbbb-2222", "file_write", "medium", "ask"),
        ("sess-bbbb-2222", "file_read", "none", "allow"),
    ];
    for (session, action, risk, verdict) in rows {
        l.append(obj(json!({"event": "decision", "session": session, "door": "hook", "action": action,
                             "risk": risk, "verdict": verdict, "target": "/w/x", "rules": ["r.a", "r.b"]})))
            .unwrap();
    }
    let home = t.path();
    assert_eq!(seqs(&cli(home, &["log", "--jsonl"]).1), [0, 1, 2, 3, 4]);
    assert_eq!(
        seqs(&cli(home, &["log", "--jsonl", "--risk", "high"]).1),
        [1, 2]
    );
    assert_eq!(
        seqs(&cli(home, &["log", "--jsonl", "--session", "latest"]).1),
        [2, 3, 4]
    );
    assert_eq!(
        seqs(&cli(home, &["log", "--jsonl", "--action", "command_execute"]).1),
        [1, 2]
    );
    assert_eq!(
        seqs(&cli(home, &["log", "--jsonl", "--limit", "2"]).1),
        [3, 4]
    );
    assert_eq!(
        seqs(&cli(home, &["log", "--jsonl", "--since", "2000-01-01T00:00:00Z"]).1).len(),
        5
    );
    assert!(
        cli(home, &["log", "--jsonl", "--since", "2999-01-01T00:00:00Z"])
            .1
            .is_empty()
    );

    let (code, table, _) = cli(home, &["log", "--risk", "critical"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("TIME") && lines[0].contains("VERDICT"));
    for cell in [
        "sess-bbb",
        "hook",
        "command_execute",
        "deny",
        "critical",
        "/w/x",
        "r.a,r.b",
    ] {
        assert!(lines[1].contains(cell), "{cell} missing in {}", lines[1]);
    }

    let (code, _, err) = cli(home, &["log", "--risk", "spicy"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown risk"), "{err}");
    let (code, _, err) = cli(home, &["log", "--since", "yesterday"]);
    assert_ne!(code, 0);
    assert!(err.contains("RFC 3339"), "{err}");
}
