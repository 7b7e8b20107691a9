//! Deciding a classified call: the built-in `max_risk` and `protect` rules, then every policy
//! rule; the most restrictive effect wins (deny > ask > flag > allow).

use super::matchers::{display_argv, host_of, mcp_identity};
use super::{Policy, Rule};
use crate::call::{Classification, Effect, Finding, Target, TargetKind, ToolCall, Verdict};
use crate::policy::Env;
use serde::Serialize;

/// At most this many pieces of evidence are quoted per rule.
const MAX_EVIDENCE: usize = 3;

/// A rule that matched, with what it matched on.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub id: String,
    pub effect: Effect,
    pub reason: String,
    /// What to do instead, for the agent.
    pub instead: Option<String>,
    /// The segments, paths, URLs or findings the rule fired on.
    pub evidence: Vec<String>,
    /// The ids of the findings the rule fired on (none for rules on paths, commands or URLs
    /// alone): what decided the call, for case files and `policy explain`.
    pub findings: Vec<String>,
}

/// A verdict and every rule that matched (most restrictive first), for `policy explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub hits: Vec<Hit>,
}

impl Policy {
    /// Decides a classified call and keeps every matching rule with its evidence.
    /// Globs were expanded against the env given when the policy was loaded.
    pub fn decide(&self, call: &ToolCall, cls: &Classification, _env: &Env) -> Decision {
        let mut hits = Vec::new();
        let protected: Vec<String> = cls
            .targets
            .iter()
            .filter(|t| t.kind == TargetKind::Path && t.action.writes())
            .filter(|t| {
                self.protect
                    .hits(&t.value, t.action == crate::call::Action::FileDelete)
            })
            .map(describe_target)
            .collect();
        for rule in &self.rules {
            if let Some((evidence, findings)) = rule.matches(call, cls) {
                hits.push(Hit {
                    id: rule.id.clone(),
                    effect: rule.effect,
                    reason: rule.reason.clone(),
                    instead: rule.instead.clone(),
                    evidence,
                    findings,
                });
            }
        }
        // Protected paths come after the policy's own rules, which name the behaviour more
        // precisely (`rm -rf /` is system destruction before it is a write to the guard).
        if !protected.is_empty() {
            hits.push(Hit {
                id: "protect".into(),
                effect: Effect::Deny,
                reason: "this path is protected: the agent may not change the gateway's home, \
                         its policy or the agent's own settings"
                    .into(),
                instead: Some(
                    "Leave these files alone; if the user wants them changed, tell them to edit \
                     them outside the agent."
                        .into(),
                ),
                evidence: protected,
                findings: Vec::new(),
            });
        }
        // The ceiling comes last among equal effects: a rule with its own id explains better.
        let risk = cls.risk();
        if risk > self.max_risk {
            hits.push(Hit {
                id: "max_risk".into(),
                effect: Effect::Deny,
                reason: format!(
                    "risk {risk} is above this policy's ceiling ({})",
                    self.max_risk
                ),
                instead: None,
                evidence: cls
                    .findings
                    .iter()
                    .filter(|f| f.risk > self.max_risk)
                    .map(describe_finding)
                    .collect(),
                findings: cls
                    .findings
                    .iter()
                    .filter(|f| f.risk > self.max_risk)
                    .map(|f| f.id.clone())
                    .collect(),
            });
        }
        hits.sort_by_key(|h| std::cmp::Reverse(h.effect));
        for h in &mut hits {
            h.evidence.truncate(MAX_EVIDENCE);
        }
        let verdict = self.verdict(cls, &hits);
        Decision { verdict, hits }
    }

    fn verdict(&self, cls: &Classification, hits: &[Hit]) -> Verdict {
        let would_be = hits.first().map_or(self.default, |h| h.effect);
        let explicit_allow = hits.first().is_some_and(|h| h.effect == Effect::Allow);
        let rules: Vec<String> = if hits.is_empty() {
            vec!["default".into()]
        } else {
            hits.iter().map(|h| h.id.clone()).collect()
        };
        let mut reason = match hits.first() {
            Some(first) => {
                let also: Vec<&str> = hits[1..]
                    .iter()
                    .filter(|h| h.effect == first.effect)
                    .map(|h| h.id.as_str())
                    .collect();
                reason_text(first, &also)
            }
            None => default_reason(self.default),
        };
        let audited = self.mode == super::Mode::Audit && would_be != Effect::Allow;
        if audited {
            reason = format!("audit mode, not enforced: {reason}");
        }
        Verdict {
            effect: if self.mode == super::Mode::Audit {
                Effect::Allow
            } else {
                would_be
            },
            rules,
            reason,
            risk: cls.risk(),
            flags: cls.flags(),
            explicit_allow,
            audited,
            would_be,
            seq: None,
        }
    }
}

/// "patchwork-gateway denied this: <id>: <reason> (<evidence>). <what to do instead>"
fn reason_text(hit: &Hit, also: &[&str]) -> String {
    let verb = match hit.effect {
        Effect::Deny => "patchwork-gateway denied this",
        Effect::Ask => "patchwork-gateway needs the user's approval for this",
        Effect::Flag => "patchwork-gateway allowed this and flagged it for review",
        Effect::Allow => "patchwork-gateway allowed this",
    };
    let mut text = format!("{verb}: {}: {}", hit.id, hit.reason.trim_end_matches('.'));
    if !hit.evidence.is_empty() {
        text.push_str(&format!(" ({})", hit.evidence.join("; ")));
    }
    text.push('.');
    if !also.is_empty() {
        text.push_str(&format!(" Also matched: {}.", also.join(", ")));
    }
    let instead = hit.instead.clone().or_else(|| default_instead(hit.effect));
    if let Some(instead) = instead {
        text.push(' ');
        text.push_str(&instead);
    }
    text
}

fn default_instead(effect: Effect) -> Option<String> {
    match effect {
        Effect::Deny => Some(
            "Do not retry it in another form (other tools, encodings or wrappers are checked the \
             same way). Do the task without it, or stop and tell the user what you need and why."
                .into(),
        ),
        Effect::Ask => Some("The user must approve it before it runs.".into()),
        Effect::Flag | Effect::Allow => None,
    }
}

fn default_reason(default: Effect) -> String {
    match default {
        Effect::Allow => "patchwork-gateway allowed this: no rule matched (default allow)".into(),
        Effect::Flag => {
            "patchwork-gateway allowed this and flagged it: no rule matched (default flag)".into()
        }
        other => {
            let hit = Hit {
                id: "default".into(),
                effect: other,
                reason: format!("no rule allows this call and the policy's default is {other}"),
                instead: None,
                evidence: Vec::new(),
                findings: Vec::new(),
            };
            reason_text(&hit, &[])
        }
    }
}

fn describe_finding(f: &Finding) -> String {
    format!("{}: {} [{}]", f.risk, f.detail, f.id)
}

fn describe_target(t: &Target) -> String {
    format!("{} {}", t.action, t.value)
}

impl Rule {
    /// The evidence and the ids of the findings matched when every matcher of the rule
    /// matches the call; `None` otherwise.
    /// With both `action` and `paths`, one path target must satisfy both.
    fn matches(&self, call: &ToolCall, cls: &Classification) -> Option<(Vec<String>, Vec<String>)> {
        let mut evidence = Vec::new();
        let mut decided: Vec<String> = Vec::new();
        if let Some(min) = self.risk
            && cls.risk() < min
        {
            return None;
        }
        // With both `risk` and `flags`, one finding must carry a flag at that risk or above.
        if let Some(flags) = &self.flags
            && !cls.findings.iter().any(|f| {
                f.flags.iter().any(|x| flags.contains(x)) && self.risk.is_none_or(|r| f.risk >= r)
            })
        {
            return None;
        }
        if let Some(ids) = &self.findings {
            let hits: Vec<&Finding> = cls
                .findings
                .iter()
                .filter(|f| ids.iter().any(|g| g.is_match(&f.id)))
                .collect();
            if hits.is_empty() {
                return None;
            }
            evidence.extend(hits.iter().map(|f| describe_finding(f)));
            decided.extend(hits.iter().map(|f| f.id.clone()));
        }
        if let Some(m) = &self.mcp {
            let (server, tool) = mcp_identity(call)?;
            let ok = m.server.as_ref().is_none_or(|g| g.is_match(&server))
                && m.tool.as_ref().is_none_or(|g| g.is_match(&tool))
                && m.arguments
                    .iter()
                    .all(|(key, g)| argument_matches(call, key, g));
            if !ok {
                return None;
            }
            evidence.push(format!("MCP tool {server}/{tool}"));
        }
        match (&self.actions, &self.paths) {
            (actions, Some(paths)) => {
                let hit: Vec<String> = cls
                    .targets
                    .iter()
                    .filter(|t| t.kind == TargetKind::Path)
                    .filter(|t| actions.as_ref().is_none_or(|a| a.contains(&t.action)))
                    .filter(|t| paths.is_match(&t.value))
                    .map(describe_target)
                    .collect();
                if hit.is_empty() {
                    return None;
                }
                evidence.extend(hit);
            }
            (Some(actions), None) => {
                let found = cls.action.filter(|a| actions.contains(a)).or_else(|| {
                    cls.targets
                        .iter()
                        .map(|t| t.action)
                        .find(|a| actions.contains(a))
                })?;
                evidence.push(format!("action {found}"));
            }
            (None, None) => {}
        }
        if let Some(patterns) = &self.command {
            let seg = cls
                .segments
                .iter()
                .find(|seg| patterns.iter().any(|p| p.is_match(seg)))?;
            evidence.push(format!("`{}`", display_argv(seg)));
        }
        if self.urls.is_some() || self.domains.is_some() {
            let url = cls
                .targets
                .iter()
                .filter(|t| t.kind == TargetKind::Url)
                .find(|t| {
                    self.urls
                        .as_ref()
                        .is_none_or(|u| u.iter().any(|g| g.is_match(&t.value)))
                        && self.domains.as_ref().is_none_or(|d| {
                            let host = host_of(&t.value);
                            d.iter().any(|p| p.is_match(&host))
                        })
                })?;
            evidence.push(url.value.clone());
        }
        if self.risk.is_some() || self.flags.is_some() {
            let hits: Vec<&Finding> = cls
                .findings
                .iter()
                .filter(|f| self.risk.is_none_or(|r| f.risk >= r))
                .filter(|f| {
                    self.flags
                        .as_ref()
                        .is_none_or(|fl| f.flags.iter().any(|x| fl.contains(x)))
                })
                .collect();
            evidence.extend(hits.iter().map(|f| describe_finding(f)));
            decided.extend(hits.iter().map(|f| f.id.clone()));
        }
        Some((evidence, decided))
    }
}

/// True when the call's argument `key` is a string (or a list holding a string) matching `g`.
fn argument_matches(call: &ToolCall, key: &str, g: &super::matchers::TextGlob) -> bool {
    match call.input.get(key) {
        Some(serde_json::Value::String(s)) => g.is_match(s),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .any(|v| v.as_str().is_some_and(|s| g.is_match(s))),
        Some(other @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            g.is_match(&other.to_string())
        }
        _ => false,
    }
}
