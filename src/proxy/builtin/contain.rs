//! Containment of `run_command`: nothing a call starts outlives it. The gateway runs each
//! command under a small keeper process (the gateway's own program, started with [`ARG`]):
//! the keeper makes itself a child subreaper, so every descendant that loses its parent
//! (`setsid`, double forks, `nohup … &`) is re-parented to it instead of to init. When the
//! shell exits, when the gateway asks (timeout, cancellation: SIGTERM) or when the gateway
//! is gone, the keeper kills the call's cgroup when it has one (`cgroup.rs`: the shell is
//! moved into it before it starts), then finds every remaining descendant in `/proc` and kills
//! them all, then exits with the shell's status.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The hidden first argument that turns the gateway's program into a keeper:
/// `patchwork-gateway __patchwork-contain GATEWAY_PID CGROUP_DIR|- PROGRAM ARGS…`.
pub const ARG: &str = "__patchwork-contain";

/// How long the keeper keeps killing a tree that keeps forking before it gives up.
const KILL_DEADLINE: Duration = Duration::from_secs(5);

/// Runs the keeper when the process was started as one (never returns then).
pub fn keeper_if_asked() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != ARG) {
        return;
    }
    let code = keeper(&args[2..]);
    std::process::exit(code);
}

fn keeper(args: &[std::ffi::OsString]) -> i32 {
    let gateway: i32 = args
        .first()
        .and_then(|a| a.to_str())
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let group = args
        .get(1)
        .filter(|a| *a != "-")
        .map(std::path::PathBuf::from);
    let Some(program) = args.get(2) else {
        eprintln!("patchwork-gateway: the command keeper was started without a command");
        return 127;
    };
    // The call's cgroup, opened before the fork: the shell joins it before it runs anything.
    let procs = group.as_ref().and_then(|g| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(g.join("cgroup.procs"))
            .ok()
    });
    let procs_fd = procs.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    // SAFETY: plain prctl/sigprocmask calls on this process; sigset_t is plain data.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(&args[3..]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if let Some(fd) = procs_fd {
                // When the move fails the walk below still contains the command.
                super::cgroup::join_raw(fd);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "patchwork-gateway: cannot start {}: {e}",
                program.to_string_lossy()
            );
            return 127;
        }
    };
    let shell = child.id() as i32;
    let status = loop {
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        // SAFETY: valid signal set and timespec; a null siginfo is allowed.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if matches!(sig, libc::SIGTERM | libc::SIGINT | libc::SIGHUP) {
            break 128 + sig;
        }
        if let Some(code) = reap(shell) {
            break code;
        }
        // SAFETY: getppid has no preconditions.
        if gateway > 0 && unsafe { libc::getppid() } != gateway {
            break 128 + libc::SIGKILL; // the gateway is gone
        }
    };
    if let Some(g) = &group {
        super::cgroup::kill(g);
    }
    kill_descendants();
    status
}

/// Reaps every exited child; returns the shell's exit code once it has exited.
fn reap(shell: i32) -> Option<i32> {
    let mut code = None;
    loop {
        let mut status = 0;
        // SAFETY: a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return code;
        }
        if pid == shell {
            code = Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
    }
}

/// Kills every descendant of this process until none is left (or the deadline passes).
fn kill_descendants() {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let started = Instant::now();
    loop {
        let tree = descendants(me);
        if tree.is_empty() || started.elapsed() > KILL_DEADLINE {
            reap(0);
            return;
        }
        for pid in &tree {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        reap(0);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The live (not zombie) descendants of `root`, from `/proc/*/stat`.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut zombies = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let Some(ppid) = fields.next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if state == "Z" {
            zombies.push(pid);
        }
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for c in children.get(&p).into_iter().flatten() {
            stack.push(*c);
            if !zombies.contains(c) {
                out.push(*c);
            }
        }
    }
    out
}
