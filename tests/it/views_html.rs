//! The HTML replay: hostile ledger strings render as text, and the page loads in headless
//! Chromium from `file://` with no request other than `file:`/`data:` and no console error.

use crate::peers;
use crate::views_common::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn page(d: &Driven) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay.html");
    d.run(&["replay", SESSION, "-o", path.to_str().unwrap()]);
    (dir, path)
}

#[test]
fn hostile_strings_render_as_text() {
    let d = drive_session(SESSION);
    let (_dir, path) = page(&d);
    let html = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(
        !html.contains("<script>window.pwned"),
        "hostile markup must be escaped"
    );
    assert!(
        !html.contains("<img src=x"),
        "hostile markup must be escaped"
    );
    assert!(html.contains("&#60;/script&#62;&#60;script&#62;window.pwned=1"));
    let csp = html
        .split("http-equiv=\"Content-Security-Policy\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSP meta tag")
        .replace("&#39;", "'");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external reference"
    );
    for want in [
        "Enforcement gap",
        "mcp__patchwork__read_file",
        "@media print",
        "Summary",
    ] {
        assert!(html.contains(want), "missing {want}");
    }
    // The HTML goes to stdout with --html too.
    let out = d.run(&["replay", "latest", "--html"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("<!doctype html>"));
}

/// A ChromeDriver on a free port, killed on drop.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wd(client: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> Value {
    let resp = client
        .request(method, &url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let v: Value = resp.json().await.unwrap();
    assert!(v["value"].get("error").is_none(), "{url}: {v}");
    v["value"].clone()
}

#[test]
fn loads_offline_in_chromium_without_requests_or_errors() {
    let Some((chromium, chromedriver)) = peers::chromium() else {
        return;
    };
    let d = drive_session(SESSION);
    let (dir, path) = page(&d);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver {
        child: Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = patchwork_gateway::net::client(None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get(format!("{}/status", driver.base)).send().await;
            if ready.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut args: Vec<String> = peers::CHROMIUM_FLAGS
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"}
        }}});
        let session = wd(
            &client,
            reqwest::Method::POST,
            format!("{}/session", driver.base),
            caps,
        )
        .await;
        let s = format!(
            "{}/session/{}",
            driver.base,
            session["sessionId"].as_str().unwrap()
        );
        let url = format!("file://{}", path.display());
        wd(
            &client,
            reqwest::Method::POST,
            format!("{s}/url"),
            json!({"url": url}),
        )
        .await;
        let script = "var f = document.getElementById('f-verdict'); \
            var before = document.getElementById('f-count').textContent; \
            f.value = 'deny'; f.dispatchEvent(new Event('change')); \
            return [typeof window.pwned, document.scripts.length, \
                    document.querySelectorAll('#timeline > li').length, before, \
                    document.getElementById('f-count').textContent, \
                    document.body.textContent.indexOf('</script><script>window.pwned=1') >= 0, \
                    document.getElementById('verified').textContent];";
        let got = wd(
            &client,
            reqwest::Method::POST,
            format!("{s}/execute/sync"),
            json!({"script": script, "args": []}),
        )
        .await;
        assert_eq!(got[0], "undefined", "hostile script ran: {got}");
        assert_eq!(got[1], 1, "{got}");
        assert!(got[2].as_u64().unwrap() >= 10, "{got}");
        assert_eq!(got[4], "3 shown", "the filter runs in the page: {got}");
        assert_eq!(got[5], true, "hostile text shown as text: {got}");
        assert_eq!(got[6], "verified", "{got}");
        let console = wd(
            &client,
            reqwest::Method::POST,
            format!("{s}/se/log"),
            json!({"type": "browser"}),
        )
        .await;
        let errors: Vec<&Value> = console
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:#?}");
        let perf = wd(
            &client,
            reqwest::Method::POST,
            format!("{s}/se/log"),
            json!({"type": "performance"}),
        )
        .await;
        // Requests the page made (the browser's own start page loads chrome: resources).
        let mut requests = Vec::new();
        let mut network = Vec::new();
        for e in perf.as_array().unwrap() {
            let m: Value = serde_json::from_str(e["message"].as_str().unwrap()).unwrap();
            if m["message"]["method"] == "Network.requestWillBeSent" {
                let p = &m["message"]["params"];
                let u = p["request"]["url"].as_str().unwrap().to_string();
                if u.starts_with("http") || u.starts_with("ws") || u.starts_with("ftp") {
                    network.push(u.clone());
                }
                if p["documentURL"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("file:"))
                {
                    requests.push(u);
                }
            }
        }
        assert!(network.is_empty(), "network requests: {network:?}");
        assert!(
            requests.iter().any(|u| u.starts_with("file:")),
            "the page itself: {requests:?}"
        );
        let outside: Vec<&String> = requests
            .iter()
            .filter(|u| !u.starts_with("file:") && !u.starts_with("data:"))
            .collect();
        assert!(
            outside.is_empty(),
            "requests beyond file:/data: {outside:?}"
        );
        let _ = client.delete(&s).send().await;
    });
}
