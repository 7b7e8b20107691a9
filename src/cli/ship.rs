//! `ship --otlp URL [--follow]` and `ship --file PATH [--follow]`: copy records (and
//! checkpoints) out of the agent's reach. Runs as its own process; the doors only append.

use super::Ctx;
use crate::ship::cursor::{self, Cursor};
use crate::ship::file::FileSink;
use crate::ship::otlp::{self, Endpoint};
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// Send OTLP logs over HTTP/JSON to this collector [default: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    /// OTEL_EXPORTER_OTLP_ENDPOINT, http://localhost:4318].
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "", conflicts_with = "file")]
    pub otlp: Option<String>,
    /// Append the records to this JSONL copy instead.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Keep running and ship new records as they are written (and send the witness backlog
    /// when PATCHWORK_WITNESS is set).
    #[arg(long)]
    pub follow: bool,
    /// Records per request.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch: u64,
    /// PEM file of the private CA that signed an https:// collector's certificate [default:
    /// OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE, OTEL_EXPORTER_OTLP_CERTIFICATE, SSL_CERT_FILE;
    /// Mozilla's roots are always trusted].
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub ca_cert: Option<PathBuf>,
    /// The cursor file [default: under the home's ship/ folder, one per destination].
    #[arg(long, value_name = "FILE")]
    pub cursor: Option<PathBuf>,
}

enum Sink {
    Otlp(Endpoint, reqwest::Client, tokio::runtime::Runtime),
    File(FileSink),
}

/// Ships until caught up (or forever with `--follow`).
pub fn run(ctx: &Ctx, args: ShipArgs) -> Result<i32> {
    let ledger_dir = ctx.home.ledger_dir();
    let (mut sink, dest) = match (&args.otlp, &args.file) {
        (Some(url), None) => {
            let ep = Endpoint::resolve(Some(url.as_str()).filter(|u| !u.is_empty()))?;
            // One worker sends a batch while this thread encodes the next.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            // rustls with Mozilla's roots plus the collector's CA: --ca-cert, else the standard
            // OTLP variables, else SSL_CERT_FILE, like every outgoing request.
            let ca = args.ca_cert.clone().or_else(|| {
                [
                    "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
                    "OTEL_EXPORTER_OTLP_CERTIFICATE",
                ]
                .iter()
                .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()))
                .map(PathBuf::from)
            });
            let client = crate::net::builder(ca.as_deref())?
                .timeout(Duration::from_secs(30))
                .build()?;
            let dest = ep.url.clone();
            (Sink::Otlp(ep, client, rt), format!("otlp {dest}"))
        }
        (None, Some(p)) => (
            Sink::File(FileSink::open(p)?),
            format!("file {}", p.display()),
        ),
        _ => bail!("ship needs --otlp URL or --file PATH"),
    };
    let kind = if args.file.is_some() { "file" } else { "otlp" };
    let cursor_file = args
        .cursor
        .clone()
        .unwrap_or_else(|| cursor::cursor_path(ctx.home.root(), kind, &dest));
    let mut cur = Cursor::load(&cursor_file)?;
    let witness = crate::ship::witness_from_env()?;
    let mut last_witness = Instant::now() - Duration::from_secs(3600);
    let mut shipped = 0u64;
    loop {
        shipped += match &mut sink {
            Sink::Otlp(ep, client, rt) => otlp::ship_caught_up(
                rt,
                client,
                ep,
                &ledger_dir,
                &mut cur,
                args.batch as usize,
                |acked| acked.save(&cursor_file),
            )?,
            Sink::File(f) => copy_caught_up(f, &ledger_dir, &mut cur, args.batch, &cursor_file)?,
        };
        if !args.follow {
            break;
        }
        if let Some(w) = &witness
            && last_witness.elapsed() >= Duration::from_secs(10)
        {
            last_witness = Instant::now();
            if let Err(e) = crate::ship::push_backlog(&ledger_dir, w) {
                tracing::warn!("witness backlog not sent: {e:#}");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "shipped {shipped} records to {dest}; next seq {}",
        cur.next_seq
    );
    Ok(0)
}

/// Copies the records after `cur` to the file until caught up, saving the cursor after each
/// synced batch. Returns the records copied.
fn copy_caught_up(
    f: &mut FileSink,
    ledger_dir: &std::path::Path,
    cur: &mut Cursor,
    batch: u64,
    cursor_file: &std::path::Path,
) -> Result<u64> {
    let mut copied = 0;
    loop {
        let (items, next) = cursor::read_after(ledger_dir, cur, batch as usize)?;
        if items.is_empty() {
            return Ok(copied);
        }
        f.write(&items)?;
        // Acknowledged: only now does the cursor move (a crash before this rewrites the batch).
        next.save(cursor_file)?;
        copied += items.len() as u64;
        *cur = next;
    }
}
