//! Per-call cgroups for `run_command` (cgroup v2): when this process's cgroup is writable by
//! its user and the kernel has `cgroup.kill` (Linux ≥ 5.14), each call gets a child cgroup of
//! its own; the command is moved into it before it starts, so everything it starts is in it,
//! whatever it does with sessions, process groups or parents, and one write to `cgroup.kill`
//! ends them all. Where that is not possible the keeper's subreaper walk (`contain.rs`) is the
//! only containment; it runs in both cases.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Set (to anything) to turn per-call cgroups off: the subreaper walk alone contains commands.
pub const DISABLE_ENV: &str = "PATCHWORK_NO_CGROUP";

/// How long [`kill`] waits for a killed group to empty.
const EMPTY_DEADLINE: Duration = Duration::from_secs(5);

/// This process's cgroup v2 directory, from `/proc/self/cgroup` (`0::PATH`) and the cgroup2
/// mount in `/proc/self/mountinfo`.
fn own_dir() -> Option<PathBuf> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS… - FSTYPE SOURCE SUPER`
    let mount = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        match (fields.get(3), fields.get(4)) {
            (Some(&"/"), Some(point)) => Some(PathBuf::from(point)),
            _ => None,
        }
    })?;
    Some(mount.join(rel.trim_start_matches('/')))
}

/// Creates an empty cgroup for one call: a child of this process's cgroup named after `tag`. None when cgroups v2 is not mounted, the directory is not writable, the
/// kernel has no `cgroup.kill`, or [`DISABLE_ENV`] is set.
pub fn create(tag: &str) -> Option<PathBuf> {
    if std::env::var_os(DISABLE_ENV).is_some() {
        return None;
    }
    let dir = own_dir()?.join(format!("patchwork-call-{tag}"));
    std::fs::create_dir(&dir).ok()?;
    if !dir.join("cgroup.kill").exists() {
        let _ = std::fs::remove_dir(&dir);
        return None;
    }
    Some(dir)
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is open as `fd`. Only
/// async-signal-safe calls: for use between fork and exec.
pub fn join_raw(fd: libc::c_int) -> bool {
    let zero = b"0";
    // SAFETY: writes two bytes from a valid buffer to a descriptor the caller owns.
    unsafe { libc::write(fd, zero.as_ptr().cast(), zero.len()) == zero.len() as isize }
}

/// Kills every process in the cgroup at `dir`, waits (bounded) until it is empty and removes
/// it. Harmless when it is already gone.
pub fn kill(dir: &Path) {
    let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"))
    else {
        return;
    };
    let _ = f.write_all(b"1");
    let started = Instant::now();
    while populated(dir) && started.elapsed() < EMPTY_DEADLINE {
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = std::fs::remove_dir(dir);
}

/// The cgroup still holds a process (its own or a descendant group's).
pub fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|e| e.lines().any(|l| l == "populated 1"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_group_holds_what_is_moved_into_it_and_kill_empties_it() {
        let Some(dir) = create(&format!("unit-{}", std::process::id())) else {
            // Not available here (no writable cgroup v2): the walk alone is used; the
            // integration tests cover that path.
            eprintln!("no writable cgroup v2 here");
            return;
        };
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .unwrap();
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = procs.as_raw_fd();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg("setsid sleep 60 & exec sleep 60");
        // SAFETY: join_raw only writes to a descriptor.
        unsafe {
            cmd.pre_exec(move || {
                join_raw(fd);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let count = || {
            std::fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .count()
        };
        while count() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            count(),
            2,
            "the command and its setsid child are in the group"
        );
        assert!(populated(&dir));
        kill(&dir);
        assert!(!dir.exists(), "the group is removed");
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
