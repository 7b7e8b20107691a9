//! Proxy overhead: latency of `tools/call` over stdio through `patchwork-gateway wrap` versus
//! calling the same upstream directly, with the ledger on (decision records synced before the
//! answer, outcome records written after it).
//! The upstream is tests/interop/crashy.mjs (`echo`), so Node's own latency cancels out.
//!
//! Run: `cargo bench --bench proxy` (needs `.ci/steps/40-mcp-interop.sh` for the Node SDK).
//! Env: `PROXY_BENCH_CALLS` (default 2000), `PROXY_BENCH_POLICY` (default strict),
//! `PROXY_BENCH_HOME` (folder for the gateway's home and ledger; default a temp folder — on a
//! tmpfs such as /dev/shm the disk's sync latency drops out and the gateway's own cost remains),
//! `PROXY_BENCH_SYNC_BEFORE_FORWARD=1` (measure `wrap --sync-before-forward`: the decision is
//! synced before the call is forwarded instead of while it runs).

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use std::path::Path;
use std::time::{Duration, Instant};

type Client = RunningService<RoleClient, ()>;

async fn connect(program: &str, args: &[&str], home: &Path) -> Client {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("PATCHWORK_HOME", home)
        .stderr(std::process::Stdio::null());
    let transport = TokioChildProcess::new(cmd).expect("cannot start the upstream");
    ().serve(transport)
        .await
        .expect("MCP initialization failed")
}

async fn measure(client: &Client, calls: usize) -> Vec<Duration> {
    let mut args = serde_json::Map::new();
    args.insert("text".into(), "ping".into());
    let params = CallToolRequestParams::new("echo").with_arguments(args);
    for _ in 0..50 {
        client
            .call_tool(params.clone())
            .await
            .expect("warm-up call failed");
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let r = client.call_tool(params.clone()).await.expect("call failed");
        times.push(start.elapsed());
        assert_ne!(r.is_error, Some(true), "the echo call was refused: {r:?}");
    }
    times.sort();
    times
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let upstream = root.join("tests/interop/crashy.mjs");
    assert!(
        root.join("tests/interop/node_modules/@modelcontextprotocol/sdk")
            .is_dir(),
        "the Node MCP SDK is missing: run .ci/steps/40-mcp-interop.sh first"
    );
    let calls: usize = std::env::var("PROXY_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let policy = std::env::var("PROXY_BENCH_POLICY").unwrap_or_else(|_| "strict".into());
    let home = match std::env::var_os("PROXY_BENCH_HOME") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let strict_order = std::env::var("PROXY_BENCH_SYNC_BEFORE_FORWARD").is_ok_and(|v| v == "1");
    let upstream = upstream.to_str().unwrap();
    let gateway = env!("CARGO_BIN_EXE_patchwork-gateway");
    let mut wrap = vec!["--policy", &policy, "wrap", "--name", "bench"];
    if strict_order {
        wrap.push("--sync-before-forward");
    }
    wrap.extend(["--", "node", upstream]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let direct = connect("node", &[upstream], home.path()).await;
        let proxied = connect(gateway, &wrap, home.path()).await;
        // Interleave two rounds each so drift on a shared machine hits both sides alike.
        let mut d = measure(&direct, calls / 2).await;
        let mut g = measure(&proxied, calls / 2).await;
        d.extend(measure(&direct, calls / 2).await);
        g.extend(measure(&proxied, calls / 2).await);
        d.sort();
        g.sort();
        println!(
            "tools/call over stdio, {} calls each, policy {policy}, ledger on in {}{}",
            d.len(),
            home.path().display(),
            if strict_order {
                ", --sync-before-forward"
            } else {
                ""
            }
        );
        println!("{:<10} {:>9} {:>9}", "", "p50 ms", "p99 ms");
        println!(
            "{:<10} {:>9.3} {:>9.3}",
            "direct",
            pct(&d, 0.5),
            pct(&d, 0.99)
        );
        println!(
            "{:<10} {:>9.3} {:>9.3}",
            "gateway",
            pct(&g, 0.5),
            pct(&g, 0.99)
        );
        println!(
            "{:<10} {:>9.3} {:>9.3}   (budget: p50 <= 0.300)",
            "added",
            pct(&g, 0.5) - pct(&d, 0.5),
            pct(&g, 0.99) - pct(&d, 0.99)
        );
        let _ = direct.cancel().await;
        let _ = proxied.cancel().await;
        // The gateway writes its last outcome records as it shuts down on end of input.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let records = std::fs::read_to_string(home.path().join("ledger/ledger.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        println!("ledger records written: {records}");
    });
}
