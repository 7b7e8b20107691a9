//! Ledger benchmark (plain timing harness): synced appends from 1 and 8 processes, and verify
//! speed over 200,000 records. Run with `cargo bench --bench ledger`.
//!
//! The 8 writer processes are this benchmark binary re-executed with an environment variable.
//! Besides the target folder's disk, appends are also measured on `/dev/shm` when it exists:
//! there `fdatasync` costs nothing, which shows the protocol's own overhead (lock, state check,
//! write, state file) apart from the disk's sync latency.

use patchwork_gateway::ledger::record::{GENESIS, build};
use patchwork_gateway::ledger::{Ledger, SealKey};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_DIR: &str = "PATCHWORK_LEDGER_BENCH_CHILD_DIR";
const CHILD_COUNT: &str = "PATCHWORK_LEDGER_BENCH_CHILD_COUNT";

/// A decision record of realistic size (≈ 420 bytes stored).
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

fn child(dir: &Path, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.join("go").exists() {
        assert!(Instant::now() < deadline, "no go signal");
        std::thread::sleep(Duration::from_micros(200));
    }
    let l = Ledger::open(&dir.join("ledger")).expect("open");
    for i in 0..n {
        l.append(decision(i)).expect("append");
    }
}

fn fresh(base: &Path, name: &str) -> PathBuf {
    let d = base.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("bench folder");
    d
}

/// Appends/s from one process.
fn one_process(base: &Path, n: u64) -> f64 {
    let d = fresh(base, "one");
    let l = Ledger::open(&d.join("ledger")).expect("open");
    l.append(decision(0)).expect("warm-up append");
    let t = Instant::now();
    for i in 0..n {
        l.append(decision(i)).expect("append");
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    assert!(l.verify(None).expect("verify").intact);
    rate
}

/// Aggregate appends/s from `procs` processes appending `each` records at once.
fn many_processes(base: &Path, procs: u64, each: u64) -> f64 {
    let d = fresh(base, "many");
    let exe = std::env::current_exe().expect("own path");
    let children: Vec<_> = (0..procs)
        .map(|_| {
            Command::new(&exe)
                .env(CHILD_DIR, &d)
                .env(CHILD_COUNT, each.to_string())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    // Let the children start and open the ledger before the clock starts.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    std::fs::write(d.join("go"), b"").expect("go");
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "a writer failed");
    }
    let rate = (procs * each) as f64 / t.elapsed().as_secs_f64();
    let r = Ledger::open(&d.join("ledger"))
        .expect("open")
        .verify(None)
        .expect("verify");
    assert!(r.intact && r.records == procs * each, "{r:?}");
    rate
}

/// Writes `n` chained records directly (the same encoder as `append`, without a sync per line).
fn bulk(dir: &Path, n: u64) -> u64 {
    std::fs::create_dir_all(dir).expect("folder");
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(dir.join("ledger.jsonl")).expect("log"));
    let mut prev = GENESIS.to_string();
    let mut bytes = 0;
    for i in 0..n {
        let (line, hash) =
            build(decision(i), i, 1_790_000_000_000_000 + i as i64, &prev).expect("build");
        out.write_all(&line).expect("write");
        out.write_all(b"\n").expect("write");
        bytes += line.len() as u64 + 1;
        prev = hash;
    }
    out.flush().expect("flush");
    bytes
}

/// CPU time (user + system) this process has used, in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn main() {
    if let (Ok(dir), Ok(n)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_COUNT)) {
        child(Path::new(&dir), n.parse().expect("count"));
        return;
    }
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ledger-bench");
    println!(
        "ledger benchmark (release build), folder {}",
        base.display()
    );

    let one = one_process(&base, 500);
    println!("append, 1 process, fdatasync each:        {one:>10.0} appends/s");
    let eight = many_processes(&base, 8, 250);
    println!("append, 8 processes × 250, fdatasync each: {eight:>10.0} appends/s (aggregate)");

    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let sbase = shm.join(format!("patchwork-ledger-bench-{}", std::process::id()));
        let one = one_process(&sbase, 5_000);
        println!("append, 1 process, on tmpfs (sync free):   {one:>10.0} appends/s");
        let eight = many_processes(&sbase, 8, 1_000);
        println!("append, 8 processes × 1000, on tmpfs:      {eight:>10.0} appends/s (aggregate)");
        let _ = std::fs::remove_dir_all(&sbase);
    }

    let n = 200_000;
    let vdir = fresh(&base, "verify").join("ledger");
    let bytes = bulk(&vdir, n);
    let l = Ledger::open(&vdir).expect("open");
    let key = SealKey::load_or_create(&base.join("verify/keys/seal.key")).expect("key");
    l.seal(&key).expect("seal");
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..3 {
        let (t, c) = (Instant::now(), cpu_seconds());
        let r = l.verify(Some(&key)).expect("verify");
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu_seconds() - c);
        // Sealing without a state file adds one `state_rebuilt` recovery record.
        assert!(r.intact && r.records == n + 1 && r.seals_ok == 1, "{r:?}");
    }
    println!(
        "verify {n} records ({:.1} MB, avg {} B/record):  {:>10.0} records/s (best of 3, {:.0} ms wall)",
        bytes as f64 / 1e6,
        bytes / n,
        n as f64 / best,
        best * 1e3
    );
    println!(
        "verify, per CPU-second of this process:          {:>10.0} records/s ({:.0} ms CPU; the box is shared)",
        n as f64 / best_cpu,
        best_cpu * 1e3
    );
    let t = Instant::now();
    let count = l.records().expect("records").filter(|r| r.is_ok()).count();
    println!(
        "iterate {count} records (parse only):          {:>10.0} records/s",
        count as f64 / t.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&base);
}
