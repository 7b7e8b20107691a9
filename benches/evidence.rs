//! Evidence benchmark (plain timing harness): checkpoints over a 1,000,000-record ledger (the
//! first one builds the stored tree, later ones only hash what was appended), inclusion proofs,
//! and shipping as OTLP/JSON to a local HTTP receiver. Run with `cargo bench --bench evidence`.

use patchwork_gateway::ledger::Ledger;
use patchwork_gateway::ledger::checkpoint;
use patchwork_gateway::ledger::note::{NoteKey, TYPE_ED25519};
use patchwork_gateway::ledger::record::{GENESIS, build};
use patchwork_gateway::ship::cursor::Cursor;
use patchwork_gateway::ship::otlp::{self, Endpoint};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpListener;
use std::time::Instant;

const RECORDS: u64 = 1_000_000;

fn decision(i: u64) -> Map<String, Value> {
    json!({
        "event": "decision", "session": "3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f", "agent": "claude-code",
        "door": "hook", "tool": "Bash", "action": "command_execute",
        "target": format!("cargo test --workspace -- --test-threads=2 ledger::case_{i}"),
        "risk": "low", "flags": [], "verdict": "allow", "rules": ["default.allow"],
        "reason": "no rule matched; default effect allow",
        "policy": "sha256:9b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
    })
    .as_object()
    .expect("object")
    .clone()
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ledger");
    std::fs::create_dir_all(&dir).expect("dir");
    let t = Instant::now();
    {
        let mut w = BufWriter::new(std::fs::File::create(dir.join("ledger.jsonl")).expect("log"));
        let mut prev = GENESIS.to_string();
        for i in 0..RECORDS {
            let (line, hash) =
                build(decision(i), i, 1_700_000_000_000_000 + i as i64, &prev).expect("build");
            w.write_all(&line).expect("write");
            w.write_all(b"\n").expect("write");
            prev = hash;
        }
    }
    println!(
        "wrote {RECORDS} records in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let ledger = Ledger::open(&dir).expect("open");
    let key = NoteKey::generate("bench/log", TYPE_ED25519).expect("key");

    let t = Instant::now();
    let c = ledger.checkpoint(&key).expect("checkpoint");
    println!(
        "first checkpoint (builds the tree over {} records): {:.2} s",
        c.size,
        t.elapsed().as_secs_f64()
    );

    for added in [256u64, 1000, 10_000] {
        for i in 0..added {
            ledger.append_unsynced(decision(i)).expect("append");
        }
        ledger.sync_all().expect("sync");
        let t = Instant::now();
        let c = ledger.checkpoint(&key).expect("checkpoint");
        println!(
            "incremental checkpoint over {} records (+{added}): {:.1} ms",
            c.size,
            t.elapsed().as_secs_f64() * 1000.0
        );
    }

    let mut times = Vec::new();
    for k in 0..200u64 {
        let seq = (k * 7919 * 104_729) % RECORDS;
        let t = Instant::now();
        let p = checkpoint::prove(&dir, seq).expect("prove");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(p.seq, seq);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "prove: p50 {:.3} ms, max {:.3} ms (200 proofs, {} hashes each at most)",
        times[100],
        times[199],
        64 - RECORDS.leading_zeros()
    );

    // `prove` as a command: process start, the newest checkpoint, O(log n) tree reads, the
    // record; against the start of the same binary doing nothing (`--version`).
    let home = tmp.path();
    let command = |args: &[&str]| {
        let mut times = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_patchwork-gateway"))
                .arg("--home")
                .arg(home)
                .args(args)
                .output()
                .expect("run");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(out.status.success(), "{args:?} failed");
        }
        times.sort_by(f64::total_cmp);
        times[25]
    };
    let start = command(&["--version"]);
    let prove = command(&["prove", "765432", "-o", "/dev/null"]);
    println!(
        "prove command: p50 {prove:.2} ms (process start alone, `--version`: p50 {start:.2} ms)"
    );

    // A local receiver that accepts every request (HTTP/1.1 keep-alive).
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
                }
            });
        }
    });
    let ep = Endpoint::resolve(Some(&format!("http://127.0.0.1:{port}"))).expect("endpoint");
    // As `ship --otlp` runs it: one worker sends a batch while the main thread encodes the next,
    // 2000 records per request, the cursor saved (fsync) after each accepted batch.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let client = patchwork_gateway::net::client(None).unwrap();
    let ship = 200_000usize;
    let ship_dir = tmp.path().join("ship");
    std::fs::create_dir_all(&ship_dir).expect("dir");
    {
        let log = BufReader::new(std::fs::File::open(dir.join("ledger.jsonl")).expect("log"));
        let mut w =
            BufWriter::new(std::fs::File::create(ship_dir.join("ledger.jsonl")).expect("copy"));
        for line in log.lines().take(ship) {
            writeln!(w, "{}", line.expect("line")).expect("write");
        }
    }
    let cursor_file = tmp.path().join("ship.cursor");
    let mut cur = Cursor::default();
    let t = Instant::now();
    let sent = otlp::ship_caught_up(&rt, &client, &ep, &ship_dir, &mut cur, 2000, |c| {
        c.save(&cursor_file)
    })
    .expect("ship");
    let s = t.elapsed().as_secs_f64();
    assert_eq!(sent as usize, ship);
    println!(
        "ship: {sent} records as OTLP/JSON in {s:.2} s = {:.0} records/s",
        sent as f64 / s
    );
}
