//! `report --framework all` over a generated 1,000,000-record ledger (plain timing harness):
//! wall time and peak RSS of the real binary, for JSON, OSCAL and JSON with daily trends. The
//! ledger ends with a signed checkpoint, which the report checks against the log.
//! Run with `cargo bench --bench report` (`PATCHWORK_REPORT_BENCH_RECORDS` changes the size).
//! Budget (ARCHITECTURE.md §9): ≤ 3 s and ≤ 150 MB.

use patchwork_gateway::ledger::Ledger;
use patchwork_gateway::ledger::checkpoint;
use patchwork_gateway::ledger::record::{GENESIS, build};
use patchwork_gateway::policy::{Env, Policy};
use serde_json::{Map, Value, json};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const DAY_US: i64 = 86_400_000_000;
/// 2026-11-01T00:00:00Z.
const START: i64 = 1_793_491_200_000_000;

/// The fields of record `i` of a ledger of `n` records: sessions of 50 records (start, pairs of
/// decision and outcome with some denials, asks and flags, end), spread over 30 days.
fn record(i: u64, n: u64, policy: &str) -> (i64, Map<String, Value>) {
    let ts = START + (i as i64) * (30 * DAY_US / n as i64);
    let session = format!("sess-{:08x}", i / 50);
    let k = i % 50;
    let v = match k {
        0 => json!({"event": "session.start", "door": "hook", "agent": "claude-code",
                    "session": session, "action": "session_start", "armed": true, "cwd": "/work/project"}),
        49 => json!({"event": "session.end", "door": "hook", "agent": "claude-code",
                     "session": session, "action": "session_end", "cwd": "/work/project"}),
        _ if k % 2 == 1 => {
            let (verdict, rules, reason, risk) = match (i / 2) % 20 {
                0 => (
                    "deny",
                    json!(["sys.privilege"]),
                    "privilege escalation (sudo, doas, su) is not allowed",
                    "high",
                ),
                1 => (
                    "ask",
                    json!(["tools.unknown"]),
                    "the gateway does not know this tool",
                    "medium",
                ),
                2 => (
                    "flag",
                    json!(["net.egress"]),
                    "network access to a non-local host",
                    "medium",
                ),
                _ => ("allow", json!([]), "", "low"),
            };
            json!({"event": "decision", "door": "hook", "tool": "Bash", "session": session,
                   "agent": "claude-code", "cwd": "/work/project", "tool_use_id": format!("toolu_{i:012}"),
                   "action": "command_execute",
                   "target": [format!("command_execute:cargo test --workspace -- ledger::case_{i}")],
                   "risk": risk, "flags": [], "findings": [], "verdict": verdict, "rules": rules,
                   "reason": reason, "policy": policy, "policy_name": "strict",
                   "input_sha256": "sha256:9b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"})
        }
        _ => {
            json!({"event": "tool.post", "door": "hook", "agent": "claude-code", "session": session,
                    "hook_event": "PostToolUse", "cwd": "/work/project", "tool_name": "Bash",
                    "tool_use_id": format!("toolu_{:012}", i - 1),
                    "input_sha256": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c9b1d2c3e4f5a6b7c8d9e0f",
                    "outcome": {"status": "ok", "duration_ms": 812, "output_bytes": 5120, "exit_code": 0}})
        }
    };
    (ts, v.as_object().expect("object").clone())
}

fn generate(dir: &Path, n: u64, policy: &str) {
    std::fs::create_dir_all(dir).expect("ledger folder");
    let f = std::fs::File::create(dir.join("ledger.jsonl")).expect("ledger file");
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut prev = GENESIS.to_string();
    for i in 0..n {
        let (ts, fields) = record(i, n, policy);
        let (line, hash) = build(fields, i, ts, &prev).expect("record");
        w.write_all(&line).expect("write");
        w.write_all(b"\n").expect("write");
        prev = hash;
    }
    w.flush().expect("flush");
}

/// Runs the binary and returns (seconds, peak RSS in MiB) of that child alone.
// The child is reaped by `wait4` (which also gives its own peak RSS), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run(home: &Path, args: &[&str]) -> (f64, f64) {
    let t = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_patchwork-gateway"))
        .arg("--home")
        .arg(home)
        .args(["--policy", "strict", "report"])
        .args(args)
        .args(["-o", "/dev/null"])
        .spawn()
        .expect("spawn");
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: waits for our own child; `status` and `usage` are valid for writing.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, usage.as_mut_ptr()) };
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "report failed"
    );
    // SAFETY: wait4 succeeded, so it filled `usage`.
    let usage = unsafe { usage.assume_init() };
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

fn main() {
    let n: u64 = std::env::var("PATCHWORK_REPORT_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-report");
    let home = base.join("pw");
    let env = Env::new(&home, &base);
    let policy = Policy::load(Some("strict"), &env).expect("strict profile");
    let ledger = home.join("ledger");
    let stamp = ledger.join(format!(".generated-cp-{n}-{}", &policy.hash()[7..19]));
    if !stamp.exists() {
        let _ = std::fs::remove_dir_all(&home);
        let t = Instant::now();
        generate(&ledger, n, policy.hash());
        // A signed checkpoint of the whole ledger: the report checks it against the log.
        let key = checkpoint::load_or_create_key(&home.join("keys")).expect("checkpoint key");
        Ledger::open(&ledger)
            .expect("ledger")
            .checkpoint(&key)
            .expect("checkpoint");
        std::fs::write(&stamp, b"").expect("stamp");
        println!(
            "generated {n} records in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let bytes = std::fs::metadata(ledger.join("ledger.jsonl")).map_or(0, |m| m.len());
    println!(
        "ledger: {n} records, {:.0} MiB",
        bytes as f64 / (1 << 20) as f64
    );
    for args in [
        &["--framework", "all", "--format", "json"][..],
        &["--framework", "all", "--format", "oscal", "--include-gaps"][..],
        &["--framework", "all", "--format", "json", "--by", "day"][..],
    ] {
        let mut best = (f64::MAX, 0.0f64);
        for _ in 0..3 {
            let (s, rss) = run(&home, args);
            best = (best.0.min(s), best.1.max(rss));
        }
        println!(
            "report {:<45} {:>6.2} s (best of 3)  peak RSS {:>6.1} MiB   budget 3 s, 150 MB",
            args.join(" "),
            best.0,
            best.1
        );
    }
}
