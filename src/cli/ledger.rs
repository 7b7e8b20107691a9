//! `log`, `seal` and `verify`: the ledger commands.

use super::Ctx;
use crate::call::Risk;
use crate::ledger::{Ledger, Record, SealKey, VerifyReport};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::Write;

/// Options of `log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only records at or above this risk.
    #[arg(long)]
    pub risk: Option<String>,
    /// Only this session (`latest` for the most recent).
    #[arg(long)]
    pub session: Option<String>,
    /// Only this action.
    #[arg(long)]
    pub action: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// At most N records (the most recent).
    #[arg(long)]
    pub limit: Option<usize>,
    /// One JSON record per line.
    #[arg(long)]
    pub json: bool,
}

/// Options of `seal`.
#[derive(Debug, Args)]
pub struct SealArgs {}

/// Options of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Machine-readable report.
    #[arg(long)]
    pub json: bool,
    /// Also compare the ledger with every checkpoint a witness holds (its socket or folder).
    #[arg(long, value_name = "PATH|DIR")]
    pub witness: Option<std::path::PathBuf>,
    /// Check this inclusion proof (from `prove`) offline instead of the ledger; needs --pubkey.
    #[arg(long, value_name = "FILE", requires = "pubkey")]
    pub proof: Option<std::path::PathBuf>,
    /// The checkpoint verifier key (`keys export --public`) [default: this home's key].
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<std::path::PathBuf>,
}

/// The ledger of `ctx`, or `None` when it was never created (read-only commands create nothing).
fn existing_ledger(ctx: &Ctx) -> Result<Option<Ledger>> {
    let dir = ctx.home.ledger_dir();
    if !dir.is_dir() {
        return Ok(None);
    }
    Ledger::open(&dir).map(Some)
}

fn parse_risk(s: &str) -> Result<Risk> {
    let all = [
        Risk::None,
        Risk::Low,
        Risk::Medium,
        Risk::High,
        Risk::Critical,
    ];
    all.into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(s))
        .with_context(|| format!("unknown risk `{s}` (none, low, medium, high, critical)"))
}

/// Filters of `log`, resolved.
struct Filter {
    risk: Option<Risk>,
    session: Option<String>,
    action: Option<String>,
    since: Option<i64>,
}

impl Filter {
    fn keeps(&self, r: &Record) -> bool {
        if let Some(min) = self.risk {
            let risk = r.str("risk").and_then(|s| parse_risk(s).ok());
            if risk.is_none_or(|x| x < min) {
                return false;
            }
        }
        if self
            .session
            .as_deref()
            .is_some_and(|s| r.str("session") != Some(s))
        {
            return false;
        }
        if self
            .action
            .as_deref()
            .is_some_and(|a| r.str("action") != Some(a))
        {
            return false;
        }
        self.since.is_none_or(|t| r.ts >= t)
    }
}

/// Lists ledger records.
pub fn log(ctx: &Ctx, args: LogArgs) -> Result<i32> {
    let risk = args.risk.as_deref().map(parse_risk).transpose()?;
    let since = match &args.since {
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .with_context(|| {
                    format!("--since `{s}` is not an RFC 3339 time (e.g. 2026-01-31T09:00:00Z)")
                })?
                .timestamp_micros(),
        ),
        None => None,
    };
    let Some(ledger) = existing_ledger(ctx)? else {
        eprintln!("no ledger yet at {}", ctx.home.ledger_dir().display());
        return Ok(0);
    };
    let session = match args.session.as_deref() {
        Some("latest") => {
            let mut last = None;
            for r in ledger.records()? {
                if let Some(s) = r?.str("session") {
                    last = Some(s.to_string());
                }
            }
            match last {
                Some(s) => Some(s),
                None => bail!("no record has a session yet"),
            }
        }
        other => other.map(str::to_string),
    };
    let filter = Filter {
        risk,
        session,
        action: args.action.clone(),
        since,
    };
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut kept = VecDeque::new();
    for r in ledger.records()? {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                eprintln!("skipping: {e:#}");
                continue;
            }
        };
        if filter.keeps(&r) {
            if kept.len() == limit {
                kept.pop_front();
            }
            if limit > 0 {
                kept.push_back(r);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        for r in &kept {
            serde_json::to_writer(&mut out, &r.fields)?;
            out.write_all(b"\n")?;
        }
    } else {
        writeln!(
            out,
            "{:<20} {:>6} {:<8} {:<4} {:<16} {:<7} {:<8} {:<40} RULES",
            "TIME", "SEQ", "SESSION", "DOOR", "ACTION", "VERDICT", "RISK", "TARGET"
        )?;
        for r in &kept {
            writeln!(out, "{}", table_row(r))?;
        }
    }
    Ok(0)
}

/// One row of the `log` table.
fn table_row(r: &Record) -> String {
    let time = chrono::DateTime::from_timestamp_micros(r.ts)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| r.ts.to_string());
    let session: String = r.str("session").unwrap_or("-").chars().take(8).collect();
    let action = r.str("action").or(r.event()).unwrap_or("-");
    let verdict = match r.fields.get("verdict") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("effect")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string(),
        _ => "-".into(),
    };
    let target = match r.fields.get("target") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().map(short).collect::<Vec<_>>().join(" "),
        Some(v) => short(v),
        None => "-".into(),
    };
    let rules = match r.fields.get("rules") {
        Some(Value::Array(a)) => a.iter().map(short).collect::<Vec<_>>().join(","),
        Some(v) => short(v),
        None => String::new(),
    };
    format!(
        "{time:<20} {:>6} {session:<8} {:<4} {:<16} {verdict:<7} {:<8} {:<40} {rules}",
        r.seq,
        r.str("door").unwrap_or("-"),
        clip(action, 16),
        r.str("risk").unwrap_or("-"),
        clip(&target.replace(['\n', '\t'], " "), 40),
    )
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("value")
            .and_then(Value::as_str)
            .map_or_else(|| v.to_string(), str::to_string),
        other => other.to_string(),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

/// Seals the ledger tip.
pub fn seal(ctx: &Ctx, _args: SealArgs) -> Result<i32> {
    ctx.home.ensure()?;
    let ledger = Ledger::open(&ctx.home.ledger_dir())?;
    let key = SealKey::load_or_create(&ctx.home.keys_dir().join("seal.key"))?;
    let seal = ledger.seal(&key)?;
    println!(
        "sealed {} records, tip {}, key {}, {}",
        seal.count, seal.tip, seal.key_id, seal.mac
    );
    Ok(0)
}

/// Verifies the ledger: exit 0 when intact, 1 when damaged, 2 when it could not be verified.
/// With `--proof`, checks only that proof, offline.
pub fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<i32> {
    if let Some(p) = &args.proof {
        return super::evidence::verify_proof(p, args.pubkey.as_deref(), args.json);
    }
    match run_verify(ctx).and_then(|r| super::evidence::verify_evidence(ctx, r, &args)) {
        Ok(full) => {
            let mut out = std::io::stdout().lock();
            if args.json {
                serde_json::to_writer_pretty(&mut out, &full)?;
                writeln!(out)?;
            } else {
                write_report(&mut out, ctx, &full.ledger)?;
                super::evidence::write_evidence(&mut out, &full)?;
            }
            Ok(if full.ledger.intact { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("patchwork-gateway: cannot verify the ledger: {e:#}");
            Ok(2)
        }
    }
}

fn run_verify(ctx: &Ctx) -> Result<VerifyReport> {
    let key_path = ctx.home.keys_dir().join("seal.key");
    let key = if key_path.exists() {
        Some(SealKey::load(&key_path)?)
    } else {
        None
    };
    // Works on a folder that does not exist yet (an empty ledger) without creating it.
    crate::ledger::verify_dir(&ctx.home.ledger_dir(), key.as_ref())
}

fn write_report(out: &mut impl Write, ctx: &Ctx, r: &VerifyReport) -> Result<()> {
    writeln!(out, "ledger   {}", ctx.home.ledger_dir().display())?;
    writeln!(
        out,
        "records  {} ({} verified), tip {}",
        r.records, r.verified, r.tip
    )?;
    writeln!(out, "recovery {} recovery record(s)", r.recoveries)?;
    writeln!(
        out,
        "seals    {} ({} valid), {} records sealed, unsealed tail {}",
        r.seals, r.seals_ok, r.sealed, r.unsealed_tail
    )?;
    match r.first() {
        None if r.intact => writeln!(out, "OK       chain, links and seals intact")?,
        None => {}
        Some(_) => {
            for d in &r.damage {
                writeln!(
                    out,
                    "DAMAGED  seq {}: {} — {}",
                    d.seq,
                    d.kind.as_str(),
                    d.detail
                )?;
            }
        }
    }
    Ok(())
}
