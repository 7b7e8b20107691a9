//! `init` and `uninstall`: install the gateway into an agent's configuration.

use super::Ctx;
use crate::hook::failclosed::PolicyMode;
use crate::hook::install::{Change, Install, State, write_atomic};
use crate::policy::rules::trust;
use crate::policy::{Env, paths, profiles};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// Agents the installer knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Agent {
    ClaudeCode,
}

/// Options of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    pub agent: Agent,
    /// Install into DIR/.claude/settings.json and DIR/.mcp.json instead of the user scope.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Use the strict policy profile (and fail-closed mode unless told otherwise).
    #[arg(long)]
    pub strict_profile: bool,
    /// Behaviour of the hook on internal errors [default: fail-closed].
    #[arg(long, value_enum)]
    pub policy_mode: Option<PolicyMode>,
}

/// Options of `uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    pub agent: Agent,
    /// Remove from DIR instead of the user scope.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// Where the settings and MCP files are for the user scope or a project.
pub fn targets(project: Option<&Path>) -> Result<(PathBuf, PathBuf)> {
    match project {
        Some(dir) => {
            let dir = std::path::absolute(dir)?;
            Ok((dir.join(".claude/settings.json"), dir.join(".mcp.json")))
        }
        None => {
            let home = crate::home::home_dir().context("HOME is not set")?;
            Ok((
                home.join(".claude/settings.json"),
                home.join(".claude.json"),
            ))
        }
    }
}

/// The installation `init` would make from these options.
pub fn plan(ctx: &Ctx, project: Option<&Path>, mode: PolicyMode) -> Result<Install> {
    let (settings, mcp) = targets(project)?;
    let project = project.map(std::path::absolute).transpose()?;
    let exe = std::env::current_exe().context("cannot find the gateway binary")?;
    Ok(Install {
        exe: exe.canonicalize().unwrap_or(exe),
        home: std::path::absolute(ctx.home.root())?,
        policy: ctx.policy.clone(),
        mode: mode.as_str().to_string(),
        settings,
        mcp,
        project,
    })
}

/// Installs hooks and MCP registration.
pub fn init(ctx: &Ctx, args: InitArgs) -> Result<i32> {
    let Agent::ClaudeCode = args.agent;
    let mode = args.policy_mode.unwrap_or(PolicyMode::FailClosed);
    let install = plan(ctx, args.project.as_deref(), mode)?;
    ctx.home.ensure()?;
    let changes = install.apply()?;
    print_changes("added", &changes);
    println!("{}", ensure_policy(ctx, &install, args.strict_profile)?);
    let mut state = State::load(&ctx.home)?;
    state.upsert(install);
    state.save(&ctx.home)?;
    println!("hook policy mode: {}", mode.as_str());
    Ok(0)
}

/// Writes the built-in profile (strict or standard) unless a policy is there already: to
/// `$PATCHWORK_HOME/policy.yaml`, or for a project to `DIR/.patchwork/policy.yaml`, which is
/// then trusted (the Gate ignores project policies the user has not trusted).
fn ensure_policy(ctx: &Ctx, install: &Install, strict: bool) -> Result<String> {
    let file = match &install.project {
        Some(dir) => paths::physical(dir).join(".patchwork/policy.yaml"),
        None => ctx.home.policy_file(),
    };
    let name = if strict { "strict" } else { "standard" };
    let wrote = !file.exists();
    if wrote {
        let profile = profiles::builtin(name).context("built-in profile")?;
        write_atomic(&file, profile.yaml.as_bytes())?;
    }
    let Some(project) = &install.project else {
        return Ok(match wrote {
            true => format!("{}: wrote the {name} profile", file.display()),
            false => format!("{}: kept the existing policy", file.display()),
        });
    };
    let env = Env::new(&install.home, project);
    if wrote {
        trust::trust(&file, &env)?;
        return Ok(format!(
            "{}: wrote and trusted the {name} profile",
            file.display()
        ));
    }
    let text = std::fs::read_to_string(&file)?;
    Ok(if trust::is_trusted(&file, &text, &env) {
        format!("{}: kept the existing, trusted policy", file.display())
    } else {
        format!(
            "{}: kept the existing policy, NOT trusted: until you run `patchwork-gateway policy trust` in {}, the Gate ignores it",
            file.display(),
            project.display()
        )
    })
}

/// Removes what `init` added.
pub fn uninstall(ctx: &Ctx, args: UninstallArgs) -> Result<i32> {
    let Agent::ClaudeCode = args.agent;
    let (settings, _) = targets(args.project.as_deref())?;
    let mut state = State::load(&ctx.home)?;
    let install = match state.installs.iter().find(|i| i.settings == settings) {
        Some(i) => i.clone(),
        None => plan(ctx, args.project.as_deref(), PolicyMode::FailClosed)?,
    };
    let changes = install.remove()?;
    print_changes("removed", &changes);
    state.installs.retain(|i| i.settings != settings);
    state.save(&ctx.home)?;
    Ok(0)
}

fn print_changes(verb: &str, changes: &[Change]) {
    for c in changes {
        if c.items.is_empty() {
            println!("{}: unchanged", c.file.display());
        } else {
            println!("{}: {verb} {}", c.file.display(), c.items.join(", "));
        }
    }
}
