//! Markdown rendering: the first page (disclaimer, range, integrity, scopes, summary), then one
//! table per framework, the gaps and the trends.

use super::super::model::Report;
use super::pointer_text;
use std::fmt::Write;

/// A table cell: pipes and line breaks escaped.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = write_report(&mut o, r);
    o
}

fn write_report(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(
        o,
        "# Compliance evidence report — {} {}\n",
        r.tool, r.version
    )?;
    writeln!(o, "> **Evidence, not certification.** {}\n", r.disclaimer)?;
    writeln!(
        o,
        "- Range: {} ({} records, seq {}..{}), as of {}",
        r.range.selection,
        r.range.records,
        r.range.first_seq.map_or("-".into(), |s| s.to_string()),
        r.range.last_seq.map_or("-".into(), |s| s.to_string()),
        r.as_of
    )?;
    if let Some(tip) = &r.range.tip {
        writeln!(o, "- Range tip: `{tip}`")?;
    }
    let i = &r.integrity;
    match i.first_bad_seq {
        None => writeln!(
            o,
            "- Integrity: verified ({} of {} records), {} valid seals, {} checkpoints",
            i.verified_records, i.records, i.seals_ok, i.checkpoints
        )?,
        Some(seq) => writeln!(
            o,
            "- Integrity: **NOT VERIFIED** — first bad seq {seq}: {}",
            cell(i.damage.as_deref().unwrap_or(""))
        )?,
    }
    for p in &r.policies {
        writeln!(
            o,
            "- Policy `{}` on {} decisions (seq {}..{})",
            p.hash, p.decisions, p.first_seq, p.last_seq
        )?;
    }
    writeln!(
        o,
        "\n## Scope\n\n| Framework | Scope | Note |\n|---|---|---|"
    )?;
    for f in &r.frameworks {
        writeln!(
            o,
            "| {} | {} | {} |",
            cell(&f.name),
            cell(&f.scope),
            cell(&f.scope_note)
        )?;
    }
    writeln!(o, "\n## Summary\n")?;
    for (label, n) in &r.summary {
        writeln!(o, "- {label}: {n}")?;
    }
    for f in &r.frameworks {
        writeln!(o, "\n## {} (scope: {})\n", f.name, f.scope)?;
        writeln!(
            o,
            "| Control | Title | Status | Reason | Evidence |\n|---|---|---|---|---|"
        )?;
        for c in &f.controls {
            let ev: Vec<String> = c.evidence.iter().map(|e| cell(&pointer_text(e))).collect();
            writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                cell(&c.id),
                cell(&c.title),
                c.status.label(),
                cell(&c.reason),
                ev.join("<br>")
            )?;
        }
    }
    if let Some(gaps) = &r.gaps {
        writeln!(
            o,
            "\n## Gaps\n\n| Framework | Control | Missing | Problem | Fix | Effort |\n|---|---|---|---|---|---|"
        )?;
        for g in gaps {
            writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                g.framework,
                cell(&g.control),
                cell(&g.predicate),
                cell(&g.problem),
                cell(&g.fix),
                g.effort
            )?;
        }
    }
    if let Some(t) = &r.trends {
        writeln!(
            o,
            "\n## Trends\n\n| Window | Seqs | Decisions | Denied | Asked | Satisfied |\n|---|---|---|---|---|---|"
        )?;
        for w in t {
            writeln!(
                o,
                "| {} | {}..{} | {} | {} | {} | {}/{} ({:.1} %) |",
                w.window,
                w.first_seq,
                w.last_seq,
                w.decisions,
                w.denied,
                w.asked,
                w.satisfied,
                w.evaluated,
                w.satisfied_share * 100.0
            )?;
        }
    }
    Ok(())
}
