//! OSCAL 1.1.3 assessment-results: one result for the range, one observation per evidence
//! predicate, one finding per control, back-matter resources for the ledger range, seals,
//! checkpoints and policies (with their SHA-256). Every uuid is a UUIDv5 of what it names, so
//! re-running on the same range gives byte-identical output.

use super::super::model::{ControlResult, Evidence, Level, Report, Status};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The OSCAL version emitted.
pub const OSCAL_VERSION: &str = "1.1.3";

/// Namespace URI of our own props.
pub const NS: &str = "https://example.invalid/patchwork-gateway/ns/oscal";

fn uuid(kind: &str, key: &str) -> String {
    let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:patchwork-gateway");
    Uuid::new_v5(
        &ns,
        format!("urn:patchwork-gateway:{kind}/{key}").as_bytes(),
    )
    .to_string()
}

/// An OSCAL token for a control: framework prefix, lowercase, anything but letters, digits,
/// `.`, `-` and `_` turned into `-` (e.g. `hipaa-164.312-a-2-i`, `eu-ai-act-art.-12-1`).
pub fn control_token(framework: &str, id: &str) -> String {
    let mut out = String::with_capacity(framework.len() + id.len() + 1);
    out.push_str(framework);
    out.push('-');
    for ch in id.to_lowercase().chars() {
        let c = if ch.is_ascii_alphanumeric() || ch == '.' || ch == '_' {
            ch
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The back-matter resources, keyed by the hash they carry.
struct Resources {
    range_key: String,
    by_hash: BTreeMap<String, (String, Value)>,
    order: Vec<String>,
}

impl Resources {
    /// The `#uuid` of the resource for `e`, created on first use (only hashed pointers get one).
    fn href(&mut self, e: &Evidence) -> Option<String> {
        let hash = e.hash.as_ref()?;
        let hex = hash.split_once(':').map_or(hash.as_str(), |(_, h)| h);
        if !(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())) {
            return None;
        }
        if let Some((id, _)) = self.by_hash.get(hash) {
            return Some(format!("#{id}"));
        }
        let id = uuid("resource", &format!("{}/{}/{hash}", self.range_key, e.kind));
        let (title, href, media) = match e.kind.as_str() {
            "seal" => (
                format!("HMAC seal: {}", e.description),
                "ledger/seals.jsonl".to_string(),
                "application/jsonl",
            ),
            "checkpoint" => (
                format!("Signed checkpoint: {}", e.description),
                "ledger/checkpoints".to_string(),
                "text/plain",
            ),
            "policy" => (
                format!("Policy {hash}"),
                format!("urn:patchwork-gateway:policy:{hash}"),
                "application/yaml",
            ),
            _ => (
                format!("Ledger record {hash} ({})", e.description),
                "ledger/ledger.jsonl".to_string(),
                "application/jsonl",
            ),
        };
        let res = json!({
            "uuid": id,
            "title": title,
            "rlinks": [{"href": href, "media-type": media,
                        "hashes": [{"algorithm": "SHA-256", "value": hex}]}],
        });
        self.by_hash.insert(hash.clone(), (id.clone(), res));
        self.order.push(hash.clone());
        Some(format!("#{id}"))
    }
}

fn evidence_text(e: &Evidence) -> String {
    let mut s = e.description.clone();
    if let Some((a, b)) = e.seqs {
        s.push_str(&format!(" (seq {a}..{b})"));
    }
    s.push_str(&format!("; re-check with `{}`", e.check));
    s
}

/// The assessment-results document of `r`.
pub fn assessment_results(r: &Report) -> Value {
    let range_key = format!(
        "{}..{}/{}",
        r.range.first_seq.map_or("-".into(), |s| s.to_string()),
        r.range.last_seq.map_or("-".into(), |s| s.to_string()),
        r.range.tip.as_deref().unwrap_or("empty")
    );
    let party = uuid("party", "automated-collector");
    let collection = uuid("resource", "continuous-collection");
    let mut res = Resources {
        range_key: range_key.clone(),
        by_hash: BTreeMap::new(),
        order: Vec::new(),
    };
    let start = r
        .range
        .first_ts
        .map(crate::compliance::engine_rfc3339)
        .unwrap_or_else(|| r.as_of.clone());

    // One observation per predicate (predicates are shared between controls).
    let mut observations: Vec<Value> = Vec::new();
    let mut obs_ids: BTreeMap<String, String> = BTreeMap::new();
    for c in r.controls() {
        for p in &c.predicates {
            if obs_ids.contains_key(&p.name) {
                continue;
            }
            let id = uuid("observation", &format!("{range_key}/{}", p.name));
            let evidence: Vec<Value> = p
                .evidence
                .iter()
                .map(|e| match res.href(e) {
                    Some(href) => json!({"href": href, "description": evidence_text(e)}),
                    None => json!({"description": evidence_text(e)}),
                })
                .collect();
            let mut o = json!({
                "uuid": id,
                "title": format!("Evidence predicate {}", p.name),
                "description": format!("{} ({}): {}", p.name, level_word(p.level), p.reason),
                "props": [{"name": "predicate-level", "ns": NS, "value": level_word(p.level)}],
                "methods": [if p.level == Level::NotEvidenced { "EXAMINE" } else { "TEST" }],
                "origins": [{"actors": [{"type": "tool", "actor-uuid": party}]}],
            });
            if !evidence.is_empty() {
                o["relevant-evidence"] = Value::Array(evidence);
            }
            o["collected"] = json!(r.as_of);
            observations.push(o);
            obs_ids.insert(p.name.clone(), id);
        }
    }
    let findings: Vec<Value> = r
        .controls()
        .map(|c| finding(c, &range_key, &obs_ids))
        .collect();
    let selections: Vec<Value> = r
        .controls()
        .map(|c| json!({"control-id": control_token(&c.framework, &c.id)}))
        .collect();
    let i = &r.integrity;
    let description = format!(
        "Computed by {} {} from ledger {} ({} records{}); chain {}; {} valid seals; {} checkpoints. {} Scope: {}.",
        r.tool,
        r.version,
        r.range.selection,
        r.range.records,
        match (r.range.first_seq, r.range.last_seq) {
            (Some(a), Some(b)) => format!(", seq {a}..{b}"),
            _ => String::new(),
        },
        match i.first_bad_seq {
            None => "verified".to_string(),
            Some(s) => format!("NOT verified (first bad seq {s})"),
        },
        i.seals_ok,
        i.checkpoints,
        r.disclaimer,
        r.scopes
            .iter()
            .map(|s| format!("{}: {}", s.framework, s.scope))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut result = json!({
        "uuid": uuid("result", &range_key),
        "title": format!("Automated evidence, {}", r.range.selection),
        "description": description,
        "start": start,
    });
    result["end"] = json!(r.as_of);
    result["reviewed-controls"] = json!({"control-selections": [{"include-controls": selections}]});
    if !observations.is_empty() {
        result["observations"] = Value::Array(observations);
    }
    if !findings.is_empty() {
        result["findings"] = Value::Array(findings);
    }
    let mut resources = vec![json!({
        "uuid": collection,
        "title": "Continuous automated collection by patchwork-gateway (no separate assessment plan)",
        "description": "The gateway records every AI-agent tool call in a hash-chained ledger; this report evaluates that record. Evidence, not certification.",
        "rlinks": [{"href": "https://example.invalid/patchwork-gateway/docs/compliance.md"}],
    })];
    for h in &res.order {
        resources.push(res.by_hash[h].1.clone());
    }
    json!({"assessment-results": {
        "uuid": uuid("assessment-results", &range_key),
        "metadata": {
            "title": format!("patchwork-gateway compliance evidence, {}", r.range.selection),
            "last-modified": r.as_of,
            "version": r.version,
            "oscal-version": OSCAL_VERSION,
            "parties": [{"uuid": party, "type": "organization",
                         "name": "patchwork-gateway (automated collector)"}],
        },
        "import-ap": {"href": format!("#{collection}")},
        "results": [result],
        "back-matter": {"resources": resources},
    }})
}

fn level_word(l: Level) -> &'static str {
    match l {
        Level::Holds => "holds",
        Level::Partial => "partial",
        Level::Fails => "fails",
        Level::NotEvidenced => "not-evidenced",
    }
}

fn finding(c: &ControlResult, range_key: &str, obs: &BTreeMap<String, String>) -> Value {
    let token = control_token(&c.framework, &c.id);
    let (state, reason) = match c.status {
        Status::Satisfied => ("satisfied", "pass"),
        Status::NotSatisfied => ("not-satisfied", "fail"),
        _ => ("not-satisfied", "other"),
    };
    let mut status = json!({"state": state, "reason": reason});
    if !matches!(c.status, Status::Satisfied | Status::NotSatisfied) {
        status["remarks"] = json!(format!("{}: {}", c.status.label(), c.reason));
    }
    let related: Vec<Value> = c
        .predicates
        .iter()
        .filter_map(|p| obs.get(&p.name))
        .map(|id| json!({"observation-uuid": id}))
        .collect();
    let mut f = json!({
        "uuid": uuid("finding", &format!("{range_key}/{}/{}", c.framework, c.id)),
        "title": format!("{} {}: {}", c.framework, c.id, c.title),
        "description": c.reason,
        "props": [{"name": "status", "ns": NS, "value": c.status.class()}],
        "target": {"type": "objective-id", "target-id": format!("{token}_obj"), "status": status},
    });
    if !related.is_empty() {
        f["related-observations"] = Value::Array(related);
    }
    f
}
