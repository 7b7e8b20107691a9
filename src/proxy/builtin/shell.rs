//! The builtin `run_command` tool: `sh -c COMMAND` under a keeper process (see
//! [`super::contain`]) that kills everything the command started when it returns, times out,
//! is cancelled or the gateway exits; with a minimal environment (never the gateway's
//! secrets), a timeout and capped output.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// Default timeout of `run_command`.
pub const DEFAULT_TIMEOUT_MS: u64 = 120_000;
/// Longest timeout a call may ask for.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Bytes kept from each of stdout and stderr.
pub const STREAM_CAP: usize = 128 * 1024;
/// How long to wait for the pipes to close after the shell exits (background children).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Arguments of `run_command`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommand {
    /// Shell command line, run with `sh -c`.
    pub command: String,
    /// Working directory (default: the gateway's working directory).
    pub cwd: Option<String>,
    /// Timeout in milliseconds (default 120000, at most 600000).
    pub timeout_ms: Option<u64>,
}

/// What a command did.
#[derive(Debug)]
pub struct Ran {
    /// Exit code; `None` when killed by a signal (timeout, cancellation).
    pub exit_code: Option<i32>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub timed_out: bool,
    pub cancelled: bool,
}

/// One captured output stream.
#[derive(Debug, Default)]
pub struct Captured {
    pub text: String,
    /// Total bytes the stream produced (more than `text` when truncated).
    pub total: usize,
}

impl Captured {
    fn truncated(&self) -> bool {
        self.total > self.text.len()
    }
}

impl Ran {
    /// The text answer: exit status, then stdout and stderr, each with a truncation note.
    pub fn render(&self, timeout_ms: u64) -> String {
        let mut out = String::new();
        if self.timed_out {
            out.push_str(&format!(
                "timed out after {timeout_ms} ms; the command's process group was killed\n"
            ));
        } else if self.cancelled {
            out.push_str("cancelled; the command's process group was killed\n");
        }
        match self.exit_code {
            Some(code) => out.push_str(&format!("exit code: {code}\n")),
            None => out.push_str("exit code: none (killed by a signal)\n"),
        }
        for (name, c) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            out.push_str(&format!("--- {name} ---\n"));
            out.push_str(&c.text);
            if !c.text.is_empty() && !c.text.ends_with('\n') {
                out.push('\n');
            }
            if c.truncated() {
                out.push_str(&format!(
                    "[{name} truncated by patchwork-gateway: first {} of {} bytes shown]\n",
                    c.text.len(),
                    c.total
                ));
            }
        }
        out
    }

    /// True when the command failed, timed out or was cancelled.
    pub fn is_error(&self) -> bool {
        self.exit_code != Some(0)
    }
}

/// The timeout a call asked for, clamped to `1..=MAX_TIMEOUT_MS`.
pub fn timeout_ms(a: &RunCommand) -> u64 {
    a.timeout_ms
        .unwrap_or(DEFAULT_TIMEOUT_MS)
        .clamp(1, MAX_TIMEOUT_MS)
}

/// Variables a command always gets, from the gateway's environment when set there: the
/// search path, the home folder, the locale, the terminal type, the user's name, the
/// temporary folder and the project folder. Everything else (tokens, keys, cloud
/// credentials) stays with the gateway unless the policy's `run_command_env` names it.
pub const BASE_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TERM",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "CLAUDE_PROJECT_DIR",
];

/// The environment of a command: [`BASE_ENV`] plus the names in `allow`, as the gateway has
/// them; a minimal `PATH` and `LANG` when the gateway has none.
pub fn command_env(allow: &[String]) -> Vec<(String, std::ffi::OsString)> {
    let mut env: Vec<(String, std::ffi::OsString)> = BASE_ENV
        .iter()
        .map(|n| n.to_string())
        .chain(allow.iter().cloned())
        .filter_map(|n| std::env::var_os(&n).map(|v| (n, v)))
        .collect();
    for (name, default) in [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
    ] {
        if !env.iter().any(|(n, _)| n == name) {
            env.push((name.to_string(), default.into()));
        }
    }
    env
}

/// Runs `sh -c command` under the keeper, in a new process group. On timeout or when `ct`
/// fires, the keeper is told to kill everything (then the group gets SIGKILL). Only called
/// after the Gate allowed the call.
pub async fn run(
    dir: &Path,
    a: &RunCommand,
    env_allow: &[String],
    ct: &CancellationToken,
) -> Result<Ran, String> {
    let program = std::env::current_exe()
        .map_err(|e| format!("cannot find the gateway's program to contain the command: {e}"))?;
    let group = super::cgroup::create(&call_tag());
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(super::contain::ARG)
        .arg(std::process::id().to_string())
        .arg(
            group
                .as_deref()
                .map_or("-".into(), |g| g.as_os_str().to_owned()),
        )
        .arg("sh")
        .arg("-c")
        .arg(&a.command)
        .env_clear()
        .envs(command_env(env_allow))
        .env("PWD", dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let spawned = cmd.spawn();
    // Whatever happens to the keeper, the call's cgroup is emptied and removed with the call.
    let _group = GroupGuard(group);
    let mut child = spawned.map_err(|e| format!("cannot start sh in {}: {e}", dir.display()))?;
    let pgid = child.id().map(|id| id as i32);
    let keeper = pgid;
    let out = tokio::spawn(capture(child.stdout.take()));
    let err = tokio::spawn(capture(child.stderr.take()));
    let limit = Duration::from_millis(timeout_ms(a));
    let mut timed_out = false;
    let mut cancelled = false;
    let status = tokio::select! {
        s = child.wait() => s.ok(),
        _ = tokio::time::sleep(limit) => { timed_out = true; None }
        _ = ct.cancelled() => { cancelled = true; None }
    };
    if status.is_none() {
        // The keeper kills every descendant, then exits; give it a moment before SIGKILL.
        signal(keeper, libc::SIGTERM);
        let _ = tokio::time::timeout(KEEPER_GRACE, child.wait()).await;
    }
    // Nothing of the command may outlive the call: once the shell has exited and its pipes are
    // drained (or at once on timeout/cancellation), the whole group gets SIGKILL.
    let (mut out, mut err) = (out, err);
    let mut streams = None;
    if status.is_some() {
        streams = tokio::time::timeout(DRAIN_GRACE, async {
            (
                (&mut out).await.unwrap_or_default(),
                (&mut err).await.unwrap_or_default(),
            )
        })
        .await
        .ok();
    }
    kill_group(pgid);
    let status = match status {
        Some(s) => Some(s),
        None => child.wait().await.ok(),
    };
    let (stdout, stderr) = match streams {
        Some(s) => s,
        None => (out.await.unwrap_or_default(), err.await.unwrap_or_default()),
    };
    Ok(Ran {
        exit_code: if timed_out || cancelled {
            None
        } else {
            status.and_then(|s| s.code())
        },
        stdout,
        stderr,
        timed_out,
        cancelled,
    })
}

/// A name for one call's cgroup, unique in this gateway.
fn call_tag() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// Kills and removes a call's cgroup when the call ends (the keeper normally has already; this
/// covers a keeper that was killed itself).
struct GroupGuard(Option<std::path::PathBuf>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(g) = self.0.take()
            && g.exists()
        {
            super::cgroup::kill(&g);
        }
    }
}

/// How long the keeper may take to clear a timed-out or cancelled command.
const KEEPER_GRACE: Duration = Duration::from_secs(6);

fn signal(pid: Option<i32>, sig: libc::c_int) {
    if let Some(pid) = pid.filter(|p| *p > 0) {
        // SAFETY: kill has no memory-safety preconditions; pid is our child.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid.filter(|p| *p > 0) {
        // SAFETY: killpg has no memory-safety preconditions; pgid is our child's group.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

async fn capture<R: AsyncRead + Unpin>(stream: Option<R>) -> Captured {
    let Some(mut stream) = stream else {
        return Captured::default();
    };
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let room = STREAM_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    // Lossy decoding of a cut multi-byte char may grow the text; keep `total` honest.
    if text.len() > total {
        text.truncate(total);
    }
    Captured { text, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_the_documented_minimum() {
        let env = command_env(&["NOT_SET_ANYWHERE_42".to_string()]);
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"PATH") && names.contains(&"LANG"),
            "{names:?}"
        );
        assert!(names.iter().all(|n| BASE_ENV.contains(n)), "{names:?}");
    }

    #[test]
    fn render_names_timeouts_and_truncation() {
        let ran = Ran {
            exit_code: None,
            stdout: Captured {
                text: "x".into(),
                total: 10,
            },
            stderr: Captured::default(),
            timed_out: true,
            cancelled: false,
        };
        let text = ran.render(5);
        assert!(text.contains("timed out after 5 ms") && text.contains("stdout truncated"));
        assert!(ran.is_error());
    }
}
