//! Fail-closed machinery of the hook process: exactly one answer is written, whether it comes
//! from the normal path, a panic or the internal deadline.

use super::adapter::{self, Answer};
use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How the hook behaves on internal errors (`--policy-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyMode {
    /// Record the error and allow the call.
    Audit,
    /// Deny (exit 2) with a one-line reason on stderr.
    FailClosed,
}

impl PolicyMode {
    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::Audit => "audit",
            PolicyMode::FailClosed => "fail-closed",
        }
    }

    /// True in fail-closed mode.
    pub fn fail_closed(self) -> bool {
        self == PolicyMode::FailClosed
    }
}

/// Default internal deadline: well under the installed 10 s hook timeout.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// Exit code of the answer once one has been written (-1 before); guarded by `OUT` so only one
/// writer ever prints.
static ANSWERED: AtomicI32 = AtomicI32::new(-1);
static OUT: Mutex<()> = Mutex::new(());
/// The event being answered, once known (from the argument or the payload).
static EVENT: OnceLock<String> = OnceLock::new();

/// Tells the failure paths which event's answer shape to use.
pub fn set_event(name: &str) {
    let _ = EVENT.set(name.to_string());
}

/// Writes `answer` unless another path already answered; returns its exit code.
pub fn emit(answer: &Answer) -> i32 {
    let _guard = OUT.lock().unwrap_or_else(|p| p.into_inner());
    let before = ANSWERED.load(Ordering::SeqCst);
    if before >= 0 {
        return before;
    }
    write_answer(answer);
    ANSWERED.store(answer.code, Ordering::SeqCst);
    answer.code
}

fn write_answer(answer: &Answer) {
    if let Some(line) = &answer.stderr {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(answer.stdout.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Writes the failure answer for the current event and ends the process. When an answer was
/// already written, only `exit_if_answered` decides whether the process ends (with that code).
fn fail_and_exit(mode: PolicyMode, reason: &str, exit_if_answered: bool) {
    // try_lock: a panic may happen while the lock is held; answering matters more than order.
    let _guard = OUT.try_lock();
    let before = ANSWERED.load(Ordering::SeqCst);
    if before >= 0 {
        if exit_if_answered {
            std::process::exit(before);
        }
        return;
    }
    let answer = adapter::failure(EVENT.get().map(String::as_str), mode.fail_closed(), reason);
    write_answer(&answer);
    ANSWERED.store(answer.code, Ordering::SeqCst);
    std::process::exit(answer.code);
}

/// Installs the panic hook and starts the deadline clock for one hook invocation.
pub fn arm(mode: PolicyMode, deadline: Duration) {
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        fail_and_exit(mode, &format!("internal panic: {msg}{at}"), true);
    }));
    let spawned = std::thread::Builder::new()
        .name("hook-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline);
            fail_and_exit(
                mode,
                &format!("internal deadline of {} ms passed", deadline.as_millis()),
                false,
            );
        });
    if spawned.is_err() {
        fail_and_exit(mode, "cannot start the deadline clock", true);
    }
}
