//! Fail-closed mode: every internal-error condition answers deny with exit 2 and one line on
//! stderr; audit mode allows instead. Real processes, real files.

use crate::hook_common::*;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

fn assert_fail_closed(out: &std::process::Output, why: &str) {
    assert_eq!(out.status.code(), Some(2), "{why}: {}", stderr(out));
    assert_eq!(decision(out).as_deref(), Some("deny"), "{why}");
    assert_one_json_object(out);
    let err = stderr(out);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{why}: one stderr line: {err:?}"
    );
    assert!(err.contains(why), "{why}: {err}");
}

#[test]
fn empty_stdin() {
    let s = Sandbox::new();
    assert_fail_closed(&s.hook(&["hook", "PreToolUse"], b""), "empty hook payload");
}

#[test]
fn malformed_and_non_object_stdin() {
    let s = Sandbox::new();
    assert_fail_closed(
        &s.hook(&["hook", "PreToolUse"], b"{\"tool_name\": "),
        "not valid JSON",
    );
    assert_fail_closed(
        &s.hook(&["hook", "pre-tool-use"], b"[1,2]"),
        "not a JSON object",
    );
}

#[test]
fn payload_over_the_size_limit() {
    let s = Sandbox::new();
    let mut big =
        br#"{"hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"content":""#
            .to_vec();
    big.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
    big.extend(br#""}}"#);
    assert_fail_closed(
        &s.hook(&["hook", "PreToolUse"], &big),
        "larger than 4194304 bytes",
    );
}

#[test]
fn missing_and_invalid_policy() {
    let s = Sandbox::new();
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}),
    );
    let missing = s.dir.path().join("no-such-policy.yaml");
    let out = s.hook(
        &["--policy", missing.to_str().unwrap(), "hook", "PreToolUse"],
        &payload,
    );
    assert_fail_closed(&out, "cannot load the policy");
    let bad = write_policy(
        s.dir.path(),
        "bad.yaml",
        "rules: [ {id: x, effect: explode\n",
    );
    let out = s.hook(
        &["--policy", bad.to_str().unwrap(), "hook", "PreToolUse"],
        &payload,
    );
    assert_fail_closed(&out, "cannot load the policy");
}

#[test]
fn unwritable_ledger() {
    let s = Sandbox::new();
    std::fs::create_dir_all(&s.pw).unwrap();
    // A file where the ledger folder should be: not writable, even for root.
    std::fs::write(s.pw.join("ledger"), "not a folder").unwrap();
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}),
    );
    let out = s.hook(&["--policy", "strict", "hook", "PreToolUse"], &payload);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(decision(&out).as_deref(), Some("deny"));
    assert!(stderr(&out).contains("ledger"), "{}", stderr(&out));
    // An outcome that cannot be recorded fails closed too.
    let post = s.payload(
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_use_id": "t1", "tool_response": {"stdout": "x"}}),
    );
    let out = s.hook(&["hook", "PostToolUse"], &post);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ledger"));
}

#[test]
fn panic_answers_deny() {
    let s = Sandbox::new();
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}),
    );
    let mut cmd = s.cmd(&["hook", "PreToolUse"]);
    cmd.env("PATCHWORK_HOOK_TEST_PANIC", "1");
    let out = run_with_stdin(cmd, &payload);
    assert_fail_closed(&out, "internal panic");
}

#[test]
fn internal_deadline_answers_deny() {
    let s = Sandbox::new();
    // stdin that never ends: the hook must not wait for Claude Code's timeout.
    let mut child = s
        .cmd(&["hook", "PreToolUse", "--deadline-ms", "300"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _keep_open = child.stdin.take();
    wait_until(Duration::from_secs(20), "the hook to exit", || {
        child.try_wait().unwrap().is_some()
    });
    let out = child.wait_with_output().unwrap();
    assert_fail_closed(&out, "internal deadline");
}

/// Another process holding the ledger's lock cannot stall the hook past its deadline: the
/// deadline interrupts the wait and answers deny; once the lock is released, the ledger takes
/// the next decision and still verifies.
#[test]
fn a_held_ledger_lock_ends_at_the_deadline() {
    let s = Sandbox::new();
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}),
    );
    let first = s.hook(&["hook", "PreToolUse"], &payload);
    assert!(first.status.success(), "{}", stderr(&first));
    let lock = std::fs::File::open(s.pw.join("ledger/lock")).unwrap();
    lock.lock().unwrap();
    let out = s.hook(&["hook", "PreToolUse", "--deadline-ms", "300"], &payload);
    assert_fail_closed(&out, "internal deadline");
    drop(lock);
    let after = s.hook(&["hook", "PreToolUse"], &payload);
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(s.records().len(), 2, "the stalled call wrote nothing");
    let verify = s.cmd(&["verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn no_event_anywhere() {
    let s = Sandbox::new();
    let out = s.hook(
        &["hook"],
        br#"{"tool_name":"Bash","tool_input":{"command":"ls"}}"#,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no event"));
}

#[test]
fn audit_mode_allows_and_records_errors() {
    let s = Sandbox::new();
    for input in [&b""[..], b"{oops", b"42"] {
        let out = s.hook(&["hook", "PreToolUse", "--policy-mode", "audit"], input);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(assert_one_json_object(&out), json!({}));
        assert!(stderr(&out).contains("audit mode"));
    }
    let mut cmd = s.cmd(&["hook", "PreToolUse", "--policy-mode", "audit"]);
    cmd.env("PATCHWORK_HOOK_TEST_PANIC", "1");
    let out = run_with_stdin(cmd, &s.payload("PreToolUse", json!({"tool_name": "Read"})));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn permission_request_fails_closed_in_json() {
    let s = Sandbox::new();
    let out = s.hook(&["hook", "PermissionRequest"], b"not json");
    // Claude Code ignores exit 2 for PermissionRequest: the deny must be in the JSON.
    let v = assert_one_json_object(&out);
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert_eq!(out.status.code(), Some(0));
}

/// Started with stdout closed (as a careless parent may do), the hook must not let a file of
/// its own take descriptor 1 and write its answer into it: nothing under the gateway's home
/// holds the answer, and the ledger stays intact and verifiable.
#[test]
fn closed_stdout_never_lands_in_the_ledger() {
    use std::os::unix::process::CommandExt;
    let s = Sandbox::new();
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}}),
    );
    let mut cmd = s.cmd(&["--policy", "strict", "hook", "PreToolUse"]);
    // SAFETY: close(2) is async-signal-safe and touches nothing but the child's descriptor.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &payload).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = s.records();
    assert_eq!(records.len(), 1, "one decision record: {records:?}");
    let stored = String::from_utf8_lossy(&s.ledger_bytes()).into_owned();
    assert!(!stored.contains("hookSpecificOutput"), "{stored}");
    let verify = s.cmd(&["verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
}

/// A reader that goes away before the answer is written is a broken pipe the hook survives:
/// the process is not killed by SIGPIPE, and the decision is recorded.
#[test]
fn a_closed_reader_does_not_kill_the_hook() {
    use std::os::unix::process::ExitStatusExt;
    let s = Sandbox::new();
    let payload = s.payload(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}),
    );
    let mut child = s
        .cmd(&["--policy", "strict", "hook", "PreToolUse"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &payload).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    assert_eq!(s.records().len(), 1);
}

/// `grep -rn PATTERN .` looks into the secret files below `.` to see whether the pattern
/// could print one of their lines. A FIFO named `.env` must not stall that look (the decision
/// would end at the deadline instead of on its merits): it is never opened for a blocking read
/// and counts as a possible leak. A real `.env` without a matching line leaves the search allowed.
#[test]
fn a_fifo_named_like_a_secret_never_stalls_a_grep_decision() {
    let s = Sandbox::new();
    std::fs::write(s.project.join("notes.txt"), "TODO: tidy\n").unwrap();
    let grep = |s: &Sandbox| {
        s.hook(
            &["hook", "PreToolUse"],
            &s.payload(
                "PreToolUse",
                json!({"tool_name": "Bash", "tool_input": {"command": "grep -rn TODO ."}}),
            ),
        )
    };
    std::fs::write(s.project.join(".env"), "API_KEY=abc123abc123\n").unwrap();
    let plain = grep(&s);
    assert_eq!(decision(&plain), None, "allowed: {}", stdout(&plain));
    assert!(plain.status.success(), "{}", stderr(&plain));

    std::fs::remove_file(s.project.join(".env")).unwrap();
    let fifo = std::ffi::CString::new(s.project.join(".env").into_os_string().into_encoded_bytes())
        .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let out = grep(&s);
    let answer = stdout(&out);
    assert_ne!(decision(&out).as_deref(), Some("allow"), "{answer}");
    assert!(
        answer.contains(".env"),
        "the reason names the file: {answer}"
    );
    assert!(
        !answer.contains("deadline"),
        "decided on its merits: {answer}"
    );
}
