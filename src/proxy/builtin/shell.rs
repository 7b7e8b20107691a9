//! The builtin `run_command` tool: `sh -c COMMAND` in its own process group, with a timeout,
//! capped output, and the whole group killed on timeout or cancellation.

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

/// Runs `sh -c command` in a new process group. On timeout or when `ct` fires, the whole group
/// gets SIGKILL. Only called after the Gate allowed the call.
pub async fn run(cwd: &Path, a: &RunCommand, ct: &CancellationToken) -> Result<Ran, String> {
    let dir = super::fs::resolve(cwd, a.cwd.as_deref().unwrap_or("."));
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&a.command)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start sh in {}: {e}", dir.display()))?;
    let pgid = child.id().map(|id| id as i32);
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

    fn args(command: &str, timeout_ms: Option<u64>) -> RunCommand {
        RunCommand {
            command: command.into(),
            cwd: None,
            timeout_ms,
        }
    }

    #[tokio::test]
    async fn captures_both_streams_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let ran = run(
            dir.path(),
            &args("echo out; echo err >&2; exit 3", None),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(ran.exit_code, Some(3));
        assert_eq!(ran.stdout.text, "out\n");
        assert_eq!(ran.stderr.text, "err\n");
        assert!(ran.is_error());
    }

    #[tokio::test]
    async fn caps_output_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = format!("head -c {} /dev/zero | tr '\\0' x", STREAM_CAP + 1000);
        let ran = run(dir.path(), &args(&cmd, None), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(ran.stdout.text.len(), STREAM_CAP);
        assert_eq!(ran.stdout.total, STREAM_CAP + 1000);
        assert!(ran.render(1).contains("stdout truncated"));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        // A grandchild in the background would write the marker if it outlived the kill.
        let cmd = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let ran = run(
            dir.path(),
            &args(&cmd, Some(200)),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(ran.timed_out);
        assert_eq!(ran.exit_code, None);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!marker.exists(), "a grandchild survived the timeout");
    }

    #[tokio::test]
    async fn cancellation_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let ct = CancellationToken::new();
        let c2 = ct.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c2.cancel();
        });
        let ran = run(dir.path(), &args("sleep 30", None), &ct).await.unwrap();
        assert!(ran.cancelled);
        assert!(ran.render(1).contains("cancelled"));
    }
}
