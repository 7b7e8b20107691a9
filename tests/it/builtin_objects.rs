//! The builtin MCP tools act on exactly the object the Gate judged (issue 10, items 1–8):
//! hard links, dangling symlinks, `~`, a check-then-use race, bounded reads, the command
//! environment, escaping processes and searches that would print refused files. Each attack
//! runs against the real binary over MCP stdio with real files and processes, beside the
//! everyday neighbour that must keep working.

use crate::hook_common::{Sandbox, decision, wait_until};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A running `serve` over stdio in a sandbox, initialised.
pub struct Mcp {
    pub child: Child,
    stdin: ChildStdin,
    out: std::io::Lines<BufReader<std::process::ChildStdout>>,
    next: u64,
}

impl Mcp {
    /// Starts `serve` in the sandbox's project with `extra` global args and environment.
    pub fn start(sb: &Sandbox, extra: &[&str], env: &[(&str, &str)]) -> Mcp {
        let mut cmd = sb.cmd(&[]);
        cmd.args(extra)
            .arg("serve")
            .current_dir(&sb.project)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut mcp = Mcp {
            child,
            stdin,
            out,
            next: 1,
        };
        mcp.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "objects-test", "version": "1"}}),
        );
        writeln!(
            mcp.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        mcp
    }

    /// Sends a request without waiting; returns its id.
    pub fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next;
        self.next += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{msg}").unwrap();
        id
    }

    /// Reads messages until the answer to `id`.
    pub fn answer(&mut self, id: u64) -> Value {
        loop {
            let line = self.out.next().expect("server closed stdout").unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.answer(id)
    }

    /// Calls a tool: (isError, text).
    pub fn call(&mut self, tool: &str, args: Value) -> (bool, String) {
        let v = self.request("tools/call", json!({"name": tool, "arguments": args}));
        let r = &v["result"];
        assert!(r.is_object(), "no result: {v}");
        let text = r["content"][0]["text"].as_str().unwrap_or("").to_string();
        (r["isError"] == true, text)
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Until dropped, nothing; if not dropped within `limit`, opens `fifo` for reading and writing
/// and closes it again, which releases a process blocked opening or reading it.
fn unblock_fifo_after(fifo: &Path, limit: Duration) -> std::sync::mpsc::Sender<()> {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || {
        if wait.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            // Linux opens a FIFO for reading and writing without blocking.
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo);
        }
    });
    done
}

fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home.join(".ssh")).unwrap();
    std::fs::write(
        sb.home.join(".ssh/id_ed25519"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nKEY-MATERIAL-0123\n",
    )
    .unwrap();
    std::fs::write(
        sb.home.join(".claude/settings.json"),
        "{\"hooks\":{\"PreToolUse\":[]}}\n",
    )
    .unwrap();
    sb
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.split_whitespace().next() != Some("Z")),
        Err(_) => false,
    }
}

#[test]
fn a_hard_link_to_a_protected_file_is_judged_as_that_file() {
    let sb = sandbox();
    let key = sb.home.join(".ssh/id_ed25519");
    std::fs::hard_link(&key, sb.project.join("h.txt")).unwrap();
    let settings = sb.home.join(".claude/settings.json");
    std::fs::hard_link(&settings, sb.project.join("s.json")).unwrap();
    // The everyday neighbour: two names for an ordinary project file.
    std::fs::write(sb.project.join("a.txt"), "ordinary text\n").unwrap();
    std::fs::hard_link(sb.project.join("a.txt"), sb.project.join("b.txt")).unwrap();
    let mut mcp = Mcp::start(&sb, &[], &[]);

    let (err, text) = mcp.call("read_file", json!({"path": "h.txt"}));
    assert!(err, "{text}");
    assert!(!text.contains("KEY-MATERIAL"), "{text}");
    assert!(
        text.contains("id_ed25519"),
        "the refusal names the object: {text}"
    );

    let (err, text) = mcp.call(
        "write_file",
        json!({"path": "s.json", "content": "{\"disableAllHooks\":true}"}),
    );
    assert!(err, "{text}");
    assert!(text.contains("settings"), "{text}");
    assert!(
        !std::fs::read_to_string(&settings)
            .unwrap()
            .contains("disable")
    );

    // The hook door judges Claude Code's Read of the same name as the key too.
    let hook = sb.hook(
        &["hook", "pre-tool-use"],
        &sb.payload(
            "PreToolUse",
            json!({"tool_name": "Read", "tool_input": {"file_path": p(&sb.project.join("h.txt"))}}),
        ),
    );
    let d = decision(&hook);
    assert!(
        matches!(d.as_deref(), Some("deny" | "ask")),
        "hook door read of h.txt: {d:?}"
    );

    let (err, text) = mcp.call("read_file", json!({"path": "b.txt"}));
    assert!(!err, "{text}");
    assert_eq!(text, "ordinary text\n");
    let (err, text) = mcp.call("write_file", json!({"path": "b.txt", "content": "new\n"}));
    assert!(!err, "{text}");
    assert_eq!(
        std::fs::read_to_string(sb.project.join("b.txt")).unwrap(),
        "new\n"
    );
}

#[test]
fn the_ledger_and_seal_key_cannot_be_reached_through_hard_links() {
    let sb = sandbox();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    // One decision so the ledger exists; then a seal creates the key.
    let (err, _) = mcp.call("list_directory", json!({"path": "."}));
    assert!(!err);
    let ledger = std::fs::read_dir(sb.pw.join("ledger"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a ledger file");
    std::fs::hard_link(&ledger, sb.project.join("l.txt")).unwrap();
    let before = std::fs::read(&ledger).unwrap();
    let (err, text) = mcp.call("write_file", json!({"path": "l.txt", "content": "{}\n"}));
    assert!(err, "{text}");
    // Refused as tampering, or earlier: a ledger with a second name takes no appends at all.
    assert!(
        text.contains("self.tamper") || text.contains("hard links"),
        "{text}"
    );
    let after = std::fs::read(&ledger).unwrap();
    assert!(after.starts_with(&before), "the ledger was rewritten");
    // The user removes the extra name; the ledger takes appends again.
    std::fs::remove_file(sb.project.join("l.txt")).unwrap();
    let seal = sb.cmd(&["seal"]).output().unwrap();
    assert!(
        seal.status.success(),
        "{}",
        String::from_utf8_lossy(&seal.stderr)
    );
    std::fs::hard_link(sb.pw.join("keys/seal.key"), sb.project.join("k.bin")).unwrap();
    let (err, text) = mcp.call("read_file", json!({"path": "k.bin"}));
    assert!(err && text.contains("seal.key"), "{text}");
}

#[test]
fn making_links_is_judged_by_the_source_in_both_doors() {
    let sb = sandbox();
    let key = p(&sb.home.join(".ssh/id_ed25519"));
    let settings = p(&sb.home.join(".claude/settings.json"));
    let mut mcp = Mcp::start(&sb, &[], &[]);
    for cmd in [
        format!("ln {key} h.txt"),
        format!("link {key} h.txt"),
        format!("cp -l {key} h.txt"),
        format!("ln -s {key} h.txt"),
        format!("ln {settings} s.json"),
        format!("python3 -c 'import os; os.link(\"{key}\", \"h.txt\")'"),
        format!("node -e 'require(\"fs\").linkSync(\"{key}\", \"h.txt\")'"),
    ] {
        let (err, text) = mcp.call("run_command", json!({"command": cmd}));
        assert!(err, "{cmd}: {text}");
        assert!(text.contains("patchwork-gateway policy"), "{cmd}: {text}");
        assert!(!sb.project.join("h.txt").exists(), "{cmd} ran");
        let hook = sb.hook(
            &["hook", "pre-tool-use"],
            &sb.payload(
                "PreToolUse",
                json!({"tool_name": "Bash", "tool_input": {"command": cmd}}),
            ),
        );
        assert_ne!(
            decision(&hook).as_deref(),
            Some("allow"),
            "hook door: {cmd}"
        );
    }
    // Neighbours: linking ordinary project files, and a symlink to src/.
    std::fs::write(sb.project.join("a.txt"), "x").unwrap();
    for cmd in ["ln a.txt b.txt", "ln -s src srclink", "cp -l a.txt c.txt"] {
        let (err, text) = mcp.call("run_command", json!({"command": cmd}));
        assert!(!err, "{cmd}: {text}");
    }
    let (err, text) = mcp.call("read_file", json!({"path": "srclink/main.rs"}));
    assert!(!err && text.contains("fn main"), "{text}");
}

#[test]
fn a_dangling_symlink_is_judged_by_the_file_it_would_create() {
    let sb = sandbox();
    let targets = [
        sb.project.join(".claude/settings.local.json"),
        sb.home.join(".ssh/authorized_keys"),
        sb.home.join(".bash_profile"),
        sb.project.join(".mcp.json"),
        sb.pw.join("policy.yaml"),
        sb.project.join(".git/hooks/pre-commit"),
    ];
    std::fs::create_dir_all(sb.project.join(".git/hooks")).unwrap();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    for (i, target) in targets.iter().enumerate() {
        let link = sb.project.join(format!("todo{i}.md"));
        std::os::unix::fs::symlink(target, &link).unwrap();
        let (err, text) = mcp.call(
            "write_file",
            json!({"path": format!("todo{i}.md"), "content": "mode: audit\n"}),
        );
        assert!(err, "{}: {text}", target.display());
        assert!(!target.exists(), "{} was created", target.display());
        let record = sb
            .records()
            .into_iter()
            .rev()
            .find(|r| r["tool"] == "write_file")
            .unwrap();
        let named = record["target"].to_string();
        assert!(
            named.contains(target.file_name().unwrap().to_str().unwrap()),
            "the ledger names the real target: {named}"
        );
    }
    // Neighbour: a dangling symlink into the project's own docs creates that file.
    std::fs::create_dir_all(sb.project.join("docs")).unwrap();
    std::os::unix::fs::symlink("docs/notes-real.md", sb.project.join("notes.md")).unwrap();
    let (err, text) = mcp.call("write_file", json!({"path": "notes.md", "content": "hi\n"}));
    assert!(!err, "{text}");
    assert_eq!(
        std::fs::read_to_string(sb.project.join("docs/notes-real.md")).unwrap(),
        "hi\n"
    );
}

#[test]
fn tilde_and_home_mean_the_same_to_the_gate_and_the_tool() {
    let sb = sandbox();
    std::fs::write(sb.home.join("n.txt"), "home note\n").unwrap();
    std::fs::create_dir_all(sb.project.join("~")).unwrap();
    std::os::unix::fs::symlink(sb.home.join(".ssh/id_ed25519"), sb.project.join("~/n.txt"))
        .unwrap();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    for raw in ["~/n.txt", "$HOME/n.txt", "${HOME}/n.txt"] {
        let (err, text) = mcp.call("read_file", json!({"path": raw}));
        assert!(!err, "{raw}: {text}");
        assert_eq!(text, "home note\n", "{raw}");
    }
    for raw in ["~/.ssh/id_ed25519", "$HOME/.ssh/id_ed25519"] {
        let (err, text) = mcp.call("read_file", json!({"path": raw}));
        assert!(err && !text.contains("KEY-MATERIAL"), "{raw}: {text}");
    }
    // run_command's cwd is resolved by the same function.
    let (err, text) = mcp.call("run_command", json!({"command": "pwd", "cwd": "~"}));
    assert!(!err, "{text}");
    let home = std::fs::canonicalize(&sb.home).unwrap();
    assert!(text.contains(&p(&home)), "{text}");
}

#[test]
fn a_folder_flipped_to_a_symlink_never_gets_a_write_outside_the_checked_object() {
    let sb = sandbox();
    let claude = sb.home.join(".claude");
    let original = std::fs::read(claude.join("settings.json")).unwrap();
    let listing = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing(&claude);
    let mut flipper = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while :; do rm -rf work; ln -sfn '{}' work; rm -f work; done",
            claude.display()
        ))
        .current_dir(&sb.project)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    let (mut wrote, mut refused) = (0, 0);
    for i in 0..1000 {
        let (err, text) = mcp.call(
            "write_file",
            json!({"path": "work/settings.json", "content": format!("{{\"n\":{i}}}")}),
        );
        if err {
            refused += 1;
        } else {
            assert!(text.contains("wrote"), "{text}");
            wrote += 1;
        }
    }
    flipper.kill().unwrap();
    flipper.wait().unwrap();
    assert_eq!(
        std::fs::read(claude.join("settings.json")).unwrap(),
        original,
        "the real settings were replaced ({wrote} writes, {refused} refusals)"
    );
    assert_eq!(listing(&claude), before, "a file appeared in ~/.claude");
    assert!(
        wrote > 0,
        "no write went through at all ({refused} refusals)"
    );
}

#[test]
fn reads_stream_regular_files_only_within_the_cap() {
    let sb = sandbox();
    let log = sb.project.join("big.log");
    {
        let mut f = std::fs::File::create(&log).unwrap();
        for i in 0..100 {
            writeln!(f, "line {i}").unwrap();
        }
        f.set_len(2 << 30).unwrap(); // a 2 GiB sparse tail
    }
    let fifo = sb.project.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::fs::write(sb.project.join("edit.txt"), "x".repeat(5000)).unwrap();
    let policy = sb.dir.path().join("cap.yaml");
    std::fs::write(
        &policy,
        "name: cap\nmode: enforce\ndefault: allow\nbuiltin:\n  answer_cap_bytes: 4096\n",
    )
    .unwrap();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    let (err, text) = mcp.call(
        "read_file",
        json!({"path": "big.log", "offset": 3, "limit": 2}),
    );
    assert!(!err, "{text}");
    assert_eq!(text, "line 2\nline 3\n");
    let status = std::fs::read_to_string(format!("/proc/{}/status", mcp.child.id())).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(hwm_kb < 50 * 1024, "peak RSS {hwm_kb} kB");
    // A FIFO is refused without waiting for a writer. Should the server wait on it anyway,
    // the guard (a failure guard only, no timing claim) opens the other end after a minute:
    // the call then returns the pipe's empty content, which the assertion below rejects,
    // instead of hanging the test.
    let (err, text) = {
        let _guard = unblock_fifo_after(&fifo, Duration::from_secs(60));
        mcp.call("read_file", json!({"path": "pipe"}))
    };
    assert!(err && text.contains("FIFO"), "{text}");
    let (err, text) = mcp.call("read_file", json!({"path": "/dev/zero", "limit": 1}));
    assert!(err, "{text}");
    drop(mcp);

    // A configured cap: a long read is cut with a note, a larger file is not edited.
    let mut mcp = Mcp::start(&sb, &["--policy", policy.to_str().unwrap()], &[]);
    let (err, text) = mcp.call("read_file", json!({"path": "big.log", "limit": 1}));
    assert!(!err, "{text}");
    assert_eq!(text, "line 0\n");
    let (err, text) = mcp.call("read_file", json!({"path": "edit.txt"}));
    assert!(
        !err && text.contains("truncated") && text.len() < 4300,
        "{}",
        text.len()
    );
    let (err, text) = mcp.call(
        "edit_file",
        json!({"path": "edit.txt", "old_string": "xx", "new_string": "y", "replace_all": true}),
    );
    assert!(err && text.contains("4096"), "{text}");
}

#[test]
fn run_command_gets_a_minimal_environment() {
    let sb = sandbox();
    let policy = sb.dir.path().join("env.yaml");
    std::fs::write(
        &policy,
        "name: env\nmode: enforce\ndefault: allow\nbuiltin:\n  run_command_env: [MY_BUILD_FLAG]\n",
    )
    .unwrap();
    let secret = [("SECRET_TOKEN", "tok-9f8e7d"), ("MY_BUILD_FLAG", "on")];
    let mut mcp = Mcp::start(&sb, &[], &secret);
    let (err, text) = mcp.call(
        "run_command",
        json!({"command": "echo tok=$SECRET_TOKEN flag=$MY_BUILD_FLAG home=$HOME"}),
    );
    assert!(!err, "{text}");
    assert!(text.contains("tok= flag= home="), "{text}");
    assert!(!text.contains("tok-9f8e7d"), "{text}");
    assert!(text.contains(&p(&sb.home)), "{text}");
    drop(mcp);
    let mut mcp = Mcp::start(&sb, &["--policy", policy.to_str().unwrap()], &secret);
    let (err, text) = mcp.call(
        "run_command",
        json!({"command": "echo flag=$MY_BUILD_FLAG tok=$SECRET_TOKEN."}),
    );
    assert!(!err && text.contains("flag=on tok=."), "{text}");
}

/// Whether this machine lets the test's user make a child of its cgroup v2 with `cgroup.kill`
/// (the gateway, started from here, is in the same cgroup): the oracle for which containment
/// the gateway must use.
fn call_cgroups_possible() -> bool {
    let Some(rel) = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        })
    else {
        return false;
    };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(mount) = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let f: Vec<&str> = left.split_whitespace().collect();
        (right.starts_with("cgroup2 ") && f[3] == "/").then(|| PathBuf::from(f[4]))
    }) else {
        return false;
    };
    let dir = mount.join(rel.trim_start_matches('/'));
    let probe = dir.join(format!("probe-{}", std::process::id()));
    if std::fs::create_dir(&probe).is_err() {
        return false;
    }
    let kill = probe.join("cgroup.kill").exists();
    std::fs::remove_dir(&probe).unwrap();
    kill
}

#[test]
fn nothing_a_command_starts_outlives_it() {
    // With a per-call cgroup where this machine allows one, and with the subreaper walk alone.
    let cgroups = call_cgroups_possible();
    eprintln!("per-call cgroups possible here: {cgroups}");
    contained(&[], cgroups);
    contained(&[("PATCHWORK_NO_CGROUP", "1")], false);
}

fn contained(env: &[(&str, &str)], in_call_cgroup: bool) {
    let sb = sandbox();
    let mut mcp = Mcp::start(&sb, &[], env);
    let (err, text) = mcp.call("run_command", json!({"command": "cat /proc/self/cgroup"}));
    assert!(!err, "{text}");
    assert_eq!(
        text.contains("patchwork-call-"),
        in_call_cgroup,
        "which containment: {text}"
    );
    let pid_of = |name: &str| -> i32 {
        std::fs::read_to_string(sb.project.join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // Return: a setsid'd grandchild that would sleep on.
    let cmd = "setsid sh -c 'echo $$ > a.pid; exec sleep 60' </dev/null >/dev/null 2>&1 & \
               while [ ! -s a.pid ]; do :; done; echo started";
    let (err, text) = mcp.call("run_command", json!({"command": cmd}));
    assert!(!err, "{text}");
    let a = pid_of("a.pid");
    wait_until(
        Duration::from_secs(5),
        "the escaped process to die (outlived the call)",
        || !alive(a),
    );
    // Timeout.
    let cmd = "setsid sh -c 'echo $$ > b.pid; exec sleep 60' </dev/null >/dev/null 2>&1 & sleep 60";
    let (err, text) = mcp.call("run_command", json!({"command": cmd, "timeout_ms": 500}));
    assert!(err && text.contains("timed out"), "{text}");
    let b = pid_of("b.pid");
    wait_until(
        Duration::from_secs(5),
        "the escaped process to die (outlived the timeout)",
        || !alive(b),
    );
    // Cancelled by the agent.
    let cmd = "setsid sh -c 'echo $$ > d.pid; exec sleep 60' </dev/null >/dev/null 2>&1 & sleep 60";
    let id = mcp.send(
        "tools/call",
        json!({"name": "run_command", "arguments": {"command": cmd}}),
    );
    let pid_file = sb.project.join("d.pid");
    wait_until(Duration::from_secs(10), "the pid file", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    });
    let d = pid_of("d.pid");
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": id, "reason": "test"}});
    writeln!(mcp.stdin, "{cancel}").unwrap();
    wait_until(
        Duration::from_secs(8),
        "the escaped process to die (outlived the cancellation)",
        || !alive(d),
    );
    // The gateway killed while the command runs.
    let cmd = "setsid sh -c 'echo $$ > c.pid; exec sleep 60' </dev/null >/dev/null 2>&1 & sleep 60";
    mcp.send(
        "tools/call",
        json!({"name": "run_command", "arguments": {"command": cmd}}),
    );
    let pid_file = sb.project.join("c.pid");
    wait_until(Duration::from_secs(10), "the pid file", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    });
    let c = pid_of("c.pid");
    assert!(alive(c));
    mcp.child.kill().unwrap();
    mcp.child.wait().unwrap();
    wait_until(
        Duration::from_secs(5),
        "the escaped process to die (outlived the gateway)",
        || !alive(c),
    );
    // Neighbour: a command's own output and exit code are unchanged.
    let mut mcp = Mcp::start(&sb, &[], env);
    let (err, text) = mcp.call("run_command", json!({"command": "echo ok; exit 3"}));
    assert!(
        err && text.contains("exit code: 3") && text.contains("ok"),
        "{text}"
    );
}

#[test]
fn search_files_skips_what_read_file_would_refuse_at_any_depth() {
    let sb = sandbox();
    let deep: PathBuf = sb.project.join("a/b/c/d/e");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("server.key"), "PRIVATE=deep-secret-42\n").unwrap();
    std::fs::hard_link(
        sb.home.join(".ssh/id_ed25519"),
        sb.project.join("a/notes.txt"),
    )
    .unwrap();
    std::fs::write(sb.project.join("a/config.toml"), "name = demo\n").unwrap();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    let (err, _) = mcp.call("read_file", json!({"path": p(&deep.join("server.key"))}));
    assert!(err, "the deep key is refused by read_file");
    for pattern in ["=", "KEY", "[A-Za-z0-9+/]{6,}"] {
        let (err, text) = mcp.call("search_files", json!({"pattern": pattern}));
        assert!(!err, "{pattern}: {text}");
        assert!(!text.contains("deep-secret-42"), "{pattern}: {text}");
        assert!(!text.contains("KEY-MATERIAL"), "{pattern}: {text}");
        assert!(text.contains("2 files skipped"), "{pattern}: {text}");
    }
    let (err, text) = mcp.call("search_files", json!({"pattern": "name ="}));
    assert!(!err && text.contains("config.toml:1:name = demo"), "{text}");
}

/// The ledger's folder in the sandbox's gateway home.
fn ledger_dir(sb: &Sandbox) -> PathBuf {
    sb.pw.join("ledger")
}

#[test]
fn a_ledger_deleted_or_redirected_under_a_running_server_fails_closed() {
    // Issue 10, item 10, through the real `serve`: the log deleted while it runs, and the
    // state cache replaced by a symlink to a file the agent wants overwritten.
    let sb = sandbox();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    let (err, text) = mcp.call("list_directory", json!({"path": "."}));
    assert!(!err, "{text}");
    let log = ledger_dir(&sb).join("ledger.jsonl");
    // The outcome of that call is appended after its answer: wait for it, so that the next
    // append to notice the deletion is the next call's decision.
    wait_until(Duration::from_secs(10), "the outcome record", || {
        sb.records().iter().any(|r| r["event"] == "outcome")
    });
    std::fs::remove_file(&log).unwrap();
    // The next call is refused (its record would go to a deleted inode) …
    let (err, text) = mcp.call("list_directory", json!({"path": "."}));
    assert!(err, "{text}");
    // … and the fresh log at the name starts by saying what was lost.
    let fresh = std::fs::read_to_string(&log).unwrap();
    let first = fresh.lines().next().unwrap_or_default();
    assert!(first.contains("ledger_lost"), "{fresh}");
    // The neighbour: calls go on being decided and recorded in the fresh log.
    let (err, text) = mcp.call("list_directory", json!({"path": "."}));
    assert!(!err, "{text}");
    assert!(std::fs::read_to_string(&log).unwrap().lines().count() >= 2);

    // A symlink in place of state.json is never written through.
    let target = sb.home.join(".bash_profile");
    std::fs::write(&target, "# mine\n").unwrap();
    let state = ledger_dir(&sb).join("state.json");
    std::fs::remove_file(&state).unwrap();
    std::os::unix::fs::symlink(&target, &state).unwrap();
    let (err, text) = mcp.call("list_directory", json!({"path": "."}));
    assert!(!err, "{text}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "# mine\n");
    assert!(!std::fs::symlink_metadata(&state).unwrap().is_symlink());
    drop(mcp);
    let out = sb.cmd(&["verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The fresh log verifies and says it holds a recovery record.
    assert!(out.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("recovery") && !l.contains(" 0 recovery")),
        "{text}"
    );
}

#[test]
fn a_script_cannot_rewrite_history_through_links_it_makes() {
    // Issue 10, item 11, through the real `serve`: a command that links the ledger, its state,
    // seals and seal key into the project to rewrite them there is refused before it runs, and
    // the ledger still verifies with the refusal in it.
    let sb = sandbox();
    let mut mcp = Mcp::start(&sb, &[], &[]);
    let (err, text) = mcp.call("list_directory", json!({"path": "."}));
    assert!(!err, "{text}");
    let seal = sb.cmd(&["seal"]).output().unwrap();
    assert!(
        seal.status.success(),
        "{}",
        String::from_utf8_lossy(&seal.stderr)
    );
    let dir = ledger_dir(&sb);
    let key = sb.pw.join("keys/seal.key");
    let script = format!(
        "ln '{}' l && ln '{}' s && ln '{}' k && sed -i '$d' l",
        dir.join("ledger.jsonl").display(),
        dir.join("state.json").display(),
        key.display()
    );
    let (err, text) = mcp.call("run_command", json!({"command": script}));
    assert!(err, "{text}");
    assert!(
        text.contains("refused") && text.contains("seal key"),
        "{text}"
    );
    for name in ["l", "s", "k"] {
        assert!(!sb.project.join(name).exists(), "{name} was linked");
    }
    // Python's os.link to the key: the same.
    let (err, text) = mcp.call(
        "run_command",
        json!({"command": format!("python3 -c \"import os; os.link('{}', 'k2')\"", key.display())}),
    );
    assert!(err, "{text}");
    assert!(!sb.project.join("k2").exists());
    drop(mcp);
    let out = sb.cmd(&["verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The neighbour: linking an ordinary project file in a command is fine.
    let mut mcp = Mcp::start(&sb, &[], &[]);
    std::fs::write(sb.project.join("notes.txt"), "n\n").unwrap();
    let (err, text) = mcp.call(
        "run_command",
        json!({"command": "ln notes.txt notes2.txt && cat notes2.txt"}),
    );
    assert!(!err && text.contains('n'), "{text}");
}
