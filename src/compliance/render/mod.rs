//! Renderers of the report model: JSON, Markdown, self-contained HTML and OSCAL
//! assessment-results.

mod html;
mod markdown;
pub mod oscal;

use super::model::Report;
use anyhow::Result;

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Markdown,
    Html,
    Oscal,
}

impl Format {
    /// Parses `json`, `md`, `html` or `oscal`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "md" | "markdown" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            "oscal" => Some(Format::Oscal),
            _ => None,
        }
    }
}

/// Renders `report` as `format`.
pub fn render(report: &Report, format: Format) -> Result<String> {
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report)?;
            s.push('\n');
            s
        }
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report)?,
        Format::Oscal => {
            let mut s = serde_json::to_string_pretty(&oscal::assessment_results(report))?;
            s.push('\n');
            s
        }
    })
}

/// Short text of an evidence pointer for the human formats.
fn pointer_text(e: &super::model::Evidence) -> String {
    let mut s = e.description.clone();
    if let Some(h) = &e.hash {
        s.push_str(&format!(" [{h}]"));
    }
    s.push_str(&format!(" — check: `{}`", e.check));
    s
}
