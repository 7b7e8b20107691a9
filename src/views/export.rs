//! `export`: hand records to other tools — JSON Lines (the stored records, unchanged), CSV (one
//! row per call or event, with a formula-injection guard) and SARIF 2.1.0 for code scanning.

use super::calls::Item;
use super::text::rfc3339;
use anyhow::Result;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes the stored records of each item, one JSON object per line, as they are in the
/// ledger (so they still verify).
pub fn jsonl_item(out: &mut impl Write, item: &Item) -> Result<()> {
    for e in item.entries() {
        if e.raw.is_empty() {
            serde_json::to_writer(&mut *out, e)?;
        } else {
            out.write_all(e.raw.as_bytes())?;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The CSV columns.
pub const CSV_HEADER: [&str; 19] = [
    "seq",
    "time",
    "session",
    "door",
    "event",
    "tool",
    "action",
    "target",
    "verdict",
    "linked_verdict",
    "risk",
    "flags",
    "rules",
    "reason",
    "status",
    "duration_ms",
    "outcome_seq",
    "gap",
    "record_hash",
];

/// A CSV writer of rows.
pub struct Csv<W: Write> {
    w: csv::Writer<W>,
    /// Scratch text for joined and numeric cells.
    buf: String,
}

impl<W: Write> Csv<W> {
    /// Starts the file with its header row.
    pub fn new(out: W) -> Result<Csv<W>> {
        let mut w = csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(out);
        w.write_record(CSV_HEADER)?;
        Ok(Csv {
            w,
            buf: String::new(),
        })
    }

    /// One row per item: a call with its outcome and the other door's verdict, or an event
    /// (the same as a `log` row, written without copying the records).
    pub fn item(&mut self, item: &Item) -> Result<()> {
        use std::fmt::Write as _;
        let e = item.head();
        let call = match item {
            Item::Call(c) => Some(c.as_ref()),
            Item::Event(_) => None,
        };
        self.number(Some(e.seq))?;
        self.buf.clear();
        write!(self.buf, "{}", super::text::Rfc3339(e.ts))?;
        self.scratch()?;
        self.field(opt(&e.session))?;
        self.field(opt(&e.door))?;
        self.field(&e.event)?;
        self.field(opt(&e.tool))?;
        self.field(opt(&e.action))?;
        self.joined(e.target.iter(), " ")?;
        self.field(opt(&e.verdict))?;
        let linked = call.and_then(|c| c.linked.first());
        self.field(linked.map_or("", |l| opt(&l.verdict)))?;
        self.field(opt(&e.risk))?;
        self.joined(e.flags.iter(), ",")?;
        let extra = linked.into_iter().flat_map(|l| {
            l.rules
                .iter()
                .enumerate()
                .filter(|(i, r)| !e.rules.contains(r) && !l.rules[..*i].contains(r))
                .map(|(_, r)| r)
        });
        self.joined(e.rules.iter().chain(extra), ",")?;
        self.field(opt(&e.reason))?;
        match call {
            Some(c) => {
                self.field(Some(c.status()).filter(|s| *s != "-").unwrap_or(""))?;
                self.number(c.duration_ms())?;
                self.number(c.outcome().map(|o| o.seq))?;
                self.field(c.gaps.first().map_or("", |g| opt(&g.gap)))?;
            }
            None => {
                self.field(e.outcome.as_ref().map_or("", |o| o.status.as_str()))?;
                self.number(e.outcome.as_ref().and_then(|o| o.duration_ms))?;
                self.field("")?;
                self.field(opt(&e.gap))?;
            }
        }
        self.field(&e.hash)?;
        self.w.write_record(None::<&[u8]>)?;
        Ok(())
    }

    fn field(&mut self, cell: &str) -> Result<()> {
        self.w.write_field(guard_formula(cell).as_bytes())?;
        Ok(())
    }

    fn scratch(&mut self) -> Result<()> {
        self.w.write_field(guard_formula(&self.buf).as_bytes())?;
        Ok(())
    }

    fn number(&mut self, n: Option<u64>) -> Result<()> {
        use std::fmt::Write as _;
        self.buf.clear();
        if let Some(n) = n {
            write!(self.buf, "{n}")?;
        }
        self.scratch()
    }

    fn joined<'s>(&mut self, parts: impl Iterator<Item = &'s String>, sep: &str) -> Result<()> {
        self.buf.clear();
        for (i, p) in parts.enumerate() {
            if i > 0 {
                self.buf.push_str(sep);
            }
            self.buf.push_str(p);
        }
        self.scratch()
    }

    /// Flushes the output.
    pub fn finish(mut self) -> Result<()> {
        self.w.flush()?;
        Ok(())
    }
}

/// One export in progress, in any of the formats.
pub enum Exporter<W: Write> {
    Jsonl(W),
    Csv(Box<Csv<W>>),
    Sarif(Box<Sarif>, W),
}

impl<W: Write> Exporter<W> {
    /// Starts an export in `format` (`jsonl`, `csv`, `sarif`; SARIF needs `sarif`).
    pub fn new(format: &str, out: W, sarif: Option<SarifContext>) -> Result<Exporter<W>> {
        Ok(match (format, sarif) {
            ("csv", _) => Exporter::Csv(Box::new(Csv::new(out)?)),
            ("sarif", Some(ctx)) => Exporter::Sarif(Box::new(Sarif::new(ctx)), out),
            ("jsonl", _) => Exporter::Jsonl(out),
            (other, _) => anyhow::bail!("unknown export format `{other}` (jsonl, csv, sarif)"),
        })
    }

    /// Adds one item.
    pub fn item(&mut self, item: &Item) -> Result<()> {
        match self {
            Exporter::Jsonl(w) => jsonl_item(w, item),
            Exporter::Csv(c) => c.item(item),
            Exporter::Sarif(s, _) => {
                s.item(item);
                Ok(())
            }
        }
    }

    /// Ends the export; for SARIF returns (findings without a location, findings over limit).
    pub fn finish(self) -> Result<(usize, usize)> {
        match self {
            Exporter::Jsonl(mut w) => {
                w.flush()?;
                Ok((0, 0))
            }
            Exporter::Csv(c) => c.finish().map(|()| (0, 0)),
            Exporter::Sarif(s, mut w) => {
                let counts = (s.unlocated, s.over_limit);
                s.finish(&mut w)?;
                w.flush()?;
                Ok(counts)
            }
        }
    }
}

/// The text of an optional member, or `""`.
fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// A cell a spreadsheet would run as a formula (`= + - @`, tab, CR first) gets a leading `'`.
pub fn guard_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Where SARIF locations are resolved against.
#[derive(Debug, Clone)]
pub struct SarifContext {
    /// Root of the repository the findings are reported for.
    pub repo: PathBuf,
    /// The run's id (`automationDetails.id`).
    pub run_id: String,
}

/// Maximum results in one run (GitHub's limit).
const MAX_RESULTS: usize = 25_000;

#[derive(Default)]
struct RuleInfo {
    risk: u8,
    reason: String,
    flags: Vec<String>,
    policy_rules: Vec<String>,
    level: &'static str,
}

/// Collects findings (refused, flagged and gap calls) and writes one SARIF 2.1.0 log.
pub struct Sarif {
    ctx: SarifContext,
    rules: BTreeMap<String, RuleInfo>,
    results: Vec<Value>,
    /// Findings with no location in the repository (GitHub does not show those).
    pub unlocated: usize,
    /// Findings beyond the per-run limit.
    pub over_limit: usize,
}

impl Sarif {
    pub fn new(ctx: SarifContext) -> Sarif {
        Sarif {
            ctx,
            rules: BTreeMap::new(),
            results: Vec::new(),
            unlocated: 0,
            over_limit: 0,
        }
    }

    /// Adds the findings of one item (allowed calls and other events have none, except gaps).
    pub fn item(&mut self, item: &Item) {
        let Item::Call(c) = item else {
            if let Item::Event(e) = item
                && e.event == "enforcement.gap"
            {
                self.gap(e.as_ref(), None);
            }
            return;
        };
        for g in &c.gaps {
            self.gap(g, Some(&c.decision));
        }
        let d = std::iter::once(&c.decision)
            .chain(&c.linked)
            .max_by_key(|d| verdict_rank(d.verdict()))
            .unwrap_or(&c.decision);
        let level = match d.verdict() {
            "deny" => "error",
            "ask" => "warning",
            "flag" => "note",
            _ => return,
        };
        let rule_id = d
            .findings
            .first()
            .or(d.rules.first())
            .cloned()
            .unwrap_or_else(|| format!("verdict.{}", d.verdict()));
        let risk = super::entry::risk_rank(d.risk()).unwrap_or(0);
        let info = self.rules.entry(rule_id.clone()).or_default();
        if info.reason.is_empty() {
            info.reason = d.reason.clone().unwrap_or_default();
            info.level = level;
        }
        info.risk = info.risk.max(risk);
        for f in &d.flags {
            if !info.flags.contains(f) {
                info.flags.push(f.clone());
            }
        }
        for r in &d.rules {
            if !info.policy_rules.contains(r) {
                info.policy_rules.push(r.clone());
            }
        }
        let verb = match d.verdict() {
            "deny" => "Denied",
            "ask" => "Held for approval",
            _ => "Flagged",
        };
        let target = d.target_text();
        let message = format!(
            "{verb} {} `{}` (risk {}; flags {}). {}",
            d.tool(),
            one_line(&target, 200),
            d.risk(),
            if d.flags.is_empty() {
                "none".into()
            } else {
                d.flags.join(", ")
            },
            one_line(d.reason.as_deref().unwrap_or(""), 400),
        );
        self.result(&rule_id, level, message, d, &target);
    }

    fn gap(&mut self, g: &super::entry::Entry, decision: Option<&super::entry::Entry>) {
        let rule_id = "pw.enforcement-gap".to_string();
        let info = self.rules.entry(rule_id.clone()).or_default();
        info.risk = 4;
        info.level = "error";
        if info.reason.is_empty() {
            info.reason = "A call the gateway refused ran anyway, or a call ran without any \
                           decision: the block did not hold (hook not fired, killed or timed out)."
                .into();
        }
        let target = decision.map(|d| d.target_text()).unwrap_or_default();
        let message = format!(
            "Enforcement gap ({}) on {} `{}`: {}",
            g.gap.as_deref().unwrap_or("?"),
            g.tool(),
            one_line(&target, 200),
            one_line(g.detail.as_deref().unwrap_or(""), 300)
        );
        self.result(&rule_id, "error", message, decision.unwrap_or(g), &target);
    }

    fn result(
        &mut self,
        rule_id: &str,
        level: &str,
        message: String,
        d: &super::entry::Entry,
        target: &str,
    ) {
        let Some(uri) = self.location(d) else {
            self.unlocated += 1;
            return;
        };
        if self.results.len() >= MAX_RESULTS {
            self.over_limit += 1;
            return;
        }
        let fingerprint = {
            let h = Sha256::digest(format!("{rule_id}\n{target}").as_bytes());
            format!("{}:1", &hex::encode(h)[..16])
        };
        let session = d.session.clone().unwrap_or_default();
        self.results.push(json!({
            "ruleId": rule_id,
            "level": level,
            "message": {"text": message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": 1}
                },
                "logicalLocations": [{
                    "name": d.tool(),
                    "fullyQualifiedName": format!("session/{session}/{}", d.tool()),
                    "kind": "function"
                }]
            }],
            "partialFingerprints": {"primaryLocationLineHash": fingerprint},
            "properties": {
                "patchwork.seq": d.seq,
                "patchwork.verdict": d.verdict(),
                "patchwork.record_hash": d.hash,
                "patchwork.session": session,
                "patchwork.time": rfc3339(d.ts),
            }
        }));
    }

    /// The repository-relative path of the call's first file target inside the repository.
    fn location(&self, d: &super::entry::Entry) -> Option<String> {
        d.target.iter().find_map(|t| {
            let (action, value) = t.split_once(':')?;
            if !action.starts_with("file_") {
                return None;
            }
            let p = Path::new(value);
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                Path::new(d.cwd.as_deref()?).join(p)
            };
            let rel = abs.strip_prefix(&self.ctx.repo).ok()?;
            let uri: Vec<String> = rel
                .components()
                .map(|c| match c {
                    std::path::Component::Normal(s) => Some(percent(&s.to_string_lossy())),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            (!uri.is_empty()).then(|| uri.join("/"))
        })
    }

    /// Writes the log.
    pub fn finish(self, out: &mut impl Write) -> Result<()> {
        let ids: Vec<&String> = self.rules.keys().collect();
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|(id, info)| rule_json(id, info))
            .collect();
        let mut results = self.results;
        for r in &mut results {
            let id = r["ruleId"].as_str().unwrap_or_default().to_string();
            if let Some(i) = ids.iter().position(|x| **x == id) {
                r["ruleIndex"] = json!(i);
            }
        }
        let log = json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "patchwork-gateway",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://example.invalid/patchwork-gateway",
                    "rules": rules,
                }},
                "automationDetails": {"id": self.ctx.run_id},
                "results": results,
                "properties": {
                    "patchwork.unlocated_findings": self.unlocated,
                    "patchwork.findings_over_limit": self.over_limit,
                }
            }]
        });
        serde_json::to_writer_pretty(&mut *out, &log)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

fn verdict_rank(v: &str) -> usize {
    ["allow", "flag", "ask", "deny"]
        .iter()
        .position(|x| *x == v)
        .unwrap_or(0)
}

fn rule_json(id: &str, info: &RuleInfo) -> Value {
    let severity = ["1.0", "3.0", "5.5", "8.0", "9.5"][info.risk.min(4) as usize];
    let title = id
        .split(['.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<String>();
    let short = format!("AI agent tool call matched {id}");
    let full = if info.reason.is_empty() {
        short.clone()
    } else {
        format!(
            "{}{}",
            one_line(&info.reason, 900),
            if info.flags.is_empty() {
                String::new()
            } else {
                format!(" (flags: {})", info.flags.join(", "))
            }
        )
    };
    let help = format!(
        "An agent's tool call was refused or flagged by the policy{}. Review it with \
         `patchwork-gateway replay <session>`; change the policy only if the call was intended.",
        if info.policy_rules.is_empty() {
            String::new()
        } else {
            format!(" (rules: {})", info.policy_rules.join(", "))
        }
    );
    json!({
        "id": id,
        "name": one_line(&title, 255),
        "shortDescription": {"text": one_line(&short, 1024)},
        "fullDescription": {"text": one_line(&full, 1024)},
        "help": {"text": one_line(&help, 1024)},
        "defaultConfiguration": {"level": if info.level.is_empty() { "warning" } else { info.level }},
        "properties": {
            "tags": ["security", "ai-agent"],
            "precision": "high",
            "security-severity": severity,
        }
    })
}

/// One line of at most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    super::text::clip(flat.trim(), max)
}

/// Percent-encodes what a URI path segment cannot hold.
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(guard_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(guard_formula("-2+3"), "'-2+3");
        assert_eq!(guard_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(guard_formula("\tx"), "'\tx");
        assert_eq!(guard_formula("plain"), "plain");
        assert_eq!(percent("a b#.rs"), "a%20b%23.rs");
    }
}
