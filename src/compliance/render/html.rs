//! Self-contained HTML (inline CSS, no scripts, a strict Content-Security-Policy, printable),
//! rendered by askama with auto-escaping.

use super::super::model::Report;
use askama::Template;

#[derive(Template)]
#[template(path = "compliance_report.html")]
struct Page<'a> {
    r: &'a Report,
}

pub fn render(r: &Report) -> anyhow::Result<String> {
    Ok(Page { r }.render()?)
}
