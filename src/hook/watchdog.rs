//! The watchdog: checks that every recorded installation (hooks, MCP registration, policy,
//! ledger) is intact, repairs wiped or altered hooks and registration, and records each repair.
//! `install_timer` runs it every 5 minutes (systemd user timer, else a crontab line).

use super::install::{Install, State};
use crate::home::Home;
use crate::ledger::Ledger;
use crate::policy::{Env, Policy};
use anyhow::{Context, Result, bail};
use serde_json::{Map, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found, repaired, or how to fix it.
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }
}

/// Checks and repairs every recorded installation once.
pub fn run_once(home: &Home) -> Result<Vec<Check>> {
    let state = State::load(home)?;
    if state.installs.is_empty() {
        return Ok(vec![Check::new(
            "installation",
            false,
            "no installation recorded: run `patchwork-gateway init claude-code`",
        )]);
    }
    let mut checks = Vec::new();
    for install in &state.installs {
        checks.extend(check_install(home, install));
    }
    Ok(checks)
}

fn check_install(home: &Home, install: &Install) -> Vec<Check> {
    let mut checks = Vec::new();
    let exe_ok = install.exe.is_file();
    checks.push(Check::new(
        "binary",
        exe_ok,
        if exe_ok {
            format!("{} present", install.exe.display())
        } else {
            format!(
                "{} is missing: reinstall the gateway, then run init again",
                install.exe.display()
            )
        },
    ));
    match install.apply() {
        Ok(changes) => {
            for c in changes {
                let name = format!("config {}", c.file.display());
                if c.items.is_empty() {
                    checks.push(Check::new(name, true, "intact"));
                    continue;
                }
                let repaired = format!("repaired: {}", c.items.join(", "));
                let recorded = record_repair(home, &c.file, &c.items);
                checks.push(Check::new(
                    name,
                    true,
                    match recorded {
                        Ok(()) => repaired,
                        Err(e) => format!("{repaired} (not recorded: {e:#})"),
                    },
                ));
            }
        }
        Err(e) => checks.push(Check::new(
            format!("config {}", install.settings.display()),
            false,
            format!("{e:#}"),
        )),
    }
    checks.push(check_policy(home, install));
    checks.push(check_ledger(home));
    checks
}

fn project_of(install: &Install) -> PathBuf {
    install
        .project
        .clone()
        .or_else(crate::home::home_dir)
        .unwrap_or_else(|| "/".into())
}

fn check_policy(home: &Home, install: &Install) -> Check {
    let env = Env {
        home: crate::home::home_dir().unwrap_or_else(|| "/".into()),
        patchwork_home: home.root().to_path_buf(),
        project: project_of(install),
    };
    match Policy::load(install.policy.as_deref(), &env) {
        Ok(p) => Check::new("policy", true, format!("`{}` loads ({})", p.name, p.hash())),
        Err(e) => Check::new(
            "policy",
            false,
            format!("{e:#}: fix it or run `patchwork-gateway policy init`"),
        ),
    }
}

fn check_ledger(home: &Home) -> Check {
    let dir = home.ledger_dir();
    match Ledger::open(&dir) {
        Ok(_) => Check::new("ledger", true, format!("{} opens", dir.display())),
        Err(e) => Check::new(
            "ledger",
            false,
            format!("{e:#}: check the permissions of {}", dir.display()),
        ),
    }
}

fn record_repair(home: &Home, file: &Path, items: &[String]) -> Result<()> {
    let mut r = Map::new();
    r.insert("event".into(), json!("watchdog.repair"));
    r.insert("file".into(), json!(file));
    r.insert("repaired".into(), json!(items));
    home.ensure()?;
    Ledger::open(&home.ledger_dir())?.append(r)?;
    Ok(())
}

const UNIT: &str = "patchwork-watchdog";
const CRON_MARK: &str = "# patchwork-gateway watchdog";

/// The command line the timer runs.
fn watchdog_argv(home: &Home) -> Result<Vec<String>> {
    let exe = std::env::current_exe()?;
    Ok(vec![
        exe.canonicalize().unwrap_or(exe).display().to_string(),
        "--home".into(),
        std::path::absolute(home.root())?.display().to_string(),
        "watchdog".into(),
        "--once".into(),
    ])
}

fn systemd_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| crate::home::home_dir().map(|h| h.join(".config")))
        .context("HOME is not set")?;
    Ok(base.join("systemd/user"))
}

fn systemd_available() -> bool {
    Command::new("systemctl")
        .args(["--user", "show-environment"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn quote(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn systemctl(args: &[&str]) -> Result<()> {
    let status = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .status()?;
    if !status.success() {
        bail!("systemctl --user {} failed", args.join(" "));
    }
    Ok(())
}

/// Sets up the 5-minute timer; returns a description of what was installed.
pub fn install_timer(home: &Home) -> Result<String> {
    let argv = watchdog_argv(home)?;
    let line: Vec<String> = argv.iter().map(|a| quote(a)).collect();
    let line = line.join(" ");
    if systemd_available() {
        let dir = systemd_dir()?;
        std::fs::create_dir_all(&dir)?;
        let service = format!(
            "[Unit]\nDescription=patchwork-gateway watchdog: check and repair the hook installation\n\n\
             [Service]\nType=oneshot\nExecStart={line}\n"
        );
        let timer = "[Unit]\nDescription=Run the patchwork-gateway watchdog every 5 minutes\n\n\
             [Timer]\nOnBootSec=1min\nOnUnitActiveSec=5min\nUnit=patchwork-watchdog.service\n\n\
             [Install]\nWantedBy=timers.target\n";
        std::fs::write(dir.join(format!("{UNIT}.service")), service)?;
        std::fs::write(dir.join(format!("{UNIT}.timer")), timer)?;
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "--now", &format!("{UNIT}.timer")])?;
        return Ok(format!("systemd user timer {UNIT}.timer (every 5 minutes)"));
    }
    let current = crontab_list()?;
    let mut lines: Vec<&str> = current
        .lines()
        .filter(|l| !l.ends_with(CRON_MARK))
        .collect();
    let entry = format!("*/5 * * * * {line} >/dev/null 2>&1 {CRON_MARK}");
    lines.push(&entry);
    crontab_write(&(lines.join("\n") + "\n"))?;
    Ok("crontab line (every 5 minutes)".into())
}

/// Removes the timer or crontab line; returns what was removed.
pub fn uninstall_timer() -> Result<String> {
    let mut removed = Vec::new();
    let dir = systemd_dir()?;
    let unit_files = [
        dir.join(format!("{UNIT}.timer")),
        dir.join(format!("{UNIT}.service")),
    ];
    if unit_files.iter().any(|f| f.exists()) {
        if systemd_available() {
            let _ = systemctl(&["disable", "--now", &format!("{UNIT}.timer")]);
        }
        for f in &unit_files {
            let _ = std::fs::remove_file(f);
        }
        if systemd_available() {
            let _ = systemctl(&["daemon-reload"]);
        }
        removed.push("systemd user timer".to_string());
    }
    if let Ok(current) = crontab_list()
        && current.lines().any(|l| l.ends_with(CRON_MARK))
    {
        let kept: Vec<&str> = current
            .lines()
            .filter(|l| !l.ends_with(CRON_MARK))
            .collect();
        let text = if kept.is_empty() {
            String::new()
        } else {
            kept.join("\n") + "\n"
        };
        crontab_write(&text)?;
        removed.push("crontab line".to_string());
    }
    Ok(if removed.is_empty() {
        "no watchdog timer was installed".into()
    } else {
        format!("removed {}", removed.join(" and "))
    })
}

/// Where the 5-minute timer is installed, if it is.
pub fn timer_installed() -> Option<String> {
    let unit = systemd_dir().ok()?.join(format!("{UNIT}.timer"));
    if unit.exists() {
        return Some(format!("systemd user timer {}", unit.display()));
    }
    crontab_list()
        .ok()
        .filter(|t| t.lines().any(|l| l.ends_with(CRON_MARK)))
        .map(|_| "crontab line".to_string())
}

fn crontab_list() -> Result<String> {
    let out = Command::new("crontab").arg("-l").output().context(
        "neither a systemd user session nor crontab is available: \
         run `patchwork-gateway watchdog --once` every 5 minutes from your own scheduler",
    )?;
    // `crontab -l` fails when the user has no crontab yet: that is an empty one.
    Ok(if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::new()
    })
}

fn crontab_write(text: &str) -> Result<()> {
    let mut child = Command::new("crontab")
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("crontab stdin")?
        .write_all(text.as_bytes())?;
    if !child.wait()?.success() {
        bail!("crontab refused the new table");
    }
    Ok(())
}
