//! Fail-closed machinery of the hook process: exactly one answer is written, whether it comes
//! from the normal path, a panic or the internal deadline.

use super::adapter::{self, Answer};
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};
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

/// Exit code of the answer once one is claimed (-1 before). The first path to claim it (normal
/// answer, panic or deadline) is the only one that writes.
static ANSWERED: AtomicI32 = AtomicI32::new(-1);
/// The event being answered, once known (from the argument or the payload).
static EVENT: OnceLock<String> = OnceLock::new();
/// The policy mode, once armed.
static MODE: OnceLock<PolicyMode> = OnceLock::new();
/// The deadline, once armed (for the reason the deadline answer gives).
static DEADLINE_MS: AtomicU64 = AtomicU64::new(0);
/// The deadline's answer, rendered in advance: the signal handler that writes it may neither
/// allocate nor lock. Replaced (and the old one leaked, at most once) when the event is known.
static DEADLINE_ANSWER: AtomicPtr<Rendered> = AtomicPtr::new(std::ptr::null_mut());

/// An answer as the bytes to write.
struct Rendered {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: i32,
}

impl Rendered {
    fn of(answer: &Answer) -> Rendered {
        Rendered {
            stdout: format!("{}\n", answer.stdout).into_bytes(),
            stderr: answer
                .stderr
                .as_ref()
                .map(|l| format!("{l}\n").into_bytes())
                .unwrap_or_default(),
            code: answer.code,
        }
    }
}

/// Tells the failure paths which event's answer shape to use.
pub fn set_event(name: &str) {
    if EVENT.set(name.to_string()).is_ok() {
        render_deadline_answer();
    }
}

/// Writes `answer` unless another path already answered; returns its exit code.
pub fn emit(answer: &Answer) -> i32 {
    if let Err(before) = claim(answer.code) {
        return before;
    }
    write_answer(answer);
    answer.code
}

/// Claims the one answer with exit code `code`; `Err` with the claimed code when another path
/// was first.
fn claim(code: i32) -> Result<(), i32> {
    ANSWERED
        .compare_exchange(-1, code, Ordering::SeqCst, Ordering::SeqCst)
        .map(drop)
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
/// already claimed, the process ends with its code.
fn fail_and_exit(mode: PolicyMode, reason: &str) -> ! {
    let answer = adapter::failure(EVENT.get().map(String::as_str), mode.fail_closed(), reason);
    match claim(answer.code) {
        Ok(()) => {
            write_answer(&answer);
            std::process::exit(answer.code)
        }
        Err(before) => std::process::exit(before),
    }
}

/// Installs the panic hook and starts the deadline clock for one hook invocation.
///
/// The clock is a real-time interval timer (`setitimer`), not a thread: starting a thread costs
/// a hook process about a tenth of a millisecond per tool call. Its signal handler writes the
/// answer rendered in advance with `write(2)` and ends the process with `_exit(2)`, both
/// async-signal-safe; it interrupts the same waits a thread would outrun (a stdin that never
/// ends, a lock, a FIFO, a long analysis).
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
        fail_and_exit(mode, &format!("internal panic: {msg}{at}"));
    }));
    let _ = MODE.set(mode);
    DEADLINE_MS.store(
        u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        Ordering::SeqCst,
    );
    render_deadline_answer();
    if start_clock(deadline).is_err() {
        fail_and_exit(mode, "cannot start the deadline clock");
    }
}

/// Renders the deadline's answer for the event known now.
fn render_deadline_answer() {
    let Some(mode) = MODE.get() else {
        return;
    };
    let reason = format!(
        "internal deadline of {} ms passed",
        DEADLINE_MS.load(Ordering::SeqCst)
    );
    let answer = adapter::failure(EVENT.get().map(String::as_str), mode.fail_closed(), &reason);
    let rendered = Box::into_raw(Box::new(Rendered::of(&answer)));
    // The previous rendering is left in place (leaked): the handler may be reading it now.
    DEADLINE_ANSWER.store(rendered, Ordering::SeqCst);
}

/// Installs the handler and sets the one-shot timer.
fn start_clock(deadline: Duration) -> std::io::Result<()> {
    let handler: extern "C" fn(libc::c_int) = on_deadline;
    // SAFETY: `sigaction` and `setitimer` get valid, fully initialised structures; the handler
    // only uses async-signal-safe operations (atomics, write, _exit).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        // Restarted, not failed with EINTR: a wait the handler does not end (after the answer
        // was claimed) goes on as if no signal had come.
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // A deadline of 0 would disarm the timer: the shortest one is 1 µs.
        let micros = deadline.as_micros().max(1);
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: libc::time_t::try_from(micros / 1_000_000).unwrap_or(libc::time_t::MAX),
                tv_usec: (micros % 1_000_000) as libc::suseconds_t,
            },
        };
        if libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// SIGALRM: the deadline passed. Answers with the rendered failure unless an answer was
/// already claimed (then the process finishes its own answer and after-work).
extern "C" fn on_deadline(_signal: libc::c_int) {
    let rendered = DEADLINE_ANSWER.load(Ordering::SeqCst);
    if rendered.is_null() {
        return;
    }
    // SAFETY: the pointer came from Box::into_raw and is never freed.
    let rendered = unsafe { &*rendered };
    if claim(rendered.code).is_err() {
        return;
    }
    write_raw(2, &rendered.stderr);
    write_raw(1, &rendered.stdout);
    // SAFETY: _exit is async-signal-safe; nothing buffered needs flushing (nothing else wrote
    // the answer).
    unsafe { libc::_exit(rendered.code) }
}

/// `write(2)` until all of `bytes` is written or an error other than EINTR.
fn write_raw(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid slice for its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return;
        }
    }
}
