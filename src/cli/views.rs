//! `replay` and `export`: views built from the ledger.

use super::Ctx;
use super::log::FilterArgs;
use crate::views::calls::{DEFAULT_HOLD, Joiner};
use crate::views::export::{Exporter, SarifContext};
use crate::views::filter::{self, SessionSel};
use crate::views::replay;
use crate::views::session::{ReplayFilter, SessionView};
use crate::views::source::Source;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Session id (or a unique prefix), or `latest`.
    pub session: String,
    /// One self-contained HTML page (to stdout, or to -o FILE).
    #[arg(long)]
    pub html: bool,
    /// Output file (`.html` implies --html).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Only calls at or above this risk in the timeline (the summary covers the whole session).
    #[arg(long, value_name = "MIN")]
    pub risk: Option<String>,
    /// Only refused calls and enforcement gaps in the timeline.
    #[arg(long)]
    pub refused_only: bool,
    /// Only calls that touch files in the timeline.
    #[arg(long)]
    pub files_only: bool,
}

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_parser = ["jsonl", "csv", "sarif"])]
    pub format: String,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// SARIF: the repository root locations are relative to [default: the git work tree of
    /// the current directory, or the current directory].
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

/// Step-by-step timeline of one session.
pub fn replay(ctx: &Ctx, args: ReplayArgs) -> Result<i32> {
    let source = Source::for_home(&ctx.home);
    if !source.exists() {
        bail!("no ledger yet at {}", ctx.home.ledger_dir().display());
    }
    let id = source.resolve_session(&SessionSel::parse(&args.session))?;
    let view = SessionView::load(&source, &id)?;
    let filter = ReplayFilter {
        min_risk: args.risk.as_deref().map(filter::parse_risk).transpose()?,
        refused_only: args.refused_only,
        files_only: args.files_only,
    };
    let html = args.html
        || args
            .output
            .as_deref()
            .and_then(Path::extension)
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    match (&args.output, html) {
        (Some(path), true) => write_file(path, replay::html(&view, &filter)?.as_bytes())?,
        (None, true) => std::io::stdout().write_all(replay::html(&view, &filter)?.as_bytes())?,
        (Some(path), false) => {
            let mut text = Vec::new();
            // A file gets no colour codes.
            let mut plain = anstream::StripStream::new(&mut text);
            replay::write_text(&mut plain, &view, &filter)?;
            write_file(path, &text)?;
        }
        (None, false) => {
            let mut out = anstream::stdout().lock();
            replay::write_text(&mut out, &view, &filter)?;
        }
    }
    if let Some(path) = &args.output {
        eprintln!("wrote {}", path.display());
    }
    Ok(0)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Export events.
pub fn export(ctx: &Ctx, args: ExportArgs) -> Result<i32> {
    let source = Source::for_home(&ctx.home);
    let filter = if source.exists() {
        args.filter.resolve(&source)?
    } else {
        Default::default()
    };
    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let out = std::io::BufWriter::with_capacity(1 << 16, sink);
    let sarif = (args.format == "sarif").then(|| SarifContext {
        repo: args.repo.clone().unwrap_or_else(repo_root),
        run_id: format!(
            "patchwork-gateway/ledger/{}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        ),
    });
    let mut exporter = Exporter::new(&args.format, out, sarif)?;
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut read = 0u64;
    let mut joiner = Joiner::new(DEFAULT_HOLD);
    if source.exists() {
        for e in source.select(&filter)? {
            read += 1;
            if progress && read.is_multiple_of(100_000) {
                eprint!("\rexport: {read} records read…");
            }
            for item in joiner.push(e) {
                if filter.keeps(&item) {
                    exporter.item(&item)?;
                }
            }
        }
        for item in joiner.finish() {
            if filter.keeps(&item) {
                exporter.item(&item)?;
            }
        }
    }
    let (unlocated, over) = exporter.finish()?;
    if unlocated > 0 {
        eprintln!(
            "export: {unlocated} finding(s) have no file in the repository and were left out \
             (code scanning shows only results with a location; `log` lists them)"
        );
    }
    if over > 0 {
        eprintln!("export: {over} finding(s) beyond the 25,000-result limit were left out");
    }
    if progress && read >= 100_000 {
        eprintln!(
            "\rexport: {read} records in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(0)
}

/// The git work tree of the current directory, or the current directory.
fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(&cwd)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim_end()))
        .unwrap_or(cwd)
}
