//! Hook round trip: spawn the release binary as Claude Code does, feed a payload, wait for the
//! answer — including the synced ledger write. Prints p50/p99 per payload and the peak RSS of
//! the hook processes. Run: `cargo bench --bench hook` (optional argument: iterations).
//! `HOOK_BENCH_TMP=/dev/shm` puts the ledger on tmpfs, separating the door's own cost from the
//! disk's fsync latency. `HOOK_BENCH_BIN=path` measures another build of the binary (to compare
//! build settings). The binary is copied into the temporary folder first, as an install does.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_patchwork-gateway");

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
    // Measure a copy, as `cargo install` puts one in place: a binary the linker has just written
    // sits in the page cache in small pieces and starts about 0.2 ms slower on this VM until
    // its pages are read again, which would make builds incomparable.
    let installed = dir.path().join("patchwork-gateway");
    std::fs::copy(&bin, &installed).expect("copy the binary");
    let bin = installed.display().to_string();
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
    for (name, event, payload, policy) in &cases {
        let run = || run(&bin, policy, event, payload, &home, &pw, &project);
        // Warm up (page cache, ledger creation).
        for _ in 0..5 {
            run();
        }
        let cpu_before = children_cpu();
        let mut times: Vec<Duration> = (0..iterations).map(|_| run()).collect();
        let cpu = (children_cpu() - cpu_before) / iterations as u32;
        times.sort();
        let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "  {name:<42} p50 {:>7.2} ms   p99 {:>7.2} ms   cpu/run {:>5.2} ms",
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(cpu)
        );
    }
    let peak = rusage().map_or(f64::NAN, |u| u.ru_maxrss as f64 / 1024.0);
    println!("  peak RSS of a hook process: {peak:.1} MB");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(
    bin: &str,
    policy: &str,
    event: &str,
    payload: &str,
    home: &std::path::Path,
    pw: &std::path::Path,
    project: &std::path::Path,
) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["--policy", policy, "hook", event])
        .env("HOME", home)
        .env("PATCHWORK_HOME", pw)
        .env("CLAUDE_PROJECT_DIR", project)
        .env_remove("PATCHWORK_WEBHOOK_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the hook");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("hook output");
    let elapsed = started.elapsed();
    assert!(
        matches!(out.status.code(), Some(0)),
        "hook failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    elapsed
}

/// Resource usage of all waited-for children (Linux reports `ru_maxrss` in KiB).
fn rusage() -> Option<libc::rusage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_CHILDREN is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    // SAFETY: initialised by the successful call.
    (rc == 0).then(|| unsafe { usage.assume_init() })
}

/// User + system CPU time of all waited-for children.
fn children_cpu() -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    rusage()
        .map(|u| tv(u.ru_utime) + tv(u.ru_stime))
        .unwrap_or_default()
}
