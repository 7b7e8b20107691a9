//! The dashboard over real HTTP: the real binary serving a real ledger written by hook
//! processes, a real HTTP client. Token for cookie, 401 without it, 403 for a foreign Host or
//! Origin (DNS rebinding, cross-site), 405 for anything but GET, security headers, 127.0.0.1 only,
//! escaping of hostile tool input, live records over Server-Sent Events.

use crate::hook_common::Sandbox;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running `dashboard` process, stopped when dropped.
pub struct Server {
    child: Child,
    /// The printed URL, with its token.
    pub url: String,
    pub port: u16,
    pub token: String,
}

impl Server {
    /// Starts the dashboard on a free port for the sandbox and reads the URL it prints.
    pub fn start(sb: &Sandbox) -> Server {
        Server::spawn(sb.cmd(&["dashboard", "--port", "0"]))
    }

    /// Starts `dashboard --port 0` as `cmd` says and reads the URL it prints.
    pub fn spawn(cmd: std::process::Command) -> Server {
        let (child, url, _) = spawn_until_url(cmd);
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .expect("a 127.0.0.1 URL");
        let (port, query) = rest.split_once('/').unwrap();
        let token = query.strip_prefix("?token=").unwrap().to_string();
        Server {
            child,
            port: port.parse().unwrap(),
            url,
            token,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Spawns a dashboard as `cmd` says and reads its stdout up to the URL it prints; returns the
/// process, the URL and the lines printed up to it. The rest of stdout is drained so the server
/// never blocks on a full pipe.
pub fn spawn_until_url(mut cmd: std::process::Command) -> (Child, String, Vec<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the dashboard");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = Vec::new();
    let url = lines
        .by_ref()
        .map(Result::unwrap)
        .inspect(|l| said.push(l.clone()))
        .find(|l| l.starts_with("http://"))
        .expect("the dashboard prints its URL");
    std::thread::spawn(move || lines.for_each(drop));
    (child, url, said)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes decisions through the real hook door: ordinary calls, refused ones, and one whose
/// input is hostile HTML/JS.
pub fn fill_ledger(sb: &Sandbox) {
    let calls = [
        json!({"tool_name": "Read", "tool_input": {"file_path": "src/main.rs"}}),
        json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}}),
        json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}}),
        json!({"tool_name": "Read", "tool_input": {"file_path": ".env"}}),
        json!({"tool_name": "Bash", "tool_input": {"command": "cat '<script>alert(\"pwned\")</script><img src=x onerror=alert(1)>'"}}),
    ];
    for (i, c) in calls.iter().enumerate() {
        let mut extra = c.clone();
        extra["tool_use_id"] = json!(format!("toolu_{i}"));
        let out = sb.hook(&["hook", "PreToolUse"], &sb.payload("PreToolUse", extra));
        assert!(out.status.code().is_some(), "hook ran");
    }
    assert!(sb.records().len() >= calls.len(), "decisions recorded");
    // A seal and a signed checkpoint, for the integrity pages.
    for step in ["seal", "checkpoint"] {
        let out = sb.cmd(&[step]).output().unwrap();
        assert!(out.status.success(), "{step}: {out:?}");
    }
}

/// A client that neither follows redirects nor keeps cookies: every step is visible.
pub fn client() -> reqwest::Client {
    patchwork_gateway::net::builder(None)
        .unwrap()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// Exchanges the token for the session cookie and returns the `Cookie` header value.
pub async fn sign_in(c: &reqwest::Client, s: &Server) -> String {
    let r = c.get(&s.url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    set.split(';').next().unwrap().to_string()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn token_is_exchanged_for_a_strict_http_only_cookie_and_everything_else_is_401() {
    let sb = Sandbox::new();
    fill_ledger(&sb);
    let s = Server::start(&sb);
    rt().block_on(async {
        let c = client();
        // No token, no cookie: 401 on every page, asset and the event stream.
        for path in [
            "/",
            "/events",
            "/sessions",
            "/policy",
            "/integrity",
            "/live",
            "/assets/dashboard.js",
            "/nope",
        ] {
            let r = c.get(s.at(path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert!(
                r.headers().contains_key("content-security-policy"),
                "{path}"
            );
        }
        // Wrong, truncated, upper-cased or cookie-smuggled tokens do not count.
        let wrong = [
            format!("/?token={}", "0".repeat(64)),
            format!("/?token={}", &s.token[..63]),
            format!("/?token={}", s.token.to_uppercase()),
            format!("/?token={}x", s.token),
            "/?token=".to_string(),
        ];
        for q in &wrong {
            let r = c.get(s.at(q)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{q}");
            assert!(!r.headers().contains_key("set-cookie"), "{q}");
        }
        let name = format!("patchwork_dashboard_{}", s.port);
        let r = c
            .get(s.at("/"))
            .header("cookie", format!("{name}={}", s.token))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "the token is not the cookie"
        );

        // The printed URL: 303 to the same page without the token, with the cookie.
        let r = c.get(&s.url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/");
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.starts_with(&format!("{name}=")), "{set}");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(!set.contains(&s.token), "the cookie is not the token");
        let cookie = set.split(';').next().unwrap().to_string();

        // A deep link with the token keeps its other parameters.
        let r = c
            .get(s.at(&format!("/events?verdict=deny&token={}&risk=high", s.token)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/events?verdict=deny&risk=high");

        // With the cookie every page answers 200 with data.
        for (path, want) in [
            ("/", "Recent refusals"),
            ("/events", "matching records"),
            ("/sessions", "sess-test"),
            ("/sessions/sess-test", "sess-test"),
            ("/policy", "Rules ("),
            ("/policy?tool=Bash&input=rm+-rf+%2F", "deny"),
            ("/integrity", "Intact"),
            ("/events/0", "Record 0"),
            ("/assets/dashboard.css", "font"),
        ] {
            let r = c
                .get(s.at(path))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let body = r.text().await.unwrap();
            assert!(body.contains(want), "{path} lacks {want}");
        }
        // The `log` filters: text search, tool, rule, door and time narrow the same way.
        for (q, want, not) in [
            ("/events?grep=pwned", "pwned", "cargo test"),
            ("/events?tool=read", ".env", "cargo test"),
            ("/events?rule=default", "cargo test", ".env"),
            ("/events?door=mcp", "No matching records", "cargo test"),
            ("/events?since=1h", "cargo test", "No matching records"),
            (
                "/events?until=2000-01-01T00:00:00Z",
                "No matching records",
                "cargo test",
            ),
            ("/events?session=sess-", "cargo test", "No matching records"),
        ] {
            let r = c
                .get(s.at(q))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            let body = r.text().await.unwrap();
            assert!(body.contains(want) && !body.contains(not), "{q}");
        }
        let r = c
            .get(s.at("/events?since=yesterday"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(
            r.text().await.unwrap().contains("neither an RFC 3339 time"),
            "bad time is explained"
        );
        // A cookie for another port's dashboard is not this one's.
        let other = cookie.replacen(&s.port.to_string(), "1", 1);
        let r = c
            .get(s.at("/"))
            .header("cookie", other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn foreign_host_or_origin_is_403_even_with_the_cookie() {
    let sb = Sandbox::new();
    let s = Server::start(&sb);
    rt().block_on(async {
        let c = client();
        let cookie = sign_in(&c, &s).await;
        let port = s.port;
        let hosts = [
            // DNS rebinding: a hostile name resolved to 127.0.0.1.
            format!("attacker.example:{port}"),
            format!("127.0.0.1.attacker.example:{port}"),
            format!("localhost.:{port}"),
            format!("127.0.0.1:{}", port.wrapping_add(1)),
            "127.0.0.1".to_string(),
            format!("[::1]:{port}"),
        ];
        for h in &hosts {
            let r = c
                .get(s.at("/"))
                .header("host", h)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "Host {h}");
        }
        // The token URL itself is refused under a foreign Host: no cookie handed out.
        let r = c
            .get(&s.url)
            .header("host", format!("attacker.example:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(!r.headers().contains_key("set-cookie"));
        let origins = [
            "http://attacker.example".to_string(),
            "null".to_string(),
            format!("https://127.0.0.1:{port}"),
            format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        ];
        for o in &origins {
            let r = c
                .get(s.at("/live"))
                .header("origin", o)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "Origin {o}");
        }
        let r = c
            .get(s.at("/"))
            .header("sec-fetch-site", "cross-site")
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // The everyday neighbours still work: localhost, our own origin, same-origin fetches.
        let mut ok = HeaderMap::new();
        ok.insert("cookie", HeaderValue::from_str(&cookie).unwrap());
        ok.insert(
            "origin",
            HeaderValue::from_str(&format!("http://127.0.0.1:{port}")).unwrap(),
        );
        ok.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        let r = c.get(s.at("/")).headers(ok.clone()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = c
            .get(format!("http://localhost:{port}/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    });
}

#[test]
fn only_get_is_served_and_nothing_changes() {
    let sb = Sandbox::new();
    fill_ledger(&sb);
    let before = sb.ledger_bytes();
    let s = Server::start(&sb);
    rt().block_on(async {
        let c = client();
        let cookie = sign_in(&c, &s).await;
        for m in [
            "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND",
        ] {
            let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
            for path in ["/", "/policy", "/events/0", "/live"] {
                let r = c
                    .request(method.clone(), s.at(path))
                    .header("cookie", &cookie)
                    .body("policy: {}")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
                assert_eq!(r.headers()["allow"], "GET, HEAD", "{m} {path}");
            }
            // Without a cookie as well (the method is refused before anything else runs).
            let r = c.request(method, s.at("/")).send().await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{m} without cookie"
            );
        }
        let r = c
            .head(s.at("/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    });
    assert_eq!(sb.ledger_bytes(), before, "the ledger is untouched");
}

#[test]
fn headers_bind_and_escaping() {
    let sb = Sandbox::new();
    fill_ledger(&sb);
    let s = Server::start(&sb);
    // Listening on 127.0.0.1 only: the kernel's table of listening sockets says so.
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_hex = format!(":{:04X}", s.port);
    let listening: Vec<&str> = tcp
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&port_hex))
        })
        .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
        .collect();
    assert_eq!(listening.len(), 1, "{listening:?}");
    assert!(
        listening[0]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .starts_with("0100007F:")
    );
    let tcp6 = std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    assert!(!tcp6.lines().any(|l| {
        l.split_whitespace()
            .nth(1)
            .is_some_and(|a| a.ends_with(&port_hex))
    }));
    rt().block_on(async {
        let c = client();
        let cookie = sign_in(&c, &s).await;
        let r = c
            .get(s.at("/events"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let h = r.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("http"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        let body = r.text().await.unwrap();
        // The hostile input is in the page only as escaped text.
        assert!(body.contains("pwned"), "the hostile target is shown");
        assert!(
            body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"),
            "escaped"
        );
        assert!(
            !body.contains("<script>alert"),
            "raw script tag in the page"
        );
        assert!(!body.contains("<img src=x"), "raw img tag in the page");
        // No page or asset names another host.
        for path in [
            "/",
            "/events",
            "/assets/dashboard.js",
            "/assets/dashboard.css",
        ] {
            let text = c
                .get(s.at(path))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                !text.contains("https://") && !text.contains("//cdn"),
                "{path} loads from elsewhere"
            );
        }
        // Assets are only the embedded ones: no path escapes.
        for path in [
            "/assets/..%2f..%2fCargo.toml",
            "/assets/%2e%2e/%2e%2e/etc/passwd",
            "/assets/",
        ] {
            let r = c
                .get(s.at(path))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
    });
}

#[test]
fn a_record_appended_by_a_hook_process_arrives_over_sse_within_a_second() {
    let sb = Sandbox::new();
    fill_ledger(&sb);
    let s = Server::start(&sb);
    rt().block_on(async {
        let c = client();
        let cookie = sign_in(&c, &s).await;
        let newest = sb.records().last().unwrap()["seq"].as_u64().unwrap();
        let mut r = c
            .get(s.at(&format!("/live?after={newest}")))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let payload = sb.payload(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "git push --force origin main"}, "tool_use_id": "toolu_live"}),
        );
        let out = sb.hook(&["hook", "PreToolUse"], &payload);
        assert!(out.status.code().is_some());
        let written = Instant::now();
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !text.contains("event: record") {
            let chunk = tokio::time::timeout_at(deadline, r.chunk())
                .await
                .expect("a live record within 5 s")
                .unwrap()
                .expect("the stream stays open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let took = written.elapsed();
        assert!(took < Duration::from_secs(1), "live record took {took:?}");
        assert!(text.contains("git push --force"), "{text}");
        assert!(text.contains(&format!("id: {}", newest + 1)), "{text}");
    });
}

/// The `href` of the first link whose `rel` is `rel`, unescaped.
fn link(body: &str, rel: &str) -> Option<String> {
    let at = body.find(&format!("rel=\"{rel}\""))?;
    let start = body[..at].rfind("href=\"")? + 6;
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

#[test]
fn events_and_sessions_are_paginated_by_links_that_keep_the_filters() {
    let sb = Sandbox::new();
    // 130 decisions in 65 sessions, every other one denied (written by the ledger library,
    // as both doors write them).
    let ledger = patchwork_gateway::ledger::Ledger::open(&sb.pw.join("ledger")).unwrap();
    for i in 0..130 {
        let verdict = if i % 2 == 0 { "deny" } else { "allow" };
        let fields = json!({"event": "decision", "session": format!("page-sess-{:03}", i / 2),
            "door": "hook", "tool": "Bash", "action": "command_execute", "verdict": verdict,
            "risk": "high", "target": [format!("command_execute:echo call-{i:03}")]});
        ledger.append(fields.as_object().unwrap().clone()).unwrap();
    }
    let s = Server::start(&sb);
    rt().block_on(async {
        let c = client();
        let cookie = sign_in(&c, &s).await;
        let get = |path: String| {
            let req = c.get(s.at(&path)).header("cookie", &cookie);
            async move {
                let r = req.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{path}");
                r.text().await.unwrap()
            }
        };
        let calls = |body: &str| -> Vec<u32> {
            body.match_indices("echo call-")
                .map(|(i, m)| body[i + m.len()..i + m.len() + 3].parse().unwrap())
                .collect()
        };
        // Denied calls, newest first, 50 a page; each page's "older" link keeps the filter.
        let mut path = "/events?verdict=deny".to_string();
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        loop {
            let body = get(path.clone()).await;
            let page = calls(&body);
            assert!(page.len() <= 50, "{}", page.len());
            assert!(
                page.iter().all(|n| n % 2 == 0),
                "only denied calls: {page:?}"
            );
            seen.extend(page.iter().copied());
            pages.push((path.clone(), page));
            assert_eq!(
                body.contains("« Newest"),
                pages.len() > 1,
                "later pages (only) link back to the newest"
            );
            match link(&body, "next") {
                Some(next) => {
                    assert!(next.contains("verdict=deny"), "{next}");
                    path = next;
                }
                None => break,
            }
        }
        let want: Vec<u32> = (0..130).rev().filter(|n| n % 2 == 0).collect();
        assert_eq!(seen, want, "every denied call once, newest first");
        assert_eq!(pages.len(), 2);
        // A deep link to the second page is the same page again.
        let (second_link, second_page) = &pages[1];
        assert_eq!(&calls(&get(second_link.clone()).await), second_page);
        let bad = get("/events?before=x".into()).await;
        assert!(bad.contains("must be a record number"), "{bad}");

        // Sessions: 65, 50 a page, most recently active first.
        let first = get("/sessions".into()).await;
        assert!(first.contains("page-sess-064") && !first.contains("page-sess-000"));
        let next = link(&first, "next").expect("an older page");
        let second = get(next).await;
        assert!(second.contains("page-sess-000") && !second.contains("page-sess-064"));
        assert!(link(&second, "prev").is_some() && link(&second, "next").is_none());
    });
}

#[test]
fn open_hands_the_printed_url_to_the_desktop_opener() {
    // The desktop's opener (`xdg-open`) stands in as a script on PATH that writes down what it
    // was given: the dashboard must hand it exactly the URL it printed, token included.
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let opened = sb.dir.path().join("opened.txt");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = sb.cmd(&["dashboard", "--port", "0", "--open"]);
    cmd.env("PATH", path);
    let s = Server::spawn(cmd);
    crate::hook_common::wait_until(Duration::from_secs(10), "the opener ran", || {
        opened.exists()
    });
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), s.url);
    // And that URL signs a browser in.
    rt().block_on(async {
        let r = client().get(&s.url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    });
}
