//! The control catalogue, as data (`catalogue.yaml`, embedded at build time).

use serde::Deserialize;
use std::sync::OnceLock;

/// One control as the catalogue describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Framework id (`soc2`, `iso27001`, `eu-ai-act`, `gdpr`, `nist-ai-rmf`, `hipaa`, `pci-dss`).
    pub framework: String,
    /// The control id exactly as the standard writes it.
    pub id: String,
    pub title: String,
    /// What the gateway can evidence.
    pub evidence: String,
    /// What it cannot.
    pub cannot: String,
    /// Predicates that must all hold for `satisfied`.
    pub pass: Vec<String>,
    /// Predicates whose failure makes the control `not satisfied`.
    pub core: Vec<String>,
    /// Activity kind whose absence (with full coverage) makes the control not applicable.
    #[serde(default)]
    pub na: Option<String>,
}

/// A framework: id, name and the scope note printed on the first page.
#[derive(Debug, Clone, Copy)]
pub struct Framework {
    pub id: &'static str,
    pub name: &'static str,
    pub scope_note: &'static str,
}

/// The seven frameworks, in report order.
pub const FRAMEWORKS: [Framework; 7] = [
    Framework {
        id: "soc2",
        name: "SOC 2 Trust Services Criteria (2017, points of focus revised 2022)",
        scope_note: "SOC 2 obligations attach to the customer's environment; the gateway contributes evidence for controls over AI-agent tool use. Criteria have no short titles; the text is abridged.",
    },
    Framework {
        id: "iso27001",
        name: "ISO/IEC 27001:2022 Annex A",
        scope_note: "ISO 27001 obligations attach to the customer's ISMS; the gateway contributes evidence for controls over AI-agent tool use.",
    },
    Framework {
        id: "eu-ai-act",
        name: "EU AI Act, Regulation (EU) 2024/1689",
        scope_note: "A general coding agent is usually not a high-risk AI system; the high-risk articles bind only for Annex III use cases or when the agent is part of such a system. High-risk dates: originally 2 Aug 2026, moved by the Digital Omnibus on AI to 2 Dec 2027 (Annex III) and 2 Aug 2028 (Annex I) — confirm the Official Journal reference. Art. 50 transparency applies from 2 Aug 2026.",
    },
    Framework {
        id: "gdpr",
        name: "GDPR, Regulation (EU) 2016/679",
        scope_note: "Applies where agents touch personal data; lawful basis for security logging: Recital 49 (legitimate interest), documented by the customer.",
    },
    Framework {
        id: "nist-ai-rmf",
        name: "NIST AI RMF 1.0 (NIST AI 100-1; GenAI Profile NIST AI 600-1)",
        scope_note: "Voluntary framework; subcategory text abridged.",
    },
    Framework {
        id: "hipaa",
        name: "HIPAA Security Rule (45 CFR Part 164, Subpart C)",
        scope_note: "Obligations attach to the covered entity's environment. Mapped to the existing rule: the NPRM of 6 Jan 2025 has no final rule. R = required, A = addressable.",
    },
    Framework {
        id: "pci-dss",
        name: "PCI DSS v4.0.1",
        scope_note: "Obligations attach to the cardholder data environment; v4.0.1 (June 2024) replaced 4.0; future-dated requirements effective since 31 Mar 2025.",
    },
];

/// The catalogue source.
pub const SOURCE: &str = include_str!("catalogue.yaml");

/// Every control, in catalogue order.
pub fn controls() -> &'static [Control] {
    static CONTROLS: OnceLock<Vec<Control>> = OnceLock::new();
    CONTROLS.get_or_init(|| {
        serde_yaml_ng::from_str(SOURCE).expect("the embedded catalogue parses (checked by tests)")
    })
}

/// The framework with `id`.
pub fn framework(id: &str) -> Option<&'static Framework> {
    FRAMEWORKS.iter().find(|f| f.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::predicates::Predicate;
    use std::collections::BTreeSet;

    #[test]
    fn catalogue_is_well_formed() {
        let all = controls();
        assert!(all.len() >= 45, "{} controls", all.len());
        let mut seen = BTreeSet::new();
        for c in all {
            assert!(framework(&c.framework).is_some(), "{}", c.framework);
            assert!(seen.insert((&c.framework, &c.id)), "duplicate {}", c.id);
            for p in c.pass.iter().chain(&c.core) {
                assert!(
                    Predicate::parse(p).is_some(),
                    "{}: unknown predicate {p}",
                    c.id
                );
            }
            for p in &c.core {
                assert!(c.pass.contains(p), "{}: core {p} not in pass", c.id);
            }
            assert!(!c.pass.is_empty(), "{}", c.id);
        }
        for f in FRAMEWORKS {
            assert!(all.iter().any(|c| c.framework == f.id), "{}", f.id);
        }
    }

    #[test]
    fn the_docs_describe_every_control() {
        let docs = include_str!("../../docs/compliance.md");
        for c in controls() {
            let row = format!("| {} {} |", c.id, c.title);
            assert!(docs.contains(&row), "docs/compliance.md lacks {row}");
        }
    }

    /// The controls of the reference (`../shared/reference/compliance-controls.md`), parsed from
    /// its tables: framework, id and title.
    fn reference_controls(text: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let mut framework = None;
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                framework = match h.split('.').next() {
                    Some("2") => Some("soc2"),
                    Some("3") => Some("iso27001"),
                    Some("4") => Some("eu-ai-act"),
                    Some("5") => Some("gdpr"),
                    Some("6") => Some("nist-ai-rmf"),
                    Some("7") => Some("hipaa"),
                    Some("8") => Some("pci-dss"),
                    _ => None,
                };
                continue;
            }
            let Some(fw) = framework else { continue };
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            if !line.starts_with("| ") || cells.len() != 6 || cells[0].starts_with("---") {
                continue;
            }
            if ["ID", "Article", "Citation", "Req"].contains(&cells[0]) {
                continue;
            }
            out.push((
                fw.to_string(),
                cells[0].to_string(),
                cells[1].replace("**", ""),
            ));
        }
        out
    }

    #[test]
    fn ids_and_titles_match_the_reference() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/reference/compliance-controls.md");
        let Ok(text) = std::fs::read_to_string(&path) else {
            // The reference lives beside the repository on the team's machines only; the
            // catalogue itself is checked by `catalogue_is_well_formed`.
            eprintln!("reference {} not present; skipped", path.display());
            return;
        };
        let reference = reference_controls(&text);
        assert_eq!(reference.len(), 75, "reference tables changed");
        let ours: Vec<(String, String, String)> = controls()
            .iter()
            .map(|c| (c.framework.clone(), c.id.clone(), c.title.clone()))
            .collect();
        for c in &ours {
            assert!(reference.contains(c), "not in the reference: {c:?}");
        }
        for r in &reference {
            assert!(ours.contains(r), "missing from the catalogue: {r:?}");
        }
    }
}
