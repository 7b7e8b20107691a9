//! Hook round trip: spawn the release binary as Claude Code does, feed a payload, wait for the
//! answer and the process's exit — including the synced ledger write. Prints p50/p90/p99 per
//! payload, the same for a process-start floor measured in the same run, and the peak RSS of the
//! hook processes. Run: `cargo bench --bench hook` (optional argument: iterations).
//!
//! The floor is a minimal Rust program (built here with `rustc -O`) that reads stdin and answers
//! `{}`: what any hook written in Rust costs on this machine before it does anything. Process
//! start on a shared VM varies from day to day by a factor of two, so a hook number means
//! something only next to the floor of the same run; each floor run is interleaved with a hook
//! run so that both see the same load.
//!
//! `HOOK_BENCH_TMP=/dev/shm` puts the ledger on tmpfs, separating the door's own cost from the
//! disk's fsync latency. `HOOK_BENCH_BIN=path` measures another build of the binary (to compare
//! build settings). Binaries are copied into the temporary folder first, as an install does.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_patchwork-gateway");

/// The floor: start, read the payload, answer, exit.
const FLOOR_SRC: &str = r#"use std::io::{Read, Write};
fn main() {
    let mut payload = Vec::new();
    std::io::stdin().read_to_end(&mut payload).unwrap();
    std::io::stdout().write_all(b"{}\n").unwrap();
}
"#;

fn main() {
    let bin = std::env::var("HOOK_BENCH_BIN").unwrap_or_else(|_| BIN.to_string());
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let dir = match std::env::var_os("HOOK_BENCH_TMP") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    // Measure copies, as `cargo install` puts one in place: a binary the linker has just written
    // sits in the page cache in small pieces and starts about 0.2 ms slower on this VM until
    // its pages are read again, which would make builds incomparable.
    let installed = dir.path().join("patchwork-gateway");
    std::fs::copy(&bin, &installed).expect("copy the binary");
    let bin = installed.display().to_string();
    let floor = build_floor(dir.path());
    let home = dir.path().join("home");
    let pw = dir.path().join("pw");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(project.join("src/main.rs"), "fn main() {}\n").unwrap();
    let main_rs = project.join("src/main.rs");

    // The policy `init claude-code --strict-profile` writes (a copy of the profile), and the same
    // file after the user edits it (parsed as YAML).
    let strict_yaml = include_str!("../configs/strict.yaml");
    let copy = dir.path().join("policy-copy.yaml");
    std::fs::write(&copy, strict_yaml).unwrap();
    let edited = dir.path().join("policy-edited.yaml");
    std::fs::write(&edited, format!("{strict_yaml}\n# edited by the user\n")).unwrap();
    let bash_allow = format!(
        r#"{{"tool_name":"Bash","tool_input":{{"command":"cargo test --all"}},"tool_use_id":"t1","session_id":"bench","cwd":"{}"}}"#,
        project.display()
    );

    let strict = || "strict".to_string();
    let cases: Vec<(&str, &str, String, String)> = vec![
        (
            "PreToolUse Bash `cargo test` (allow)",
            "PreToolUse",
            bash_allow.clone(),
            strict(),
        ),
        (
            "PreToolUse Read src/main.rs (allow)",
            "PreToolUse",
            format!(
                r#"{{"tool_name":"Read","tool_input":{{"file_path":"{}"}},"tool_use_id":"t2","session_id":"bench","cwd":"{}"}}"#,
                main_rs.display(),
                project.display()
            ),
            strict(),
        ),
        (
            "PreToolUse Bash `rm -rf /` (deny)",
            "PreToolUse",
            format!(
                r#"{{"tool_name":"Bash","tool_input":{{"command":"rm -rf /"}},"tool_use_id":"t3","session_id":"bench","cwd":"{}"}}"#,
                project.display()
            ),
            strict(),
        ),
        (
            "PostToolUse Read (outcome record)",
            "PostToolUse",
            format!(
                r#"{{"tool_name":"Read","tool_input":{{"file_path":"{}"}},"tool_use_id":"t2","session_id":"bench","cwd":"{}","tool_response":{{"type":"text","file":{{"content":"fn main() {{}}"}}}},"duration_ms":3}}"#,
                main_rs.display(),
                project.display()
            ),
            strict(),
        ),
        (
            "… `cargo test`, policy file = strict (init)",
            "PreToolUse",
            bash_allow.clone(),
            copy.display().to_string(),
        ),
        (
            "… `cargo test`, edited policy file (YAML)",
            "PreToolUse",
            bash_allow,
            edited.display().to_string(),
        ),
    ];

    println!(
        "hook round trip, {iterations} runs each, {bin}, policy strict unless named, ledger in {}",
        dir.path().display()
    );
    println!(
        "  each hook run is followed by a run of the floor (a minimal Rust program reading stdin)"
    );
    let mut floor_all = Vec::new();
    let mut peak_kib = 0;
    for (name, event, payload, policy) in &cases {
        let hook = || {
            run(
                Command::new(&bin)
                    .args(["--policy", policy, "hook", event])
                    .env("HOME", &home)
                    .env("PATCHWORK_HOME", &pw)
                    .env("CLAUDE_PROJECT_DIR", &project)
                    .env_remove("PATCHWORK_WEBHOOK_URL"),
                payload,
            )
        };
        let floor_run = || run(&mut Command::new(&floor), payload);
        // Warm up (page cache, ledger creation).
        for _ in 0..5 {
            hook();
            floor_run();
        }
        let (mut hooks, mut floors) = (Vec::new(), Vec::new());
        for _ in 0..iterations {
            let h = hook();
            peak_kib = peak_kib.max(h.max_rss_kib);
            hooks.push(h);
            floors.push(floor_run());
        }
        let cpu = hooks.iter().map(|r| r.cpu).sum::<Duration>() / iterations as u32;
        let hook = Percentiles::of(hooks.iter().map(|r| r.wall).collect());
        let floor = Percentiles::of(floors.iter().map(|r| r.wall).collect());
        println!(
            "  {name:<42} p50 {:>5.2} ms  p90 {:>5.2} ms  p99 {:>5.2} ms  cpu/run {:>4.2} ms  | floor p50 {:>4.2} ms  p90 {:>4.2} ms",
            ms(hook.p50),
            ms(hook.p90),
            ms(hook.p99),
            ms(cpu),
            ms(floor.p50),
            ms(floor.p90),
        );
        floor_all.extend(floors.iter().map(|r| r.wall));
    }
    let floor = Percentiles::of(floor_all);
    println!(
        "  floor over all rows: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms",
        ms(floor.p50),
        ms(floor.p90),
        ms(floor.p99)
    );
    println!(
        "  peak RSS of a hook process: {:.1} MB",
        peak_kib as f64 / 1024.0
    );
}

/// Compiles [`FLOOR_SRC`] with the toolchain that builds this bench and returns an installed
/// copy of it.
fn build_floor(dir: &Path) -> std::path::PathBuf {
    let build = dir.join("floor-build");
    std::fs::create_dir_all(&build).unwrap();
    let src = build.join("floor.rs");
    std::fs::write(&src, FLOOR_SRC).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(rustc)
        .args(["-O", "--edition", "2024", "-o"])
        .arg(build.join("floor"))
        .arg(&src)
        .status()
        .expect("run rustc for the floor program");
    assert!(status.success(), "rustc failed to build the floor program");
    let installed = dir.join("floor");
    std::fs::copy(build.join("floor"), &installed).expect("copy the floor program");
    installed
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Percentiles {
    p50: Duration,
    p90: Duration,
    p99: Duration,
}

impl Percentiles {
    fn of(mut times: Vec<Duration>) -> Percentiles {
        times.sort();
        let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
        Percentiles {
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
        }
    }
}

/// One process run: wall time from spawn to exit, its own CPU time and peak RSS.
struct Run {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
}

/// Spawns `cmd`, writes `payload` to its stdin, reads its answer and waits for its exit with
/// `wait4`, which reports the usage of that one process.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which std's Child does not offer"
)]
fn run(cmd: &mut Command, payload: &str) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(payload.as_bytes()).unwrap();
    drop(stdin);
    let mut answer = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut answer)
        .unwrap();
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `child` is our unwaited child; wait4 fills `status` and `usage`.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, usage.as_mut_ptr()) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the process failed (status {status:#x}): {}",
        String::from_utf8_lossy(&answer)
    );
    // SAFETY: initialised by the successful wait4.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
    }
}
