//! `policy`: init, show, validate, test, explain.

use super::Ctx;
use crate::call::{Door, Effect, ToolCall};
use crate::policy::rules::{Decision, PolicyError, Source, display_argv};
use crate::policy::{Env, Explanation, Mode, Policy, classify, paths, profiles};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a policy profile (never overwrites).
    Init(PolicyInitArgs),
    /// Print the policy in force.
    Show,
    /// Check a policy file; errors name the file, line and field.
    Validate { file: PathBuf },
    /// Run a JSONL case file (corpus format) through the policy.
    Test { file: PathBuf },
    /// Show how a tool call or command string is classified and decided.
    Explain(ExplainArgs),
    /// Trust the project policy (default ./.patchwork/policy.yaml) with its current content;
    /// an untrusted or since-edited project policy is ignored.
    Trust { file: Option<PathBuf> },
    /// List the findings the classifier can raise, or explain one.
    Findings(FindingsArgs),
}

/// Options of `policy findings`.
#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// A finding id (e.g. `secrets.read`); without it, the whole catalogue.
    pub id: Option<String>,
    /// Machine-readable output.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// The catalogue as Markdown (what docs/findings.md holds).
    #[arg(long, conflicts_with = "id")]
    pub markdown: bool,
}

/// Options of `policy init`.
#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// Write the strict profile instead of standard.
    #[arg(long)]
    pub strict: bool,
    /// Write .patchwork/policy.yaml in the current project instead of the home folder.
    #[arg(long)]
    pub project: bool,
}

/// Options of `policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A shell command string, or with --tool, the tool input as JSON.
    pub input: String,
    /// Tool name (Bash, Read, mcp__server__tool…); default Bash.
    #[arg(long)]
    pub tool: Option<String>,
    /// Working directory to resolve paths against.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `policy` subcommand.
pub fn run(ctx: &Ctx, cmd: PolicyCommand) -> Result<i32> {
    match cmd {
        PolicyCommand::Init(a) => init(ctx, &a),
        PolicyCommand::Show => show(ctx),
        PolicyCommand::Validate { file } => validate(ctx, &file),
        PolicyCommand::Test { file } => test(ctx, &file),
        PolicyCommand::Explain(a) => explain(ctx, &a),
        PolicyCommand::Trust { file } => trust(ctx, file),
        PolicyCommand::Findings(a) => findings(&a),
    }
}

/// The paths policies and the classifier resolve against, as the Gate sees them.
fn env(ctx: &Ctx) -> Result<Env> {
    let project = std::env::var_os("CLAUDE_PROJECT_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .map_or_else(std::env::current_dir, Ok)
        .context("cannot read the current folder")?;
    Ok(Env::new(ctx.home.root(), &project))
}

fn init(ctx: &Ctx, a: &PolicyInitArgs) -> Result<i32> {
    let name = if a.strict { "strict" } else { "standard" };
    let text = profiles::builtin(name).expect("built-in profile").yaml;
    let file = if a.project {
        let dir = std::env::current_dir()?.join(".patchwork");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        dir.join("policy.yaml")
    } else {
        ctx.home.ensure()?;
        ctx.home.policy_file()
    };
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; not overwriting it (edit it, or remove it first)",
            file.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", file.display())),
    };
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", file.display()))?;
    println!("wrote the {name} policy to {}", file.display());
    if a.project {
        let env = env(ctx)?;
        crate::policy::rules::trust::trust(&paths::physical(&file), &env)?;
        println!("trusted it for this user (after editing, run: patchwork-gateway policy trust)");
    }
    println!(
        "edit it, then check it with: patchwork-gateway policy validate {}",
        file.display()
    );
    Ok(0)
}

fn trust(ctx: &Ctx, file: Option<PathBuf>) -> Result<i32> {
    let env = env(ctx)?;
    let file = file.unwrap_or_else(|| env.project.join(".patchwork/policy.yaml"));
    let file = paths::physical(&std::env::current_dir()?.join(file));
    Policy::from_file(&file, &env)?;
    let line = crate::policy::rules::trust::trust(&file, &env)?;
    println!("trusted {line}");
    Ok(0)
}

fn load(ctx: &Ctx, env: &Env) -> Result<Policy> {
    Policy::load(ctx.policy.as_deref(), env)
}

fn show(ctx: &Ctx) -> Result<i32> {
    let env = env(ctx)?;
    let p = load(ctx, &env)?;
    let origin = match (p.source(), &ctx.policy) {
        (Source::Builtin(n), Some(_)) => format!("built-in profile `{n}` (from --policy)"),
        (Source::Builtin(n), None) => format!(
            "built-in profile `{n}` (no trusted {} and no {})",
            env.project.join(".patchwork/policy.yaml").display(),
            env.patchwork_home.join("policy.yaml").display()
        ),
        (Source::File(f), Some(_)) => format!("{} (from --policy)", f.display()),
        (Source::File(f), None) => f.display().to_string(),
    };
    println!("# source: {origin}");
    println!("# name:   {}", p.name);
    println!("# mode:   {}", p.mode.as_str());
    println!("# hash:   {}", p.hash());
    println!("#");
    print!("{}", p.text());
    if !p.text().ends_with('\n') {
        println!();
    }
    Ok(0)
}

fn validate(ctx: &Ctx, file: &Path) -> Result<i32> {
    let env = env(ctx)?;
    match Policy::from_file(file, &env) {
        Ok(p) => {
            println!(
                "{}: ok: policy `{}` (mode {}, max_risk {}, default {}, on_error {}), {} rules, {} protected paths",
                file.display(),
                p.name,
                p.mode.as_str(),
                p.max_risk(),
                p.default_effect(),
                p.on_error(),
                p.rules().len(),
                p.protected_paths().len()
            );
            Ok(0)
        }
        Err(e) => {
            match e.downcast_ref::<PolicyError>() {
                Some(pe) => eprintln!("{pe}"),
                None => eprintln!("{}: {e:#}", file.display()),
            }
            Ok(1)
        }
    }
}

fn explain(ctx: &Ctx, a: &ExplainArgs) -> Result<i32> {
    let env = env(ctx)?;
    let p = load(ctx, &env)?;
    let cwd = match &a.cwd {
        Some(c) => std::path::absolute(c)?,
        None => std::env::current_dir()?,
    };
    let tool = a.tool.as_deref().unwrap_or("Bash");
    let Explanation {
        call,
        classification: cls,
        decision: Decision { verdict, hits },
    } = crate::policy::explain(&p, &env, tool, &a.input, cwd)?;
    if a.json {
        let out = json!({
            "policy": {"name": p.name, "source": p.source().to_string(), "hash": p.hash(), "mode": p.mode.as_str()},
            "call": {"tool": call.tool, "input": call.input, "cwd": call.cwd},
            "classification": cls,
            "rules": hits,
            "verdict": verdict,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        out.push_str(&format!("{label:<10} {text}\n"));
    };
    line(
        "policy",
        format!("{} ({}, {})", p.name, p.source(), p.hash()),
    );
    line("call", format!("{} {}", call.tool, call.input));
    line("action", cls.action.map_or("-".into(), |a| a.to_string()));
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(&format!("\n{:<10} ", ""))
        }
    };
    line(
        "segments",
        list(
            cls.segments
                .iter()
                .enumerate()
                .map(|(i, s)| format!("{}. {}", i + 1, display_argv(s)))
                .collect(),
        ),
    );
    line(
        "targets",
        list(
            cls.targets
                .iter()
                .map(|t| format!("{:<15} {:?} {}", t.action.as_str(), t.kind, t.value))
                .collect(),
        ),
    );
    line(
        "findings",
        list(
            cls.findings
                .iter()
                .map(|f| format!("{:<8} {}", f.risk.as_str(), f.explained()))
                .collect(),
        ),
    );
    line(
        "rules",
        list(
            hits.iter()
                .map(|h| {
                    format!(
                        "{:<5} {}: {}",
                        h.effect.as_str(),
                        h.id,
                        h.evidence.join("; ")
                    )
                })
                .collect(),
        ),
    );
    let verdict_text = if p.mode == Mode::Audit {
        format!(
            "{} (audit mode; would be {}) risk {}",
            verdict.effect, verdict.would_be, verdict.risk
        )
    } else {
        format!("{} (risk {})", verdict.effect, verdict.risk)
    };
    line("verdict", verdict_text);
    line("reason", verdict.reason.clone());
    print!("{out}");
    Ok(0)
}

/// `policy findings [ID]`: the registry, as a table, one entry, JSON or Markdown.
fn findings(a: &FindingsArgs) -> Result<i32> {
    use crate::policy::findings::{self, Entry};
    let json_of = |e: &Entry| {
        json!({
            "id": e.id,
            "risk": e.risk.as_str(),
            "flags": e.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            "title": e.title,
            "explanation": e.explanation,
        })
    };
    if a.markdown {
        print!("{}", findings::markdown());
        return Ok(0);
    }
    let Some(id) = &a.id else {
        if a.json {
            let all: Vec<Value> = findings::REGISTRY.iter().map(json_of).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        } else {
            let width = findings::REGISTRY
                .iter()
                .map(|e| e.id.len())
                .max()
                .unwrap_or(0);
            for e in findings::REGISTRY {
                println!("{:width$}  {:8}  {}", e.id, e.risk.as_str(), e.title);
            }
        }
        return Ok(0);
    };
    let Some(e) = findings::lookup(&id.to_ascii_lowercase()) else {
        let hint = match findings::nearest(id) {
            Some(n) => format!("; did you mean `{n}`?"),
            None => String::new(),
        };
        bail!(
            "`{id}` is not a finding the classifier raises{hint} (list them with `patchwork-gateway policy findings`)"
        );
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json_of(e))?);
    } else {
        let flags: Vec<&str> = e.flags.iter().map(|f| f.as_str()).collect();
        println!("{}: {}", e.id, e.title);
        println!("risk:  {}", e.risk.as_str());
        println!(
            "flags: {}",
            if flags.is_empty() {
                "none".to_string()
            } else {
                flags.join(", ")
            }
        );
        println!();
        println!("{}", e.explanation);
    }
    Ok(0)
}

/// One case of a JSONL case file (the corpus format).
#[derive(Debug, serde::Deserialize)]
struct Case {
    id: String,
    expect: Expect,
    tool_name: String,
    tool_input: Value,
    #[serde(default)]
    cwd: Option<String>,
    /// For a blocked case: the finding id (or, for path rules without a finding, the rule id)
    /// that must be among the reasons it is blocked, so a case blocked for the wrong reason
    /// fails.
    #[serde(default)]
    finding: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Block,
    Allow,
}

/// `{P}` and `{H}` in case files stand for the project and the home folder.
fn placeholders(v: &Value, env: &Env) -> Value {
    match v {
        Value::String(s) => Value::String(
            s.replace("{P}", &env.project.to_string_lossy())
                .replace("{H}", &env.home.to_string_lossy()),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| placeholders(x, env)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), placeholders(x, env)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn test(ctx: &Ctx, file: &Path) -> Result<i32> {
    let env = env(ctx)?;
    let p = load(ctx, &env)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read case file {}", file.display()))?;
    if p.mode == Mode::Audit {
        println!(
            "policy `{}` is in audit mode: comparing what it would enforce",
            p.name
        );
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for (n, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let case: Case = match serde_json::from_str(raw) {
            Ok(c) => c,
            Err(e) => {
                failed += 1;
                println!("BAD  {}:{}: {e}", file.display(), n + 1);
                continue;
            }
        };
        let input = placeholders(&case.tool_input, &env);
        let cwd = case
            .cwd
            .as_deref()
            .map(|c| PathBuf::from(placeholders(&json!(c), &env).as_str().unwrap_or(c)))
            .unwrap_or_else(|| env.project.clone());
        let call = ToolCall::new(Door::Hook, case.tool_name.clone(), input, cwd);
        let cls = classify(&call, &env);
        let decision = p.decide(&call, &cls, &env);
        let v = &decision.verdict;
        let got = if matches!(v.would_be, Effect::Deny | Effect::Ask) {
            Expect::Block
        } else {
            Expect::Allow
        };
        let deciding = deciding(&decision);
        let wrong_reason =
            got == Expect::Block && case.finding.as_ref().is_some_and(|f| !deciding.contains(f));
        if got == case.expect && !wrong_reason {
            passed += 1;
            continue;
        }
        failed += 1;
        let shown = call
            .input
            .get("command")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| call.input.to_string());
        let expected = match (&case.finding, wrong_reason) {
            (Some(f), true) => format!("block by {f}"),
            _ => name(case.expect).to_string(),
        };
        println!(
            "MISS {}: expected {expected}, got {} ({}; rules {}; findings {}; risk {}) {}: {}",
            case.id,
            name(got),
            v.would_be,
            v.rules.join(", "),
            deciding.join(", "),
            v.risk,
            call.tool,
            shown
        );
    }
    if passed + failed == 0 {
        bail!("{} holds no cases", file.display());
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}

/// What decided a blocking verdict: the finding ids behind the rules with the verdict's
/// effect, or the rule id itself where a rule matched on paths alone (`protect`).
fn deciding(d: &Decision) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for h in d.hits.iter().filter(|h| h.effect == d.verdict.would_be) {
        let found = if h.findings.is_empty() {
            std::slice::from_ref(&h.id)
        } else {
            h.findings.as_slice()
        };
        for id in found {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    }
    ids
}

fn name(e: Expect) -> &'static str {
    match e {
        Expect::Block => "block",
        Expect::Allow => "allow",
    }
}
