//! Alerts: a JSON POST (http or https) to `PATCHWORK_WEBHOOK_URL` for deny, ask, flag and enforcement gaps.
//! Off the decision path: the hook only drops the alert into a bounded spool folder
//! (`$PATCHWORK_HOME/state/alerts/spool`) and starts a detached `watchdog --drain-alerts`
//! process, which delivers with retry. Failed and dropped alerts are recorded in the ledger.

use crate::call::{ToolCall, Verdict};
use crate::home::{Home, create_private_dir};
use crate::ledger::Ledger;
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Environment variable naming the webhook.
pub const ENV_URL: &str = "PATCHWORK_WEBHOOK_URL";
/// Most alerts waiting in the spool; more are dropped (and the drop recorded).
pub const SPOOL_MAX: usize = 256;
/// Delays before each delivery attempt of one drain.
const BACKOFF_MS: [u64; 3] = [0, 250, 1000];
const NET_TIMEOUT: Duration = Duration::from_secs(3);

/// The alert for a verdict that is not a plain allow.
pub fn for_verdict(event: &str, call: &ToolCall, v: &Verdict) -> Value {
    json!({
        "source": "patchwork-gateway",
        "kind": v.would_be.as_str(),
        "enforced": !v.audited,
        "hook_event": event,
        "session": call.session,
        "agent": call.agent,
        "tool": call.tool,
        "tool_use_id": call.tool_use_id,
        "rules": v.rules,
        "reason": v.reason,
        "risk": v.risk.as_str(),
        "seq": v.seq,
        "ts": now(),
    })
}

/// The alert for a call that ran although it was denied or never decided.
pub fn for_gap(
    session: Option<&str>,
    tool: Option<&str>,
    tool_use_id: &str,
    detail: &str,
    decision_seq: Option<u64>,
    gap_seq: Option<u64>,
) -> Value {
    json!({
        "source": "patchwork-gateway",
        "kind": "enforcement_gap",
        "session": session,
        "tool": tool,
        "tool_use_id": tool_use_id,
        "decision_seq": decision_seq,
        "seq": gap_seq,
        "reason": detail,
        "ts": now(),
    })
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn alerts_dir(home: &Home) -> PathBuf {
    home.root().join("state").join("alerts")
}

/// The webhook alerts go to: `PATCHWORK_WEBHOOK_URL`, else the policy's `alerts.webhook`.
pub fn webhook_url(policy_webhook: Option<&str>) -> Option<String> {
    let from_env = std::env::var(ENV_URL).ok().filter(|u| !u.is_empty());
    from_env.or_else(|| policy_webhook.map(str::to_string))
}

fn spool_dir(home: &Home) -> PathBuf {
    alerts_dir(home).join("spool")
}

/// Queues `alerts` for the webhook — `PATCHWORK_WEBHOOK_URL`, else the policy's
/// `alerts.webhook` — and starts a detached deliverer. Costs a few small file writes and one
/// process spawn; never waits for the network.
pub fn raise(home: &Home, policy_webhook: Option<&str>, alerts: Vec<Value>) {
    let Some(url) = webhook_url(policy_webhook) else {
        return;
    };
    if alerts.is_empty() {
        return;
    }
    let mut queued = false;
    for alert in alerts {
        match enqueue(home, &url, &alert) {
            Ok(true) => queued = true,
            Ok(false) => record(
                home,
                "alert.dropped",
                &alert,
                &url,
                "the alert spool is full",
            ),
            Err(e) => record(
                home,
                "alert.failed",
                &alert,
                &url,
                &format!("cannot spool: {e:#}"),
            ),
        }
    }
    if queued && let Err(e) = spawn_drainer(home) {
        tracing::warn!("cannot start the alert deliverer: {e}");
    }
}

/// Writes one alert into the spool (temp file + rename). `false` when the spool is full.
fn enqueue(home: &Home, url: &str, alert: &Value) -> Result<bool> {
    let spool = spool_dir(home);
    create_private_dir(&spool)?;
    if std::fs::read_dir(&spool)?.count() >= SPOOL_MAX {
        return Ok(false);
    }
    let name = format!(
        "{}-{}-{}.json",
        chrono::Utc::now().timestamp_micros(),
        std::process::id(),
        next_counter()
    );
    let tmp = alerts_dir(home).join(format!(".{name}.tmp"));
    let entry = json!({"url": url, "alert": alert});
    std::fs::write(&tmp, entry.to_string())?;
    std::fs::rename(&tmp, spool.join(name))?;
    Ok(true)
}

fn next_counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn spawn_drainer(home: &Home) -> Result<()> {
    use std::os::unix::process::CommandExt;
    Command::new(std::env::current_exe()?)
        .arg("--home")
        .arg(home.root())
        .args(["watchdog", "--drain-alerts"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok(())
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub delivered: usize,
    pub failed: usize,
}

/// Delivers every spooled alert (retrying each a few times); failures are recorded in the
/// ledger and the alert is removed. Returns at once when another drain holds the lock.
pub fn drain(home: &Home) -> Result<Drained> {
    let dir = alerts_dir(home);
    create_private_dir(&dir)?;
    let lock = std::fs::File::create(dir.join("drain.lock"))?;
    let mut total = Drained::default();
    loop {
        if lock.try_lock().is_err() {
            return Ok(total);
        }
        let done = drain_locked(home, &mut total);
        let _ = lock.unlock();
        done?;
        // An alert spooled while we held the lock found it taken: look once more.
        if spool_is_empty(home) {
            return Ok(total);
        }
    }
}

fn spool_is_empty(home: &Home) -> bool {
    std::fs::read_dir(spool_dir(home))
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

fn drain_locked(home: &Home, total: &mut Drained) -> Result<()> {
    let spool = spool_dir(home);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&spool) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return Ok(()),
    };
    files.sort();
    for file in files {
        let entry: Value = match std::fs::read(&file)
            .map_err(anyhow::Error::from)
            .and_then(|b| serde_json::from_slice(&b).map_err(Into::into))
        {
            Ok(v) => v,
            Err(e) => {
                let error = format!("unreadable spool entry: {e}");
                record(home, "alert.failed", &Value::Null, "", &error);
                let _ = std::fs::remove_file(&file);
                total.failed += 1;
                continue;
            }
        };
        let url = entry["url"].as_str().unwrap_or_default();
        let body = entry["alert"].to_string();
        match deliver_with_retry(url, &body) {
            Ok(()) => total.delivered += 1,
            Err(e) => {
                record(
                    home,
                    "alert.failed",
                    &entry["alert"],
                    url,
                    &format!("{e:#}"),
                );
                total.failed += 1;
            }
        }
        let _ = std::fs::remove_file(&file);
    }
    Ok(())
}

fn deliver_with_retry(url: &str, body: &str) -> Result<()> {
    let mut last = None;
    for delay in BACKOFF_MS {
        std::thread::sleep(Duration::from_millis(delay));
        match deliver(url, body) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| anyhow::anyhow!("no attempt made"))
        .context(format!("{} attempts failed", BACKOFF_MS.len())))
}

/// One POST through the gateway's HTTP(S) client ([`crate::net`]: rustls, Mozilla's roots plus
/// `SSL_CERT_FILE`); a failure names its cause ("certificate not trusted: …").
fn deliver(url: &str, body: &str) -> Result<()> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("unsupported webhook URL scheme in {}", url_host(url));
    }
    let client = crate::net::builder(None)?
        .timeout(NET_TIMEOUT)
        .build()
        .context("cannot set up the HTTP client")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The request is built inside the runtime: its timeout needs the runtime's timer.
    let sent = rt.block_on(async {
        client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "patchwork-gateway")
            .body(body.to_string())
            .send()
            .await
    });
    let status = match sent {
        Ok(resp) => resp.status(),
        // The URL may carry a token: name the host and the cause, never the URL.
        Err(e) => bail!(
            "{}: {}",
            url_host(url),
            crate::net::explain(&e.without_url())
        ),
    };
    if !status.is_success() {
        bail!("webhook answered HTTP {}", status.as_u16());
    }
    Ok(())
}

/// The host of a URL, for records (never the full URL: it may carry a token).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or(authority)
}

/// Best-effort ledger record of an alert that was not delivered.
fn record(home: &Home, kind: &str, alert: &Value, url: &str, error: &str) {
    let mut r = Map::new();
    r.insert("event".into(), json!(kind));
    r.insert("alert_kind".into(), alert["kind"].clone());
    r.insert("alert_seq".into(), alert["seq"].clone());
    r.insert("webhook_host".into(), json!(url_host(url)));
    r.insert("error".into(), json!(error));
    let appended = Ledger::open(&home.ledger_dir()).and_then(|l| l.append(r));
    if let Err(e) = appended {
        tracing::warn!("cannot record {kind}: {e:#}");
    }
}

/// Number of alerts waiting for delivery.
pub fn pending(home: &Home) -> usize {
    std::fs::read_dir(spool_dir(home))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_drop_credentials_and_paths() {
        assert_eq!(url_host("https://u:tok@hooks.test/abc"), "hooks.test");
        assert_eq!(url_host("http://127.0.0.1:8080/hook?x=1"), "127.0.0.1:8080");
        assert!(deliver("ftp://x/", "{}").is_err());
    }
}
