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
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            // rustls with Mozilla's roots plus the collector's CA from the standard OTLP
            // variables (else SSL_CERT_FILE), like every outgoing request.
            let ca = [
                "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
            ]
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()))
            .map(std::path::PathBuf::from);
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
        let (items, next) = cursor::read_after(&ledger_dir, &cur, args.batch as usize)?;
        if !items.is_empty() {
            match &mut sink {
                Sink::Otlp(ep, client, rt) => {
                    let body = otlp::payload(&ledger_dir, &items)?;
                    rt.block_on(otlp::send(client, ep, body))?;
                }
                Sink::File(f) => f.write(&items)?,
            }
            // Acknowledged: only now does the cursor move (a crash before this resends the batch).
            next.save(&cursor_file)?;
            shipped += items.len() as u64;
            cur = next;
            continue;
        }
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
