//! `log`: query the ledger — filters, a table (colour on a terminal), JSON, JSON Lines, and
//! `--follow`. The filter options are shared with `export`.

use super::Ctx;
use crate::views::calls::{DEFAULT_HOLD, Item, Joiner};
use crate::views::filter::{self, Filter, SessionSel};
use crate::views::log::{Row, Table};
use crate::views::source::{self, Source};
use crate::views::{export, text};
use anyhow::Result;
use clap::Args;
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

/// The record filters of `log` and `export`.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only this session: a full id, a unique prefix, or `latest`.
    #[arg(long, value_name = "ID|PREFIX|latest")]
    pub session: Option<String>,
    /// Only records at or after this time: RFC 3339, or a duration back from now (90s, 15m, 2h, 3d, 1w).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only calls at or above this risk (none, low, medium, high, critical).
    #[arg(long, value_name = "MIN")]
    pub risk: Option<String>,
    /// Only calls with this verdict (allow, flag, ask, deny); repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub verdict: Vec<String>,
    /// Only calls with this action (file_write, command_execute, …); repeat or use commas.
    #[arg(long, value_delimiter = ',')]
    pub action: Vec<String>,
    /// Only records from this door.
    #[arg(long, value_parser = ["hook", "mcp"])]
    pub door: Option<String>,
    /// Only this tool (case-insensitive; a trailing `*` matches a prefix, as in `mcp__fs__*`).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only calls where this policy rule matched.
    #[arg(long)]
    pub rule: Option<String>,
    /// Only records containing this text (tool, target, rule, reason, error; case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
}

impl FilterArgs {
    /// Checks the options and resolves the session against the ledger.
    pub fn resolve(&self, source: &Source) -> Result<Filter> {
        let now = filter::now_us();
        let session = match &self.session {
            Some(s) => Some(source.resolve_session(&SessionSel::parse(s))?),
            None => None,
        };
        Ok(Filter {
            session,
            since: self
                .since
                .as_deref()
                .map(|s| filter::parse_time(s, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| filter::parse_time(s, now))
                .transpose()?,
            min_risk: self.risk.as_deref().map(filter::parse_risk).transpose()?,
            verdicts: self
                .verdict
                .iter()
                .map(|v| filter::parse_verdict(v))
                .collect::<Result<_>>()?,
            actions: self.action.clone(),
            door: self.door.clone(),
            tool: self.tool.clone(),
            rule: self.rule.clone(),
            grep: self.grep.clone(),
        })
    }
}

/// Options of `log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most N rows (the most recent).
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// A JSON array of rows (each call with its outcome joined).
    #[arg(long, conflicts_with_all = ["jsonl", "follow"])]
    pub json: bool,
    /// The matching ledger records, unchanged, one per line.
    #[arg(long)]
    pub jsonl: bool,
    /// Keep running and show new records as they are appended.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// How rows are written.
enum Out {
    Table(Table),
    Json(bool),
    Jsonl,
}

/// Lists ledger records.
pub fn log(ctx: &Ctx, args: LogArgs) -> Result<i32> {
    let source = Source::for_home(&ctx.home);
    if !source.exists() && !args.follow {
        eprintln!("no ledger yet at {}", ctx.home.ledger_dir().display());
        if args.json {
            println!("[]");
        }
        return Ok(0);
    }
    let filter = args.filter.resolve(&source)?;
    let mut stdout = anstream::stdout().lock();
    let mut out = if args.json {
        Out::Json(true)
    } else if args.jsonl {
        Out::Jsonl
    } else {
        let width = std::io::IsTerminal::is_terminal(&std::io::stdout())
            .then(text::terminal_width)
            .flatten();
        let t = Table::new(width);
        t.header(&mut stdout)?;
        Out::Table(t)
    };
    if args.json {
        write!(stdout, "[")?;
    }
    let limit = args
        .limit
        .unwrap_or(if args.follow { 20 } else { usize::MAX });
    let mut kept: VecDeque<Item> = VecDeque::new();
    let mut joiner = Joiner::new(DEFAULT_HOLD);
    let keep = |item: Item, kept: &mut VecDeque<Item>| {
        if filter.keeps(&item) && limit > 0 {
            if kept.len() == limit {
                kept.pop_front();
            }
            kept.push_back(item);
        }
    };
    let end = if source.exists() {
        let records = source.select(&filter)?;
        for e in records {
            for item in joiner.push(e) {
                keep(item, &mut kept);
            }
        }
        for item in joiner.finish() {
            keep(item, &mut kept);
        }
        std::fs::metadata(source.log_path()).map_or(0, |m| m.len())
    } else {
        0
    };
    for item in &kept {
        emit(&mut stdout, &mut out, item)?;
    }
    stdout.flush()?;
    if args.follow {
        // New records are shown as they come: an outcome appears as its own row.
        source::follow(
            &source.log_path(),
            end,
            Duration::from_millis(200),
            || false,
            |e| {
                if !filter.keeps_record(&e) {
                    return Ok(());
                }
                let item = Item::single(e);
                if filter.keeps(&item) {
                    emit(&mut stdout, &mut out, &item)?;
                    stdout.flush()?;
                }
                Ok(())
            },
        )?;
    }
    if args.json {
        writeln!(stdout, "]")?;
    }
    Ok(0)
}

fn emit(w: &mut impl Write, out: &mut Out, item: &Item) -> Result<()> {
    match out {
        Out::Table(t) => t.row(w, &Row::of(item))?,
        Out::Json(first) => {
            if !*first {
                write!(w, ",")?;
            }
            *first = false;
            writeln!(w)?;
            serde_json::to_writer(&mut *w, &Row::of(item))?;
        }
        Out::Jsonl => export::jsonl_item(w, item)?,
    }
    Ok(())
}
