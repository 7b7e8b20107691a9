//! `dashboard --socket PATH`: the real binary serving on a Unix socket, a real HTTP client
//! connecting through it (reqwest's Unix-socket connector, as `curl --unix-socket` would).
//! The socket is 0600 in a directory only its user can write, no TCP port is opened, the token
//! flow and the Host/Origin checks still hold (a browser behind a local proxy sends a loopback
//! Host with the proxy's port), a live or foreign file under the name is never replaced, a
//! stale socket is, and the file is removed when the dashboard stops.

use crate::dashboard_http::{fill_ledger, spawn_until_url};
use crate::hook_common::Sandbox;
use reqwest::StatusCode;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// A `dashboard --socket` process; killed when dropped if still running.
pub struct SocketServer {
    child: Child,
    /// The printed URL (`http://localhost/?token=…`).
    pub url: String,
}

impl SocketServer {
    /// Starts `dashboard --socket SOCKET` for the sandbox and reads the URL it prints.
    pub fn start(sb: &Sandbox, socket: &Path) -> SocketServer {
        let (child, url, said) =
            spawn_until_url(sb.cmd(&["dashboard", "--socket", socket.to_str().unwrap()]));
        assert!(
            said.iter()
                .any(|l| l.contains("--unix-socket") && l.contains(socket.to_str().unwrap())),
            "how to reach the socket is said: {said:?}"
        );
        SocketServer { child, url }
    }

    /// Stops the server as a service manager would (SIGTERM) and returns its exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
        self.child.wait().unwrap()
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client whose every connection goes to `socket`, whatever the URL's host.
fn client(socket: &Path) -> reqwest::Client {
    patchwork_gateway::net::builder(None)
        .unwrap()
        .unix_socket(socket)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A directory only this user can write, for the socket.
pub fn run_dir(sb: &Sandbox) -> PathBuf {
    let dir = sb.dir.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// Inodes of the TCP sockets listening on this machine.
fn tcp_listening_inodes() -> Vec<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
                .filter_map(|l| l.split_whitespace().nth(9).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Inodes of the sockets process `pid` holds open.
fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect()
}

#[test]
fn the_dashboard_on_a_unix_socket_keeps_its_guard_and_cleans_up() {
    let sb = Sandbox::new();
    fill_ledger(&sb);
    let dir = run_dir(&sb);
    let socket = dir.join("dashboard.sock");
    let mut s = SocketServer::start(&sb, &socket);

    // A socket, mode 0600, ours; and no TCP port anywhere in the process.
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o7777, 0o600, "mode {:o}", meta.mode());
    // SAFETY: geteuid cannot fail.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    let listening = tcp_listening_inodes();
    let held = socket_inodes(s.child.id());
    assert!(!held.is_empty(), "the process holds its socket");
    assert!(
        held.iter().all(|i| !listening.contains(i)),
        "the dashboard listens on a TCP port too"
    );
    let token = s.url.split_once("?token=").unwrap().1.to_string();
    assert!(s.url.starts_with("http://localhost/?token="), "{}", s.url);

    rt().block_on(async {
        let c = client(&socket);
        // Without the token: 401, on pages and the event stream alike.
        for path in ["/", "/events", "/live"] {
            let r = c
                .get(format!("http://localhost{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        let r = c.get("http://localhost/?token=0").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a wrong token");
        // The printed URL (as curl --unix-socket takes it) trades the token for the cookie.
        let r = c.get(&s.url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(!set.contains(&token));
        let cookie = set.split(';').next().unwrap().to_string();
        let r = c
            .get("http://localhost/")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("Recent refusals"));

        // Read-only: POST is 405, with or without the cookie.
        for with_cookie in [true, false] {
            let mut req = c.post("http://localhost/policy").body("policy: {}");
            if with_cookie {
                req = req.header("cookie", &cookie);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        }

        // Through a local proxy on port 8080 the browser sends a loopback Host with that
        // port, and its own Origin: accepted. Another site's page, a rebinding name or a
        // public proxy name is not, even with the cookie.
        let get = |host: &str, origin: Option<&str>| {
            let mut req = c
                .get("http://localhost/live")
                .header("host", host)
                .header("cookie", &cookie);
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            req.send()
        };
        let ok = [
            ("localhost:8080", Some("http://localhost:8080")),
            ("127.0.0.1:8080", None),
            ("[::1]:9000", Some("http://[::1]:9000")),
        ];
        for (host, origin) in ok {
            let r = get(host, origin).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{host} {origin:?}");
        }
        let refused = [
            ("attacker.example:8080", None),
            ("localhost.attacker.example:8080", None),
            ("dashboard.example.com", None),
            ("localhost:8080", Some("http://attacker.example")),
            ("localhost:8080", Some("http://localhost:8081")),
            ("localhost:8080", Some("null")),
        ];
        for (host, origin) in refused {
            let r = get(host, origin).await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{host} {origin:?}");
        }
    });

    // A second dashboard on the same path is refused: the first one is live.
    let out = sb
        .cmd(&["dashboard", "--socket", socket.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use"), "{err}");
    assert!(socket.exists(), "the live socket is left alone");

    // Stopped: exits cleanly and takes its socket file with it.
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        std::fs::symlink_metadata(&socket).is_err(),
        "socket removed on exit"
    );
}

#[test]
fn a_stale_socket_is_replaced_and_anything_else_is_refused() {
    let sb = Sandbox::new();
    let dir = run_dir(&sb);
    let socket = dir.join("d.sock");
    let run = |path: &Path| {
        sb.cmd(&["dashboard", "--socket", path.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    // A regular file, a link (even to a stale socket) and a directory are not touched.
    std::fs::write(&socket, "not a socket").unwrap();
    let out = run(&socket);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
    std::fs::remove_file(&socket).unwrap();
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    std::os::unix::fs::symlink(&stale, &socket).unwrap();
    assert!(!run(&socket).status.success(), "a link is not followed");
    assert!(std::fs::symlink_metadata(&socket).unwrap().is_symlink());
    std::fs::remove_file(&socket).unwrap();

    // A directory that others can write, or that is not ours, is refused.
    let open = sb.dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = run(&open.join("d.sock"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("writable by other users"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!open.join("d.sock").exists());

    // --open cannot reach a socket: refused with the reason.
    let out = sb
        .cmd(&["dashboard", "--socket", socket.to_str().unwrap(), "--open"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--open"));

    // A stale socket of ours (a killed dashboard's) is replaced, and served.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let s = SocketServer::start(&sb, &socket);
    rt().block_on(async {
        let c = client(&socket);
        let r = c.get(&s.url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    });
    let mode = std::fs::metadata(&socket).unwrap().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn another_user_cannot_connect() {
    // Needs a second user: as root the client runs as `nobody`; otherwise the mode bits
    // (checked above and here) are what keeps others out.
    let sb = Sandbox::new();
    let dir = run_dir(&sb);
    // Others may traverse the directory (so only the socket's own mode is in the way).
    for d in [sb.dir.path(), dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let socket = dir.join("d.sock");
    let s = SocketServer::start(&sb, &socket);
    assert_eq!(
        std::fs::metadata(&socket).unwrap().mode() & 0o777,
        0o600,
        "only the owner may connect"
    );
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    const NOBODY: u32 = 65534;
    let connect = |uid: Option<u32>| {
        // The system's Python: a user's own (pyenv and the like) may sit where `nobody`
        // cannot read.
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("python3");
        let mut c = std::process::Command::new(python);
        c.current_dir("/").args([
            "-c",
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print(e.strerror); sys.exit(3)\nprint('connected')",
            socket.to_str().unwrap(),
        ]);
        if let Some(uid) = uid {
            use std::os::unix::process::CommandExt;
            // SAFETY: setgid/setuid are async-signal-safe and run in the forked child only.
            unsafe {
                c.pre_exec(move || {
                    if libc::setgid(uid) != 0 || libc::setuid(uid) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        c.output().unwrap()
    };
    let me = connect(None);
    assert!(
        String::from_utf8_lossy(&me.stdout).contains("connected"),
        "{me:?}"
    );
    let other = connect(Some(NOBODY));
    assert_eq!(other.status.code(), Some(3), "{other:?}");
    assert!(
        String::from_utf8_lossy(&other.stdout).contains("Permission denied"),
        "{other:?}"
    );
    drop(s);
}
