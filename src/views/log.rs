//! `log`: joined items as table rows (decision and outcome on one row), JSON or JSON Lines.

use super::calls::Item;
use super::entry::Entry;
use super::text::{clean, clip, pad, paint, risk_style, time, verdict_style};
use serde::Serialize;
use std::io::Write;

/// One row of `log`: a call (decision with its outcome) or another event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub seq: u64,
    /// Time of the first record, µs since the epoch.
    pub ts: i64,
    /// The same as RFC 3339.
    pub time: String,
    pub event: String,
    pub session: Option<String>,
    pub door: Option<String>,
    pub tool: Option<String>,
    pub action: Option<String>,
    pub target: Vec<String>,
    pub verdict: Option<String>,
    /// The other door's verdict on the same call (MCP door of a hook `mcp__` call).
    pub linked_verdict: Option<String>,
    pub risk: Option<String>,
    pub rules: Vec<String>,
    pub reason: Option<String>,
    /// Outcome status (`ok`, `error`, …), `refused`, or none.
    pub status: Option<String>,
    pub duration_ms: Option<u64>,
    pub outcome_seq: Option<u64>,
    /// An enforcement gap recorded for the call (`denied_but_ran`, …).
    pub gap: Option<String>,
    pub detail: Option<String>,
}

impl Row {
    /// The row of an item.
    pub fn of(item: &Item) -> Row {
        let e = item.head();
        let mut row = Row {
            seq: e.seq,
            ts: e.ts,
            time: super::text::rfc3339(e.ts),
            event: e.event.clone(),
            session: e.session.clone(),
            door: e.door.clone(),
            tool: e.tool.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            verdict: e.verdict.clone(),
            linked_verdict: None,
            risk: e.risk.clone(),
            rules: e.rules.clone(),
            reason: e.reason.clone(),
            status: e.outcome.as_ref().map(|o| o.status.clone()),
            duration_ms: e.outcome.as_ref().and_then(|o| o.duration_ms),
            outcome_seq: None,
            gap: e.gap.clone(),
            detail: event_detail(e),
        };
        if let Item::Call(c) = item {
            row.status = Some(c.status().to_string()).filter(|s| s != "-");
            row.duration_ms = c.duration_ms();
            row.outcome_seq = c.outcome().map(|o| o.seq);
            row.linked_verdict = c.linked.first().and_then(|l| l.verdict.clone());
            if let Some(l) = c.linked.first() {
                for r in &l.rules {
                    if !row.rules.contains(r) {
                        row.rules.push(r.clone());
                    }
                }
            }
            row.gap = c.gaps.first().and_then(|g| g.gap.clone());
        }
        row
    }
}

/// What a non-call event says, in a few words.
fn event_detail(e: &Entry) -> Option<String> {
    let parts: Vec<String> = [
        e.kind.clone(),
        e.source.clone(),
        e.gap.clone(),
        e.detail.clone(),
        e.error.clone(),
        e.armed.map(|a| {
            if a {
                "armed".into()
            } else {
                "NOT ARMED".into()
            }
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Column widths of the table (the target column takes what is left).
const FIXED: [(&str, usize); 9] = [
    ("TIME", 19),
    ("SEQ", 7),
    ("SESSION", 8),
    ("DOOR", 4),
    ("TOOL", 16),
    ("VERDICT", 9),
    ("RISK", 8),
    ("STATUS", 13),
    ("RULE", 24),
];

/// Writes rows as a table `width` characters wide (`None`: no limit). Colours are written as
/// ANSI codes; pass an `anstream` writer to strip them when colour is off.
pub struct Table {
    width: Option<usize>,
}

impl Table {
    pub fn new(width: Option<usize>) -> Table {
        Table { width }
    }

    fn target_width(&self) -> usize {
        let fixed: usize = FIXED.iter().map(|(_, w)| w + 1).sum();
        match self.width {
            Some(w) => w.saturating_sub(fixed).max(12),
            None => usize::MAX / 2,
        }
    }

    /// The header line.
    pub fn header(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut line = String::new();
        for (name, w) in &FIXED[..8] {
            line.push_str(&pad(name, *w));
            line.push(' ');
        }
        line.push_str(&pad("TARGET", self.target_width().min(40)));
        line.push(' ');
        line.push_str("RULE");
        writeln!(
            out,
            "{}",
            paint(anstyle::Style::new().bold(), line.trim_end())
        )
    }

    /// One row.
    pub fn row(&self, out: &mut impl Write, r: &Row) -> std::io::Result<()> {
        let dash = || "-".to_string();
        // The first 8 characters: a prefix `--session` accepts.
        let session: String = r
            .session
            .as_deref()
            .map_or_else(dash, clean)
            .chars()
            .take(8)
            .collect();
        let tool = clean(
            r.tool
                .as_deref()
                .or(r.action.as_deref().filter(|_| r.event == "decision"))
                .unwrap_or(&r.event),
        );
        let verdict = match (&r.verdict, &r.linked_verdict) {
            (Some(v), Some(l)) if l != v => format!("{v}/{l}"),
            (Some(v), _) => v.clone(),
            _ => dash(),
        };
        let worst = if verdict.contains("deny") {
            "deny"
        } else {
            verdict.split('/').next().unwrap_or("")
        };
        let status = match (&r.status, r.duration_ms) {
            (Some(s), Some(ms)) => format!("{s} {ms}ms"),
            (Some(s), None) => s.clone(),
            _ => dash(),
        };
        let target = if r.target.is_empty() {
            r.detail.as_deref().map_or_else(dash, clean)
        } else {
            clean(
                &r.target
                    .iter()
                    .map(|t| t.split_once(':').map_or(t.as_str(), |(_, v)| v))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        };
        let target = match &r.gap {
            Some(g) => format!("GAP {g}: {target}"),
            None => target,
        };
        let tw = self.target_width();
        let target = clip(&target, tw);
        let risk = r.risk.as_deref().unwrap_or("-");
        let rules = clean(&r.rules.join(","));
        let line = format!(
            "{} {} {} {} {} {} {} {} {} {}",
            pad(&time(r.ts), 19),
            pad(&r.seq.to_string(), 7),
            pad(&session, 8),
            pad(r.door.as_deref().unwrap_or("-"), 4),
            pad(&tool, 16),
            paint(verdict_style(worst), &pad(&verdict, 9)),
            paint(risk_style(risk), &pad(risk, 8)),
            paint(status_style(&status), &pad(&status, 13)),
            if self.width.is_some() {
                pad(&target, tw.min(40).max(target.chars().count().min(tw)))
            } else {
                target
            },
            clip(&rules, 24),
        );
        let line = if r.gap.is_some() {
            paint(verdict_style("deny"), &line)
        } else {
            line
        };
        writeln!(out, "{}", line.trim_end())
    }
}

fn status_style(s: &str) -> anstyle::Style {
    if s.starts_with("error") || s.starts_with("failed") || s.starts_with("timeout") {
        verdict_style("deny")
    } else {
        anstyle::Style::new()
    }
}
