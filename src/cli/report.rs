//! `report`: the compliance evidence report (see `src/compliance`).

use super::Ctx;
use crate::compliance::render::{Format, render};
use crate::compliance::trends::Period;
use crate::compliance::{Options, Selection, evaluate};
use crate::ledger::SealKey;
use crate::policy::{Env, Policy};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;

/// Options of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Frameworks: all, or a comma list of soc2, iso27001, eu-ai-act, gdpr, nist-ai-rmf, hipaa, pci-dss.
    #[arg(long, default_value = "all", value_name = "ID[,ID…]|all")]
    pub framework: String,
    /// List every gap (not satisfied and partially satisfied controls) with the fix and effort.
    #[arg(long)]
    pub include_gaps: bool,
    /// Output format.
    #[arg(long, default_value = "md", value_name = "html|json|md|oscal")]
    pub format: String,
    /// Output file (default: stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Only records at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, conflicts_with = "range")]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, conflicts_with = "range")]
    pub until: Option<String>,
    /// Only records with seq FIRST..LAST (inclusive).
    #[arg(long, value_name = "FIRST..LAST")]
    pub range: Option<String>,
    /// Trends per window: the satisfied share and the refusals.
    #[arg(long, value_name = "day|week|month")]
    pub by: Option<String>,
    /// EU AI Act scope: `benchmark` (default: a coding agent is usually not high-risk) or `in-scope`.
    #[arg(long, default_value = "benchmark", value_name = "benchmark|in-scope")]
    pub ai_act_scope: String,
    /// Frameworks the organisation declares out of scope (their controls become not applicable).
    #[arg(long, value_name = "ID[,ID…]")]
    pub out_of_scope: Option<String>,
    /// The checkpoint verifier key to check signed checkpoints with (`keys export --public`)
    /// [default: this home's key, if it has one].
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_ascii_lowercase())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Microseconds since the epoch of an RFC 3339 time or a UTC date.
fn parse_time(flag: &str, s: &str) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
        .with_context(|| format!("{flag} `{s}` is not an RFC 3339 time or a YYYY-MM-DD date"))
}

fn parse_range(s: &str) -> Result<(u64, u64)> {
    let (a, b) = s
        .split_once("..")
        .with_context(|| format!("--range `{s}` is not FIRST..LAST (e.g. 0..999)"))?;
    let a: u64 = a
        .trim()
        .parse()
        .with_context(|| format!("--range: `{a}` is not a seq"))?;
    let b: u64 = b
        .trim()
        .parse()
        .with_context(|| format!("--range: `{b}` is not a seq"))?;
    if a > b {
        bail!("--range {a}..{b}: the first seq is after the last");
    }
    Ok((a, b))
}

impl ReportArgs {
    fn options(&self) -> Result<(Options, Format)> {
        let format = Format::parse(&self.format)
            .with_context(|| format!("--format `{}`: use html, json, md or oscal", self.format))?;
        let frameworks = list(&self.framework);
        let frameworks = if frameworks.iter().any(|f| f == "all") {
            Vec::new()
        } else {
            frameworks
        };
        let selection = match (&self.range, &self.since, &self.until) {
            (Some(r), _, _) => {
                let (a, b) = parse_range(r)?;
                Selection::Seqs(a, b)
            }
            (None, None, None) => Selection::All,
            (None, since, until) => Selection::Time {
                since: since
                    .as_deref()
                    .map(|s| parse_time("--since", s))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|s| parse_time("--until", s))
                    .transpose()?,
            },
        };
        let trends = match &self.by {
            Some(b) => Some(
                Period::parse(b).with_context(|| format!("--by `{b}`: use day, week or month"))?,
            ),
            None => None,
        };
        let ai_act_in_scope = match self.ai_act_scope.as_str() {
            "benchmark" => false,
            "in-scope" => true,
            other => bail!("--ai-act-scope `{other}`: use benchmark or in-scope"),
        };
        Ok((
            Options {
                frameworks,
                selection,
                include_gaps: self.include_gaps,
                trends,
                ai_act_in_scope,
                out_of_scope: self.out_of_scope.as_deref().map(list).unwrap_or_default(),
            },
            format,
        ))
    }
}

/// Writes the compliance evidence report.
pub fn report(ctx: &Ctx, args: ReportArgs) -> Result<i32> {
    let (opts, format) = args.options()?;
    let key_path = ctx.home.keys_dir().join("seal.key");
    let key = if key_path.exists() {
        Some(SealKey::load(&key_path)?)
    } else {
        None
    };
    let policy = match load_policy(ctx) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!(
                "patchwork-gateway: warning: no policy to inspect ({e:#}); rule-based predicates will not hold"
            );
            None
        }
    };
    let verifier = match &args.pubkey {
        Some(p) => Some(super::checkpoint::read_verifier(p)?),
        None => super::checkpoint::own_verifier(ctx)?,
    };
    let report = evaluate(
        &ctx.home.ledger_dir(),
        key.as_ref(),
        verifier.as_ref(),
        policy.as_ref(),
        &opts,
    )?;
    let text = render(&report, format)?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    Ok(0)
}

fn load_policy(ctx: &Ctx) -> Result<Policy> {
    let project = std::env::var_os("CLAUDE_PROJECT_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .map_or_else(std::env::current_dir, Ok)
        .context("cannot read the current folder")?;
    Policy::load(ctx.policy.as_deref(), &Env::new(ctx.home.root(), &project))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_times() {
        assert_eq!(parse_range("3..9").unwrap(), (3, 9));
        assert!(parse_range("9..3").is_err());
        assert!(parse_range("3-9").is_err());
        assert_eq!(parse_time("--since", "1970-01-02").unwrap(), 86_400_000_000);
        assert_eq!(
            parse_time("--since", "1970-01-01T00:00:01Z").unwrap(),
            1_000_000
        );
        assert!(parse_time("--since", "yesterday").is_err());
    }
}
