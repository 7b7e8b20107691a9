//! `doctor` (each check with pass/fail and the fix) and `status` (what is enforced now).

use super::Ctx;
use super::install::targets;
use crate::call::{Door, ToolCall};
use crate::gate::Gate;
use crate::hook::install::{self, State, read_json};
use crate::hook::{alerts, watchdog};
use crate::ledger::{Ledger, SealKey};
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Project to check besides the user scope [default: CLAUDE_PROJECT_DIR or the current folder].
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// Options of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Project to report on [default: CLAUDE_PROJECT_DIR or the current folder].
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

fn project_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("CLAUDE_PROJECT_DIR").map(PathBuf::from))
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

struct Report {
    failures: usize,
}

impl Report {
    fn check(&mut self, name: &str, result: Result<String, String>, fix: &str) {
        match result {
            Ok(detail) => println!("[pass] {name}: {detail}"),
            Err(detail) => {
                self.failures += 1;
                println!("[FAIL] {name}: {detail}\n       fix: {fix}");
            }
        }
    }
}

/// Our hooks found in one settings file.
struct Installed {
    /// (event, policy mode) of each of our handlers.
    hooks: Vec<(String, &'static str)>,
}

impl Installed {
    fn has(&self, event: &str) -> bool {
        self.hooks.iter().any(|(e, _)| e == event)
    }

    /// "10 events (PreToolUse, …), fail-closed".
    fn summary(&self) -> String {
        let names: Vec<&str> = self.hooks.iter().map(|(e, _)| e.as_str()).collect();
        let mut modes: Vec<&str> = self.hooks.iter().map(|(_, m)| *m).collect();
        modes.sort();
        modes.dedup();
        format!(
            "{} events ({}), {}",
            names.len(),
            names.join(", "),
            modes.join("/")
        )
    }
}

/// Our hooks in the user scope and the project's settings files.
fn installations(project: &Path) -> Vec<(PathBuf, Result<Installed, String>)> {
    let mut files = Vec::new();
    if let Ok((user, _)) = targets(None) {
        files.push(user);
    }
    if let Ok((proj, _)) = targets(Some(project)) {
        files.push(proj.clone());
        files.push(proj.with_file_name("settings.local.json"));
    }
    files.dedup();
    files
        .into_iter()
        .map(|f| {
            let found = read_json(&f).map_err(|e| format!("{e:#}")).map(|(_, v)| {
                let hooks = install::installed_handlers(&v)
                    .into_iter()
                    .map(|(event, h)| {
                        let audit = h["args"].as_array().is_some_and(|a| {
                            a.windows(2)
                                .any(|w| w[0] == "--policy-mode" && w[1] == "audit")
                        });
                        (event, if audit { "audit" } else { "fail-closed" })
                    })
                    .collect();
                Installed { hooks }
            });
            (f, found)
        })
        .collect()
}

fn ledger_verified(ctx: &Ctx) -> Result<String, String> {
    let key_path = ctx.home.keys_dir().join("seal.key");
    let key = if key_path.exists() {
        Some(SealKey::load(&key_path).map_err(|e| format!("{e:#}"))?)
    } else {
        None
    };
    let report = crate::ledger::verify_dir(&ctx.home.ledger_dir(), key.as_ref())
        .map_err(|e| format!("{e:#}"))?;
    match report.damage.first() {
        None => Ok(format!(
            "{} records intact, {} unsealed",
            report.records, report.unsealed_tail
        )),
        Some(d) => Err(format!("damaged at seq {}: {}", d.seq, d.detail)),
    }
}

fn micros_to_rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| micros.to_string())
}

/// Health checks.
pub fn doctor(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<i32> {
    let project = project_dir(args.project);
    let mut r = Report { failures: 0 };
    let exe = std::env::current_exe().map_err(|e| e.to_string());
    r.check(
        "binary",
        exe.clone().map(|p| p.display().to_string()),
        "reinstall patchwork-gateway",
    );

    let home_ok = ctx
        .home
        .ensure()
        .and_then(|_| {
            let probe = ctx.home.root().join(".doctor-probe");
            std::fs::write(&probe, b"x")?;
            std::fs::remove_file(&probe)?;
            Ok(())
        })
        .map(|_| format!("{} is writable", ctx.home.root().display()))
        .map_err(|e| format!("{e:#}"));
    r.check(
        "gateway home",
        home_ok,
        "check the folder's owner and permissions, or pass --home",
    );

    let gate = Gate::open(&ctx.home, ctx.policy.as_deref(), &project);
    let policy_webhook = gate
        .as_ref()
        .ok()
        .and_then(|g| g.policy().webhook().map(str::to_string));
    match &gate {
        Ok(g) => {
            let p = g.policy();
            r.check(
                "policy",
                Ok(format!("`{}` ({:?} mode, {})", p.name, p.mode, p.hash())),
                "",
            );
            let probe = ToolCall::new(
                Door::Hook,
                "Bash",
                json!({"command": "rm -rf /"}),
                project.clone(),
            );
            let (_, v) = g.judge(&probe);
            r.check(
                "self-test",
                if v.blocks() {
                    Ok(format!("`rm -rf /` is refused ({})", v.rules.join(", ")))
                } else {
                    Err(format!("`rm -rf /` would be {}", v.effect))
                },
                "use the strict or standard profile: `patchwork-gateway policy init --strict`",
            );
        }
        Err(e) => r.check(
            "policy",
            Err(format!("{e:#}")),
            "fix the policy file (`patchwork-gateway policy validate FILE`) or run `patchwork-gateway policy init`",
        ),
    }

    r.check(
        "ledger",
        ledger_verified(ctx),
        "run `patchwork-gateway verify` for the first damaged record; keep the damaged file as evidence",
    );
    r.check(
        "anchoring",
        super::evidence::anchoring_check(ctx),
        "start the witness (`patchwork-gateway witness install`) and run `patchwork-gateway checkpoint` to send the backlog",
    );

    let mut any_installed = false;
    for (file, found) in installations(&project) {
        match found {
            Ok(found) if found.hooks.is_empty() => {}
            Ok(found) => {
                any_installed = true;
                r.check(
                    &format!("hooks in {}", file.display()),
                    if found.has("PreToolUse") {
                        Ok(found.summary())
                    } else {
                        Err("no PreToolUse hook: nothing is enforced".into())
                    },
                    "run `patchwork-gateway init claude-code` (or `watchdog --once`)",
                );
                if let Ok((_, v)) = read_json(&file)
                    && v.get("disableAllHooks") == Some(&json!(true))
                {
                    r.check(
                        &format!("hooks enabled in {}", file.display()),
                        Err("disableAllHooks is true".into()),
                        "remove disableAllHooks from the settings",
                    );
                }
            }
            Err(e) => r.check(
                &format!("settings {}", file.display()),
                Err(e),
                "fix or remove the file, then run init again",
            ),
        }
    }
    if !any_installed {
        r.check(
            "hooks",
            Err("not installed in the user scope or this project".into()),
            "run `patchwork-gateway init claude-code`",
        );
    }

    let state = State::load(&ctx.home).unwrap_or_default();
    for i in &state.installs {
        let registered = read_json(&i.mcp)
            .map(|(_, v)| install::mcp_registered(&v))
            .unwrap_or(false);
        r.check(
            &format!("MCP registration in {}", i.mcp.display()),
            if registered {
                Ok(format!("`{}` server", install::MCP_NAME))
            } else {
                Err("missing".into())
            },
            "run `patchwork-gateway watchdog --once`",
        );
        if exe
            .as_ref()
            .is_ok_and(|e| e.canonicalize().unwrap_or_else(|_| e.clone()) != i.exe)
        {
            println!(
                "[note] installed hooks run {}, this is {}",
                i.exe.display(),
                exe.as_ref()
                    .map(|e| e.display().to_string())
                    .unwrap_or_default()
            );
        }
    }

    r.check(
        "MCP tool pins",
        pin_state(ctx),
        "review with `patchwork-gateway pins diff`, then `patchwork-gateway pins approve SERVER` \
         (or `pins forget SERVER TOOL`)",
    );
    r.check(
        "watchdog",
        watchdog::timer_installed().ok_or_else(|| "no 5-minute timer".to_string()),
        "run `patchwork-gateway watchdog --install`",
    );
    if let Some(url) = alerts::webhook_url(policy_webhook.as_deref()) {
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        r.check(
            "webhook",
            if scheme_ok {
                Ok(format!("{} alert(s) waiting", alerts::pending(&ctx.home)))
            } else {
                Err(format!("the webhook `{url}` is not an http(s) URL"))
            },
            "set PATCHWORK_WEBHOOK_URL or the policy's alerts.webhook to http://… or https://…",
        );
    }
    println!(
        "\n{}",
        if r.failures == 0 {
            "all checks passed".to_string()
        } else {
            format!("{} check(s) failed", r.failures)
        }
    );
    Ok(if r.failures == 0 { 0 } else { 1 })
}

/// Pinned upstream MCP tools, and the changes waiting for the user's review.
fn pin_state(ctx: &Ctx) -> Result<String, String> {
    let all = crate::pins::PinStore::new(ctx.home.pins_dir())
        .list()
        .map_err(|e| format!("{e:#}"))?;
    let tools: usize = all.values().map(|p| p.tools.len()).sum();
    let pending: Vec<String> = all
        .iter()
        .flat_map(|(s, p)| p.pending.keys().map(move |t| format!("{s}/{t}")))
        .collect();
    if pending.is_empty() {
        Ok(format!(
            "{tools} tools of {} servers pinned, no changes waiting",
            all.len()
        ))
    } else {
        Err(format!(
            "{} changed or new tools wait for review (refused or held back until approved): {}",
            pending.len(),
            pending.join(", ")
        ))
    }
}

/// What is enforced now.
pub fn status(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<i32> {
    let project = project_dir(args.project);
    let mut policy_webhook = None;
    match Gate::open(&ctx.home, ctx.policy.as_deref(), &project) {
        Ok(g) => {
            let p = g.policy();
            println!("policy:   {} ({:?} mode), {}", p.name, p.mode, p.hash());
            policy_webhook = p.webhook().map(str::to_string);
        }
        Err(e) => println!("policy:   NOT LOADED: {e:#} (hooks fail closed)"),
    }
    println!("home:     {}", ctx.home.root().display());
    let dir = ctx.home.ledger_dir();
    match Ledger::open(&dir).and_then(|l| l.status()) {
        Ok(st) => {
            let seal = match &st.last_seal {
                Some(seal) => format!(
                    "last seal at {} over {} records, {} unsealed",
                    micros_to_rfc3339(seal.sealed_at),
                    seal.count,
                    st.unsealed
                ),
                None => "never sealed (`patchwork-gateway seal`)".into(),
            };
            println!(
                "ledger:   {} records, {} bytes in {}; {seal}",
                st.records,
                st.bytes,
                dir.display()
            );
            if let Ok(a) = crate::ledger::checkpoint::anchoring(&dir) {
                println!("anchor:   {}", super::evidence::anchoring_line(&a));
            }
            for l in super::evidence::shipping_lags(ctx, st.records)
                .iter()
                .map(|l| l.line())
            {
                println!("shipping: {l}");
            }
        }
        Err(e) => println!("ledger:   UNREADABLE {}: {e:#}", dir.display()),
    }
    for (file, found) in installations(&project) {
        match found {
            Ok(found) if found.hooks.is_empty() => println!("hooks:    none in {}", file.display()),
            Ok(found) => println!("hooks:    {} in {}", found.summary(), file.display()),
            Err(e) => println!("hooks:    unreadable {}: {e}", file.display()),
        }
    }
    println!(
        "watchdog: {}",
        watchdog::timer_installed().unwrap_or_else(|| "not scheduled".into())
    );
    match alerts::webhook_url(policy_webhook.as_deref()) {
        Some(_) => println!(
            "alerts:   webhook set, {} waiting",
            alerts::pending(&ctx.home)
        ),
        None => {
            println!("alerts:   no webhook (PATCHWORK_WEBHOOK_URL or the policy's alerts.webhook)")
        }
    }
    Ok(0)
}
