//! The HTML side of the views: one template set under `templates/` (askama, auto-escaping).
//!
//! Every page extends `templates/base.html` and carries a [`PageMeta`]: the shared stylesheet
//! (`templates/style.css`, plus the page's own rules), its script, and a strict
//! Content-Security-Policy that allows exactly that inline style and script (by SHA-256) and
//! nothing else — no network, no other script, no frames. A page works offline from `file://`.
//!
//! To add a page: a template `{% extends "base.html" %}` filling `{% block content %}` (and
//! optionally `subtitle`), a struct deriving `askama::Template` with a `page: PageMeta` field,
//! and [`PageMeta::new`] with the page's title, CSS and script. Every string from the ledger is
//! untrusted: let askama escape it (never `|safe` on ledger data).

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The stylesheet every page shares.
pub const BASE_CSS: &str = include_str!("../../templates/style.css");

/// What the base layout needs from every page.
#[derive(Debug, Clone)]
pub struct PageMeta {
    pub title: String,
    /// When the page was generated (RFC 3339, UTC).
    pub generated: String,
    /// The gateway version.
    pub version: &'static str,
    /// The page's stylesheet: [`BASE_CSS`] followed by the page's own rules (trusted, static).
    pub style: String,
    /// The page's script (trusted, static); empty for none.
    pub script: &'static str,
    /// The Content-Security-Policy allowing exactly `style` and `script`.
    pub csp: String,
}

impl PageMeta {
    /// A page titled `title` with extra CSS rules `css` and script `script`.
    pub fn new(title: impl Into<String>, css: &str, script: &'static str) -> PageMeta {
        let style = format!("{BASE_CSS}{css}");
        let csp = csp(&style, script);
        PageMeta {
            title: title.into(),
            generated: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            version: env!("CARGO_PKG_VERSION"),
            style,
            script,
            csp,
        }
    }
}

/// `'sha256-<base64>'` of an inline element's text.
fn source_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The policy: nothing may load or run except the page's own inline style and script; images
/// only from `data:`.
pub fn csp(style: &str, script: &str) -> String {
    let script_src = if script.is_empty() {
        "'none'".to_string()
    } else {
        source_hash(script)
    };
    format!(
        "default-src 'none'; style-src {}; script-src {script_src}; img-src data:; \
         base-uri 'none'; form-action 'none'",
        source_hash(style)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_names_exactly_the_inline_sources() {
        let p = PageMeta::new("t", "a{}", "let x=1;");
        assert!(p.csp.starts_with("default-src 'none'"));
        assert!(p.csp.contains(&source_hash(&p.style)));
        assert!(p.csp.contains(&source_hash("let x=1;")));
        assert!(!p.csp.contains("unsafe"));
    }
}
