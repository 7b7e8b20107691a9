//! `replay`: one session's story, as text for a terminal or as one self-contained HTML page.

use super::calls::Item;
use super::diffs::FileDiff;
use super::entry::Entry;
use super::html::PageMeta;
use super::session::{ReplayFilter, SessionView};
use super::text::{clean, paint, relative, rfc3339, risk_style, verdict_style};
use anyhow::Result;
use askama::Template;
use std::io::Write;

/// Writes the text replay (colour codes included; strip them with an `anstream` writer).
pub fn write_text(out: &mut impl Write, v: &SessionView, filter: &ReplayFilter) -> Result<()> {
    let bold = anstyle::Style::new().bold();
    writeln!(
        out,
        "{}",
        paint(bold, &format!("Session {}", clean(&v.session)))
    )?;
    let opt = |s: &Option<String>| s.as_deref().map_or("-".to_string(), clean);
    writeln!(out, "  agent     {}", opt(&v.agent))?;
    writeln!(out, "  project   {}", opt(&v.project))?;
    if v.model.is_some() {
        writeln!(out, "  model     {}", opt(&v.model))?;
    }
    writeln!(
        out,
        "  start     {}   end {}{}   duration {:.1}s",
        rfc3339(v.start_us),
        rfc3339(v.last_us),
        if v.ended {
            ""
        } else {
            " (no session end recorded)"
        },
        v.duration_secs()
    )?;
    writeln!(
        out,
        "  policy    {}",
        if v.policies.is_empty() {
            "-".into()
        } else {
            clean(&v.policies.join(", "))
        }
    )?;
    let vstyle = if v.verification.ok() {
        verdict_style("allow")
    } else {
        verdict_style("deny")
    };
    writeln!(
        out,
        "  verified  {}",
        paint(vstyle, &v.verification.describe())
    )?;
    writeln!(out)?;
    for item in v.items.iter().filter(|i| filter.shows(i)) {
        write_item(out, v, item)?;
    }
    writeln!(out)?;
    write_summary(out, v)?;
    Ok(())
}

fn write_item(out: &mut impl Write, v: &SessionView, item: &Item) -> Result<()> {
    let e = item.head();
    let rel = relative(e.ts - v.start_us);
    match item {
        Item::Event(e) if e.event == "enforcement.gap" => {
            writeln!(
                out,
                "{rel}  {}",
                paint(
                    verdict_style("deny"),
                    &format!(
                        "ENFORCEMENT GAP {} {}: {}",
                        clean(e.gap.as_deref().unwrap_or("")),
                        clean(e.tool()),
                        clean(e.detail.as_deref().unwrap_or(""))
                    )
                )
            )?;
        }
        Item::Event(e) => {
            let detail = super::log::Row::of(item).detail.unwrap_or_default();
            writeln!(
                out,
                "{rel}  {}",
                paint(
                    anstyle::Style::new().dimmed(),
                    &format!("· {} {}", clean(&e.event), clean(&detail))
                )
            )?;
        }
        Item::Call(c) => {
            let d = &c.decision;
            writeln!(
                out,
                "{rel}  {} {} {}  {}",
                paint(verdict_style(d.verdict()), &format!("{:<5}", d.verdict())),
                paint(risk_style(d.risk()), &format!("{:<8}", d.risk())),
                paint(anstyle::Style::new().bold(), &clean(d.tool())),
                clean(&d.target_text()),
            )?;
            if d.verdict() != "allow" || !d.rules.is_empty() {
                writeln!(
                    out,
                    "           rule {}  {}",
                    clean(&d.rules.join(",")),
                    clean(d.reason.as_deref().unwrap_or(""))
                )?;
            }
            for l in &c.linked {
                writeln!(
                    out,
                    "           {} door: {} {}",
                    clean(l.door.as_deref().unwrap_or("?")),
                    paint(verdict_style(l.verdict()), l.verdict()),
                    clean(&l.rules.join(","))
                )?;
            }
            for p in &c.permissions {
                writeln!(
                    out,
                    "           permission request answered {}",
                    clean(p.verdict())
                )?;
            }
            match c.outcome() {
                Some(o) => writeln!(out, "           → {}", outcome_text(o))?,
                None if c.refused() => writeln!(out, "           → not run (refused)")?,
                None => writeln!(out, "           → no outcome recorded")?,
            }
            if let Some(diff) = v.diffs.get(&d.seq) {
                write_diff(out, diff)?;
            }
            for g in &c.gaps {
                writeln!(
                    out,
                    "           {}",
                    paint(
                        verdict_style("deny"),
                        &format!(
                            "ENFORCEMENT GAP {}: {}",
                            clean(g.gap.as_deref().unwrap_or("")),
                            clean(g.detail.as_deref().unwrap_or(""))
                        )
                    )
                )?;
            }
        }
    }
    Ok(())
}

/// The recovered diff of a file write, or why there is none.
fn write_diff(out: &mut impl Write, diff: &FileDiff) -> Result<()> {
    match diff {
        FileDiff::NotRecoverable { why, .. } => {
            writeln!(
                out,
                "           {}",
                paint(
                    anstyle::Style::new().dimmed(),
                    &format!("diff not recoverable: {}", clean(why))
                )
            )?;
        }
        FileDiff::Hunks {
            found_in,
            against,
            lines,
            more,
            ..
        } => {
            writeln!(
                out,
                "           diff: the written content (found in {}, proven by the recorded input digest) against {}",
                clean(found_in),
                clean(against)
            )?;
            for l in lines {
                let style = diff_style(l);
                writeln!(out, "             {}", paint(style, &clean(l)))?;
            }
            if *more > 0 {
                writeln!(out, "             … {more} more lines")?;
            }
        }
    }
    Ok(())
}

fn diff_style(line: &str) -> anstyle::Style {
    use anstyle::AnsiColor;
    let c = match line.as_bytes().first() {
        Some(b'+') => AnsiColor::Green,
        Some(b'-') => AnsiColor::Red,
        Some(b'@') => AnsiColor::Cyan,
        _ => return anstyle::Style::new(),
    };
    anstyle::Style::new().fg_color(Some(c.into()))
}

/// The CSS class of a diff line.
fn diff_class(line: &str) -> &'static str {
    match line.as_bytes().first() {
        Some(b'+') => "d-add",
        Some(b'-') => "d-del",
        Some(b'@') => "d-hunk",
        _ => "d-ctx",
    }
}

/// `completed in 12 ms (exit 1: error)` and the like.
fn outcome_text(o: &Entry) -> String {
    let Some(d) = &o.outcome else {
        return "outcome".into();
    };
    let mut s = clean(&d.status);
    if let Some(ms) = d.duration_ms {
        s.push_str(&format!(" in {ms} ms"));
    }
    if let Some(code) = d.exit_code {
        s.push_str(&format!(", exit {code}"));
    }
    if d.is_error == Some(true) {
        s.push_str(", tool reported an error");
    }
    if let Some(err) = &d.error {
        s.push_str(&format!(": {}", clean(err)));
    }
    if let Some(n) = d.output_bytes {
        s.push_str(&format!(" ({n} bytes out)"));
    }
    s
}

fn write_summary(out: &mut impl Write, v: &SessionView) -> Result<()> {
    let s = &v.summary;
    writeln!(out, "{}", paint(anstyle::Style::new().bold(), "Summary"))?;
    writeln!(
        out,
        "  {} calls, {} refused, {} failed, {} enforcement gaps",
        s.calls, s.refused, s.failed, s.gaps
    )?;
    let list = |set: &mut dyn Iterator<Item = &String>| -> String {
        let v: Vec<String> = set.map(|x| clean(x)).collect();
        if v.is_empty() {
            "-".into()
        } else {
            v.join(", ")
        }
    };
    writeln!(
        out,
        "  files created   {}",
        list(&mut s.files_created.iter())
    )?;
    writeln!(
        out,
        "  files modified  {}",
        list(&mut s.files_modified.iter())
    )?;
    writeln!(
        out,
        "  files deleted   {}",
        list(&mut s.files_deleted.iter())
    )?;
    writeln!(out, "  commands        {}", s.commands.len())?;
    for c in s.commands.iter().take(20) {
        writeln!(out, "    $ {}", clean(c))?;
    }
    if s.commands.len() > 20 {
        writeln!(out, "    … {} more", s.commands.len() - 20)?;
    }
    writeln!(
        out,
        "  refusals by rule {}",
        if s.refusals_by_rule.is_empty() {
            "-".to_string()
        } else {
            s.refusals_by_rule
                .iter()
                .map(|(r, n)| format!("{} ×{n}", clean(r)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )?;
    writeln!(
        out,
        "  risk            {}",
        s.risk
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(" · ")
    )?;
    Ok(())
}

/// One timeline entry of the HTML page (every string is ledger text, escaped by askama).
pub struct HtmlEntry {
    pub kind: &'static str,
    pub classes: String,
    pub rel: String,
    pub time: String,
    pub tool: String,
    pub target: String,
    pub verdict: String,
    pub risk: String,
    pub rules: String,
    pub reason: String,
    pub status: String,
    pub seq: u64,
    pub hash: String,
    pub input: String,
    pub verified: bool,
    pub door: String,
    pub others: Vec<String>,
    pub gaps: Vec<String>,
    pub outcome: String,
    /// What is said about the diff of a file write (empty for other calls).
    pub diff_note: String,
    /// The diff lines with their CSS class.
    pub diff: Vec<(&'static str, String)>,
}

/// The replay page.
#[derive(Template)]
#[template(path = "replay.html")]
pub struct ReplayPage<'a> {
    pub page: PageMeta,
    pub v: &'a SessionView,
    pub entries: Vec<HtmlEntry>,
    pub tools: Vec<String>,
    pub duration: String,
    pub verification: String,
    pub verified_ok: bool,
    pub start: String,
    pub end: String,
    pub risk_counts: Vec<(String, usize)>,
    pub rules: Vec<(String, usize)>,
}

const REPLAY_CSS: &str = "";
/// The page's script: filters the timeline, opens every entry for printing.
pub const REPLAY_JS: &str = include_str!("../../templates/replay.js");

/// Renders the HTML replay.
pub fn html(v: &SessionView, filter: &ReplayFilter) -> Result<String> {
    let mut tools: Vec<String> = Vec::new();
    let entries: Vec<HtmlEntry> = v
        .items
        .iter()
        .filter(|i| filter.shows(i))
        .map(|i| {
            let e = html_entry(v, i);
            if e.kind == "call" && !tools.contains(&e.tool) {
                tools.push(e.tool.clone());
            }
            e
        })
        .collect();
    tools.sort();
    let page = ReplayPage {
        page: PageMeta::new(format!("Session {}", v.session), REPLAY_CSS, REPLAY_JS),
        v,
        entries,
        tools,
        duration: format!("{:.1} s", v.duration_secs()),
        verification: v.verification.describe(),
        verified_ok: v.verification.ok(),
        start: rfc3339(v.start_us),
        end: rfc3339(v.last_us),
        risk_counts: v.summary.risk.clone(),
        rules: v
            .summary
            .refusals_by_rule
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect(),
    };
    Ok(page.render()?)
}

fn html_entry(v: &SessionView, item: &Item) -> HtmlEntry {
    let start = v.start_us;
    let e = item.head();
    let verified =
        !e.raw.is_empty() && crate::ledger::scan::scan(e.raw.as_bytes()).is_ok_and(|s| s.hash_ok);
    let mut h = HtmlEntry {
        kind: "event",
        classes: "event".into(),
        rel: relative(e.ts - start),
        time: rfc3339(e.ts),
        tool: e.tool().to_string(),
        target: e.target_text(),
        verdict: e.verdict().to_string(),
        risk: e.risk().to_string(),
        rules: e.rules.join(", "),
        reason: e.reason.clone().unwrap_or_default(),
        status: String::new(),
        seq: e.seq,
        hash: e.hash.clone(),
        input: e
            .input_sha256
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        verified,
        door: e.door.clone().unwrap_or_default(),
        others: Vec::new(),
        gaps: Vec::new(),
        outcome: String::new(),
        diff_note: String::new(),
        diff: Vec::new(),
    };
    match item {
        Item::Event(e) => {
            h.tool = e.event.clone();
            h.target = super::log::Row::of(item).detail.unwrap_or_default();
            if e.event == "enforcement.gap" {
                h.classes = "event has-gap".into();
                h.gaps.push(format!(
                    "{} on {}: {}",
                    e.gap.as_deref().unwrap_or(""),
                    e.tool(),
                    e.detail.as_deref().unwrap_or("")
                ));
            }
        }
        Item::Call(c) => {
            h.kind = "call";
            h.verdict = c.verdict().to_string();
            h.status = c.status().to_string();
            let mut classes = vec!["call".to_string()];
            if c.refused() {
                classes.push("refused".into());
            } else if h.verdict == "flag" {
                classes.push("flagged".into());
            }
            if !c.gaps.is_empty() {
                classes.push("has-gap".into());
            }
            h.classes = classes.join(" ");
            h.outcome = match c.outcome() {
                Some(o) => format!("{} (seq {})", outcome_text(o), o.seq),
                None if c.refused() => "not run (refused)".into(),
                None => "no outcome recorded".into(),
            };
            for l in &c.linked {
                h.others.push(format!(
                    "{} door: {} {} (seq {}) {}",
                    l.door.as_deref().unwrap_or("?"),
                    l.verdict(),
                    l.rules.join(","),
                    l.seq,
                    l.reason.as_deref().unwrap_or("")
                ));
            }
            for p in &c.permissions {
                h.others.push(format!(
                    "permission request answered {} (seq {})",
                    p.verdict(),
                    p.seq
                ));
            }
            match v.diffs.get(&c.decision.seq) {
                Some(FileDiff::NotRecoverable { why, .. }) => {
                    h.diff_note = format!("not recoverable: {why}");
                }
                Some(FileDiff::Hunks {
                    found_in,
                    against,
                    lines,
                    more,
                    ..
                }) => {
                    h.diff_note = format!(
                        "the written content (found in {found_in}, proven by the recorded input \
                         digest) against {against}{}",
                        if *more > 0 {
                            format!("; {more} more lines not shown")
                        } else {
                            String::new()
                        }
                    );
                    h.diff = lines.iter().map(|l| (diff_class(l), l.clone())).collect();
                }
                None => {}
            }
            for g in &c.gaps {
                h.gaps.push(format!(
                    "{}: {} (seq {})",
                    g.gap.as_deref().unwrap_or(""),
                    g.detail.as_deref().unwrap_or(""),
                    g.seq
                ));
            }
        }
    }
    h
}
