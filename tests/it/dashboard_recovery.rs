//! A dashboard started while the ledger cannot be read says so on its pages and keeps trying:
//! once the ledger is readable again the pages show its records and an open page is told to
//! reload, without a restart. The ledger is made unreadable by its permissions; as root (who
//! reads through them) the dashboard runs as `nobody`, owner of the sandbox.

use crate::dashboard_http::{Server, client, fill_ledger, sign_in};
use crate::hook_common::{Sandbox, wait_until};
use reqwest::StatusCode;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    if p.is_dir() && !p.is_symlink() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn an_unreadable_ledger_is_said_and_read_once_it_is_readable() {
    let sb = Sandbox::new();
    fill_ledger(&sb);
    let log = sb.pw.join("ledger").join("ledger.jsonl");
    let mut cmd = sb.cmd(&["dashboard", "--port", "0"]);
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        chown_tree(sb.dir.path(), NOBODY);
        chmod(sb.dir.path(), 0o755);
        cmd.current_dir("/");
        // SAFETY: setgid/setuid are async-signal-safe and run in the forked child only.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    chmod(&log, 0o000);
    let s = Server::spawn(cmd);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = client();
        let cookie = sign_in(&c, &s).await;
        let page = |path: &'static str| {
            let c = c.clone();
            let cookie = cookie.clone();
            let url = s.at(path);
            async move {
                let r = c.get(url).header("cookie", cookie).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{path}");
                r.text().await.unwrap()
            }
        };
        // Every page says why it is empty, and the ledger's own records are not shown.
        for path in ["/", "/events", "/sessions"] {
            let body = page(path).await;
            assert!(
                body.contains("cannot read the ledger") && body.contains("ermission denied"),
                "{path}: {body}"
            );
            assert!(!body.contains("cargo test"), "{path}");
        }
        assert!(page("/").await.contains(r#"data-count="records">0<"#));

        // An open overview's event stream, then the permissions fixed.
        let mut live = c
            .get(s.at("/live"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), StatusCode::OK);
        chmod(&log, 0o600);
        let t = Instant::now();
        let mut seen = String::new();
        while !seen.contains("event: reload") {
            let left = Duration::from_secs(10).saturating_sub(t.elapsed());
            let chunk = tokio::time::timeout(left, live.chunk())
                .await
                .expect("the open page is told to reload")
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        let body = page("/").await;
        assert!(!body.contains("cannot read the ledger"), "{body}");
        assert!(
            body.contains("cargo test") && body.contains("rm -rf /"),
            "{body}"
        );
        assert!(page("/events").await.contains("cargo test"));
        assert!(page("/sessions").await.contains("sess-test"));
    });

    // It keeps following the ledger after the recovery.
    let out = sb.hook(
        &["hook", "PreToolUse"],
        &sb.payload(
            "PreToolUse",
            serde_json::json!({"tool_name": "Bash", "tool_input": {"command": "echo after-recovery"}}),
        ),
    );
    assert!(out.status.code().is_some());
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        chown_tree(&sb.pw, NOBODY);
    }
    let c = client();
    let cookie = rt.block_on(sign_in(&c, &s));
    wait_until(Duration::from_secs(5), "the new record is shown", || {
        rt.block_on(async {
            c.get(s.at("/events"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .contains("after-recovery")
        })
    });
}
