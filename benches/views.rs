//! Views benchmark (plain timing harness): generates a 1,000,000-record ledger (2,000 sessions
//! of hook decisions, outcomes and session events, chained like the real thing) and measures the
//! release binary: `log --session X` and `replay X` (each first with no index, which it builds,
//! then with it), `export --format csv` (records/s) and the peak memory of each. Run with `cargo bench --bench views`.
//! Budgets (ARCHITECTURE §9, issue 13): log/replay ≤ 1 s, export ≥ 200k records/s, ≤ 100 MB.

use patchwork_gateway::ledger::record::{GENESIS, build};
use serde_json::{Map, Value, json};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RECORDS: u64 = 1_000_000;
const SESSIONS: u64 = 2_000;

fn session_id(s: u64) -> String {
    format!("{s:08x}-7b4d-4e8a-9c2f-1a2b3c4d5e6f")
}

/// Record `i` of the ledger: sessions interleave in blocks, as concurrent agents do.
fn fields(i: u64) -> Map<String, Value> {
    let s = (i / 50) % SESSIONS;
    let digest = format!("sha256:{:064x}", i / 2);
    let v = match i % 10 {
        0 if i.is_multiple_of(500) => {
            json!({"event": "session.start", "door": "hook", "agent": "claude-code",
            "session": session_id(s), "cwd": "/home/dev/project", "action": "session_start",
            "armed": true, "source": "startup", "hook_event": "SessionStart"})
        }
        n if n % 2 == 0 => json!({"event": "decision", "door": "hook", "agent": "claude-code",
            "session": session_id(s), "cwd": "/home/dev/project", "tool": "Bash",
            "tool_use_id": format!("toolu_{i}"), "action": "command_execute",
            "target": [format!("command_execute:cargo test --workspace -- ledger::case_{i}")],
            "risk": if i.is_multiple_of(7) { "high" } else { "low" }, "flags": [], "findings": [],
            "verdict": if i.is_multiple_of(7) { "deny" } else { "allow" },
            "rules": [if i.is_multiple_of(7) { "shell.dangerous" } else { "default" }],
            "reason": "patchwork-gateway allowed this: no rule matched (default allow)",
            "policy": "sha256:9b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
            "policy_name": "standard", "input_sha256": digest}),
        _ => json!({"event": "outcome", "door": "hook", "agent": "claude-code",
            "session": session_id(s), "cwd": "/home/dev/project", "tool": "Bash",
            "tool_use_id": format!("toolu_{}", i - 1), "decision_seq": i - 1,
            "input_sha256": digest, "hook_event": "PostToolUse",
            "outcome": {"status": "ok", "duration_ms": 40 + i % 100, "output_bytes": 80,
                        "output_sha256": format!("sha256:{:064x}", i)}}),
    };
    v.as_object().expect("object").clone()
}

/// Writes the ledger (or reuses one from an earlier run).
fn generate(home: &Path) -> PathBuf {
    let dir = home.join("ledger");
    let log = dir.join("ledger.jsonl");
    let stamp = dir.join("generated");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(&RECORDS.to_string()) {
        return log;
    }
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(&dir).expect("bench folder");
    let t = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&log).expect("log"));
    let mut prev = GENESIS.to_string();
    let ts0 = 1_765_000_000_000_000i64;
    for i in 0..RECORDS {
        let (line, hash) = build(fields(i), i, ts0 + i as i64 * 1000, &prev).expect("record");
        out.write_all(&line).expect("write");
        out.write_all(b"\n").expect("write");
        prev = hash;
    }
    out.flush().expect("flush");
    std::fs::write(&stamp, RECORDS.to_string()).expect("stamp");
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {RECORDS} records ({:.0} MB) in {:.1}s",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    log
}

/// Runs the gateway with `args`; returns wall time and peak RSS in MB.
// The child is reaped by `wait4` (which also reports its peak memory), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn measure(home: &Path, args: &[&str]) -> (Duration, f64) {
    let t = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_patchwork-gateway"))
        .args(args)
        .env("PATCHWORK_HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gateway");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: waits for our own child and fills a rusage struct we own.
    let rusage = unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut r);
        r
    };
    let took = t.elapsed();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} failed"
    );
    (took, rusage.ru_maxrss as f64 / 1024.0)
}

fn main() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-views");
    let home = base.join("home");
    generate(&home);
    let _ = std::fs::remove_dir_all(home.join("state/views"));
    let s = session_id(1234);
    let prefix = &s[..8];
    let report = |what: &str, (t, mb): (Duration, f64), budget: f64| {
        let ok = if t.as_secs_f64() <= budget && mb <= 100.0 {
            "ok"
        } else {
            "OVER BUDGET"
        };
        println!("{what:<42} {:>8.3} s {mb:>7.1} MB  {ok}", t.as_secs_f64());
    };
    report(
        "log --session X (cold: builds the index)",
        measure(&home, &["log", "--session", prefix]),
        1.0,
    );
    report(
        "log --session X",
        measure(&home, &["log", "--session", prefix]),
        1.0,
    );
    report(
        "log --session X --json",
        measure(&home, &["log", "--session", &s, "--json"]),
        1.0,
    );
    let _ = std::fs::remove_dir_all(home.join("state/views"));
    report(
        "replay X (cold: builds the index)",
        measure(&home, &["replay", &s]),
        1.0,
    );
    report("replay X", measure(&home, &["replay", &s]), 1.0);
    let html = base.join("replay.html");
    report(
        "replay X --html",
        measure(&home, &["replay", &s, "-o", html.to_str().expect("path")]),
        1.0,
    );
    report(
        "log --verdict deny --limit 20 (full scan)",
        measure(&home, &["log", "--verdict", "deny", "--limit", "20"]),
        f64::MAX,
    );
    let (t, mb) = measure(&home, &["export", "--format", "csv", "-o", "/dev/null"]);
    let rate = RECORDS as f64 / t.as_secs_f64();
    println!(
        "{:<42} {:>8.3} s {mb:>7.1} MB  {:.0} records/s {}",
        "export --format csv",
        t.as_secs_f64(),
        rate,
        if rate >= 200_000.0 && mb <= 100.0 {
            "ok"
        } else {
            "OVER BUDGET"
        }
    );
    let (t, mb) = measure(&home, &["export", "--format", "jsonl", "-o", "/dev/null"]);
    println!(
        "{:<42} {:>8.3} s {mb:>7.1} MB  {:.0} records/s",
        "export --format jsonl",
        t.as_secs_f64(),
        RECORDS as f64 / t.as_secs_f64()
    );
}
