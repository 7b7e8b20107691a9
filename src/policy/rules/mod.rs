//! Policy files: YAML with ordered rules, loading, validation and evaluation.
//!
//! - [`schema`]: the file as written (unknown keys rejected, scalars checked while parsing);
//! - [`matchers`]: path globs, argv patterns, URL/domain and MCP matchers;
//! - [`error`]: validation errors naming file, line and field;
//! - [`evaluate`]: deciding a classified call.

mod error;
mod evaluate;
mod matchers;
mod schema;
pub mod trust;

pub use error::{PolicyError, Problem};
pub use evaluate::{Decision, Hit};
pub use matchers::display_argv;

use super::Env;
use super::findings;
use super::profiles;
use crate::call::{Action, Classification, Effect, Flag, Risk, ToolCall, Verdict};
use anyhow::{Context, Result};
use matchers::{ArgvPattern, DomainPattern, PathSet, Places, ProtectSet, TextGlob};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// `mode:` of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Verdicts are enforced.
    #[default]
    Enforce,
    /// Verdicts are recorded; calls are allowed.
    Audit,
}

impl Mode {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

/// Where a policy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A profile built into the binary (`strict`, `standard`, `audit`).
    Builtin(&'static str),
    /// A YAML file.
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Builtin(name) => write!(f, "builtin:{name}"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub effect: Effect,
    pub reason: String,
    pub instead: Option<String>,
    actions: Option<Vec<Action>>,
    paths: Option<PathSet>,
    command: Option<Vec<ArgvPattern>>,
    urls: Option<Vec<TextGlob>>,
    domains: Option<Vec<DomainPattern>>,
    mcp: Option<McpMatcher>,
    risk: Option<Risk>,
    flags: Option<Vec<Flag>>,
    findings: Option<Vec<TextGlob>>,
}

impl Rule {
    /// The flags this rule matches on (empty when it has no `flags:` matcher).
    pub fn flag_matchers(&self) -> &[Flag] {
        self.flags.as_deref().unwrap_or_default()
    }
}

/// The `mcp:` matcher of a rule.
#[derive(Debug, Clone)]
struct McpMatcher {
    server: Option<TextGlob>,
    tool: Option<TextGlob>,
    arguments: BTreeMap<String, TextGlob>,
}

/// Rule ids the engine uses itself.
/// Default largest answer of a builtin file tool (10 MiB); `builtin.answer_cap_bytes`.
pub const DEFAULT_ANSWER_CAP: usize = 10 * 1024 * 1024;

const RESERVED_IDS: [&str; 3] = ["max_risk", "protect", "default"];

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    pub description: Option<String>,
    max_risk: Risk,
    default: Effect,
    on_error: Effect,
    rules: Vec<Rule>,
    protect: ProtectSet,
    protected: Vec<String>,
    source: Source,
    text: String,
    hash: String,
    answer_cap: usize,
    run_command_env: Vec<String>,
    webhook: Option<String>,
}

impl Policy {
    /// Loads the policy named by `spec` (a profile name or a file path); with no spec,
    /// `<project>/.patchwork/policy.yaml`, then `$PATCHWORK_HOME/policy.yaml`, then the
    /// built-in `standard` profile.
    pub fn load(spec: Option<&str>, env: &Env) -> Result<Policy> {
        match spec.map(str::trim) {
            Some("") => anyhow::bail!(
                "--policy is empty: name a profile (strict, standard, audit) or a file"
            ),
            Some(name) if profiles::builtin(name).is_some() => Ok(Self::builtin_for(name, env)?),
            Some(path) => Self::from_file(Path::new(path), env),
            None => {
                let project = env.project.join(".patchwork").join("policy.yaml");
                if project.exists() {
                    let text = std::fs::read_to_string(&project).with_context(|| {
                        format!("cannot read policy file {}", project.display())
                    })?;
                    if trust::is_trusted(&project, &text, env) {
                        return Ok(Self::parse(&text, Source::File(project), env)?);
                    }
                    tracing::warn!(
                        "ignoring the project policy {} because you have not trusted it \
                         (run `patchwork-gateway policy trust` in the project to use it)",
                        project.display()
                    );
                }
                let home = env.patchwork_home.join("policy.yaml");
                if home.exists() {
                    return Self::from_file(&home, env);
                }
                Ok(Self::builtin_for(profiles::DEFAULT, env)?)
            }
        }
    }

    /// A built-in profile with its globs expanded against `env`. It is read from the JSON form
    /// made at build time, with the hash of its YAML computed then too.
    pub fn builtin_for(name: &str, env: &Env) -> Result<Policy, PolicyError> {
        let profile = profiles::builtin(name).ok_or_else(|| PolicyError {
            file: format!("builtin:{name}"),
            problems: vec![Problem {
                line: None,
                field: "profile".into(),
                message: format!("no such profile; known: {}", profiles::NAMES.join(", ")),
            }],
        })?;
        let raw = Self::builtin_raw(profile)?;
        let source = Source::Builtin(profile.name);
        Self::compile(raw, profile.yaml, profile.hash.to_string(), source, env)
    }

    /// A built-in profile's document, from its JSON form.
    fn builtin_raw(profile: &profiles::Profile) -> Result<schema::RawPolicy, PolicyError> {
        schema::prechecked(|| serde_json::from_str(profile.json)).map_err(|e| PolicyError {
            file: format!("builtin:{}", profile.name),
            problems: vec![Problem {
                line: None,
                field: "profile".into(),
                message: format!("the built-in profile does not load: {e}"),
            }],
        })
    }

    /// Reads and validates a policy file.
    pub fn from_file(path: &Path, env: &Env) -> Result<Policy> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy file {}", path.display()))?;
        Ok(Self::parse(&text, Source::File(path.to_path_buf()), env)?)
    }

    /// Parses and validates policy text; globs are expanded against `env`.
    pub fn parse(text: &str, source: Source, env: &Env) -> Result<Policy, PolicyError> {
        let hash = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
        // A file that is a copy of a built-in profile (what `init` writes) loads from the JSON
        // made at build time: the same document, without running the YAML parser.
        let raw = match profiles::with_hash(&hash) {
            Some(profile) => Self::builtin_raw(profile)?,
            None => serde_yaml_ng::from_str(text).map_err(|e| PolicyError {
                file: source.to_string(),
                problems: vec![Problem::from_yaml(&e)],
            })?,
        };
        Self::compile(raw, text, hash, source, env)
    }

    /// Validates a parsed policy and compiles its matchers; `text` is the YAML it came from
    /// (for line numbers in errors) and `hash` that text's hash.
    fn compile(
        raw: schema::RawPolicy,
        text: &str,
        hash: String,
        source: Source,
        env: &Env,
    ) -> Result<Policy, PolicyError> {
        let file = source.to_string();
        let fail = |problems: Vec<Problem>| PolicyError {
            file: file.clone(),
            problems,
        };
        let places = Places::of(env);
        let mut problems = Vec::new();
        if raw.name.trim().is_empty() {
            problems.push(Problem {
                line: text
                    .lines()
                    .position(|l| l.starts_with("name:"))
                    .map(|i| i + 1),
                field: "name".into(),
                message: "give the policy a name".into(),
            });
        }
        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let nth = seen.entry(r.id.as_str()).or_insert(0);
            let occurrence = *nth;
            *nth += 1;
            let mut problem = |field: &str, message: String| {
                let line = error::rule_line(text, &r.id, occurrence);
                let at = line.map(|l| error::field_line(text, l, field));
                problems.push(Problem {
                    line: at,
                    field: format!("rules[{i}].{field}"),
                    message,
                });
            };
            if let Err(m) = check_id(&r.id) {
                problem("id", m);
            } else if *nth > 1 {
                problem("id", format!("duplicate rule id `{}`", r.id));
            }
            if r.reason.trim().is_empty() {
                problem("reason", "write a reason for the agent".into());
            }
            if !r.has_matcher() {
                problem(
                    "id",
                    format!(
                        "rule `{}` has no matcher (action, paths, command, url, domain, mcp, \
                         risk, flags); use `default:` for a catch-all",
                        r.id
                    ),
                );
            }
            if let Some(m) = &r.mcp
                && m.server.is_none()
                && m.tool.is_none()
                && m.argument.as_ref().is_none_or(|a| a.is_empty())
            {
                problem("mcp", "give at least one of server, tool, argument".into());
            }
            for glob in r.findings.iter().flat_map(|f| &f.0) {
                if let Err(m) = check_finding(glob) {
                    problem("findings", m);
                }
            }
            match compile_rule(r, &places) {
                Ok(rule) => rules.push(rule),
                Err(m) => problem("paths", m),
            }
        }
        let mut extra = Vec::new();
        if let Source::File(p) = &source {
            // The policy in force is always protected, wherever it lives.
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            extra.push(crate::policy::paths::canonical(&abs).unwrap_or(abs));
        }
        let protect_patterns = raw.protect.map(|p| p.0).unwrap_or_default();
        let protect = ProtectSet::compile(&protect_patterns, &extra, &places);
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(fail(problems));
        }
        Ok(Policy {
            name: raw.name,
            mode: raw.mode,
            description: raw.description,
            max_risk: raw.max_risk,
            default: raw.default,
            on_error: match raw.on_error {
                schema::OnError::Deny => Effect::Deny,
                schema::OnError::Allow => Effect::Allow,
            },
            rules,
            protect,
            protected: protect_patterns.into_iter().map(|p| p.0).collect(),
            source,
            hash,
            text: text.to_string(),
            answer_cap: raw
                .builtin
                .answer_cap_bytes
                .unwrap_or(DEFAULT_ANSWER_CAP)
                .max(1),
            run_command_env: raw.builtin.run_command_env,
            webhook: raw.alerts.webhook.filter(|u| !u.trim().is_empty()),
        })
    }

    /// Where alerts are posted (`alerts.webhook`), unless `PATCHWORK_WEBHOOK_URL` is set.
    pub fn webhook(&self) -> Option<&str> {
        self.webhook.as_deref()
    }

    /// Largest answer of a builtin file tool, in bytes (`builtin.answer_cap_bytes`).
    pub fn answer_cap(&self) -> usize {
        self.answer_cap
    }

    /// Environment variables `run_command` passes on besides the minimal documented set
    /// (`builtin.run_command_env`).
    pub fn run_command_env(&self) -> &[String] {
        &self.run_command_env
    }

    /// `sha256:<hex>` of the policy's source text.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Where the policy came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The policy's YAML source.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Calls whose risk is above this are denied (rule id `max_risk`).
    pub fn max_risk(&self) -> Risk {
        self.max_risk
    }

    /// The effect when no rule matches.
    pub fn default_effect(&self) -> Effect {
        self.default
    }

    /// `on_error:` the effect the Gate applies when it cannot decide (deny or allow).
    pub fn on_error(&self) -> Effect {
        self.on_error
    }

    /// The `protect:` globs as written (the policy's own file is protected besides these).
    pub fn protected_paths(&self) -> &[String] {
        &self.protected
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The verdict for a call the Gate could not decide (`what` says why): a deny, or an
    /// allow marked as audited when the policy says `on_error: allow`.
    pub fn error_verdict(&self, what: &str) -> Verdict {
        let mut v = Verdict::internal_deny(
            "on_error",
            format!(
                "patchwork-gateway denied this: on_error: the gateway could not decide this call \
                 ({what}). Do not retry it in another form; tell the user the gateway failed."
            ),
        );
        if self.on_error == Effect::Allow {
            v.effect = Effect::Allow;
            v.audited = true;
            v.reason = format!(
                "allowed by on_error: allow although the gateway could not decide ({what})"
            );
        }
        v
    }

    /// Decides a classified call. Most restrictive matching rule wins.
    pub fn evaluate(&self, call: &ToolCall, cls: &Classification, env: &Env) -> Verdict {
        self.decide(call, cls, env).verdict
    }
}

/// Rule ids: letters, digits, `.`, `_`, `-`; not one the engine uses.
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty rule id".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{c}` cannot appear in a rule id (use letters, digits, . _ -)"
        ));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(format!("`{id}` is reserved for the engine's own rule"));
    }
    Ok(())
}

/// A `findings:` entry must name a registered finding, or be a glob matching one.
fn check_finding(glob: &TextGlob) -> Result<(), String> {
    if findings::REGISTRY.iter().any(|e| glob.is_match(e.id)) {
        return Ok(());
    }
    let hint = match findings::nearest(glob.as_str()) {
        Some(id) => format!("; did you mean `{id}`?"),
        None => String::new(),
    };
    Err(format!(
        "`{}` is not a finding the classifier raises{hint} (list them with \
         `patchwork-gateway policy findings`)",
        glob.as_str()
    ))
}

/// The `findings:` globs plus, for an id a finding was split off, the split-off ids.
fn with_split_off(globs: &[TextGlob]) -> Vec<TextGlob> {
    let mut out = globs.to_vec();
    for g in globs {
        for id in findings::split_off(g.as_str()) {
            out.extend(<TextGlob as schema::Scalar>::parse(id));
        }
    }
    out
}

fn compile_rule(r: &schema::RawRule, places: &Places) -> Result<Rule, String> {
    // A set that cannot be built matches for restrictive rules and not for allow rules.
    let paths =
        (r.paths.as_ref()).map(|p| PathSet::compile(&p.0, places, r.effect != Effect::Allow));
    Ok(Rule {
        id: r.id.clone(),
        effect: r.effect,
        reason: r.reason.trim().to_string(),
        instead: r.instead.as_ref().map(|s| s.trim().to_string()),
        actions: r.action.as_ref().map(|a| a.0.clone()),
        paths,
        command: r.command.as_ref().map(|c| c.0.clone()),
        urls: r.url.as_ref().map(|u| u.0.clone()),
        domains: r.domain.as_ref().map(|d| d.0.clone()),
        mcp: r.mcp.as_ref().map(|m| McpMatcher {
            server: m.server.clone(),
            tool: m.tool.clone(),
            arguments: m.argument.clone().unwrap_or_default(),
        }),
        risk: r.risk,
        flags: r.flags.as_ref().map(|f| f.0.clone()),
        findings: r.findings.as_ref().map(|f| with_split_off(&f.0)),
    })
}

#[cfg(test)]
mod tests;
