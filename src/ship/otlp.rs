//! Records and checkpoints as OTLP logs over HTTP/JSON (`POST …/v1/logs`), with the endpoint
//! and headers from the standard `OTEL_EXPORTER_OTLP_*` variables, and retries of 429/502/503/
//! 504 and connection failures with exponential backoff or the receiver's `Retry-After`.

use super::cursor::Item;
use super::semconv;
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::path::Path;
use std::time::Duration;

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full logs URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Endpoint {
    /// `url` if given (`/v1/logs` appended unless it already ends so), else
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/logs`,
    /// else `http://localhost:4318/v1/logs`. Headers from `OTEL_EXPORTER_OTLP_HEADERS` and
    /// `OTEL_EXPORTER_OTLP_LOGS_HEADERS` (`k=v,k2=v2`, values URL-decoded).
    pub fn resolve(url: Option<&str>) -> Result<Endpoint> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let with_path = |base: &str| {
            let base = base.trim().trim_end_matches('/');
            if base.ends_with("/v1/logs") {
                base.to_string()
            } else {
                format!("{base}/v1/logs")
            }
        };
        let url = match url {
            Some(u) => with_path(u),
            None => match (
                env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
                env("OTEL_EXPORTER_OTLP_ENDPOINT"),
            ) {
                (Some(u), _) => u.trim().to_string(),
                (None, Some(u)) => with_path(&u),
                _ => "http://localhost:4318/v1/logs".into(),
            },
        };
        if !url.starts_with("http://") && !url.starts_with("https://") {
            bail!("{url}: the OTLP endpoint must be an http:// or https:// URL");
        }
        let mut headers = Vec::new();
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ] {
            for pair in env(var)
                .unwrap_or_default()
                .split(',')
                .filter(|p| !p.trim().is_empty())
            {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("{var}: `{pair}` is not key=value"))?;
                headers.push((k.trim().to_string(), percent_decode(v.trim())));
            }
        }
        Ok(Endpoint { url, headers })
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(Ok(v)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The OTLP/JSON `ExportLogsServiceRequest` for `items` of the ledger in `ledger_dir` (a
/// checkpoint record carries its signed note).
pub fn payload(ledger_dir: &Path, items: &[Item]) -> Result<Vec<u8>> {
    let observed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string();
    let mut records = Vec::with_capacity(items.len());
    for it in items {
        let r: Map<String, Value> = serde_json::from_str(&it.line).context("record is not JSON")?;
        let (num, text) = semconv::severity(&r);
        let event = r.get("event").and_then(Value::as_str).unwrap_or("record");
        let mut attrs = semconv::attributes(&r, &it.line);
        let name = if event == crate::ledger::checkpoint::EVENT {
            if let Some(size) = r.get("size").and_then(Value::as_u64) {
                let p = ledger_dir
                    .join(crate::ledger::checkpoint::CHECKPOINTS_DIR)
                    .join(format!("{size:020}.note"));
                if let Ok(note) = std::fs::read_to_string(p) {
                    attrs.push(semconv::string("patchwork.checkpoint.note", &note));
                }
                attrs.push(semconv::int("patchwork.checkpoint.size", size));
            }
            "patchwork.checkpoint".to_string()
        } else {
            format!("patchwork.{event}")
        };
        let ts = r.get("ts").and_then(Value::as_i64).unwrap_or(0).max(0) as u128 * 1000;
        records.push(json!({
            "timeUnixNano": ts.to_string(),
            "observedTimeUnixNano": observed,
            "severityNumber": num,
            "severityText": text,
            "eventName": name,
            "body": {"stringValue": semconv::body(&r)},
            "attributes": attrs,
        }));
    }
    let version = env!("CARGO_PKG_VERSION");
    Ok(serde_json::to_vec(&json!({"resourceLogs": [{
        "resource": {"attributes": [
            semconv::string("service.name", "patchwork-gateway"),
            semconv::string("service.version", version)]},
        "scopeLogs": [{"scope": {"name": "patchwork-gateway.ledger", "version": version},
                       "logRecords": records}]}]}))?)
}

/// Sends one request body until the receiver accepts it: retries 429/502/503/504 and
/// connection failures (backoff 0.2 s doubling to 10 s, or `Retry-After` up to 60 s); fails on
/// any other answer (a 400 is never retried).
pub async fn send(client: &reqwest::Client, ep: &Endpoint, body: Vec<u8>) -> Result<()> {
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut req = client
            .post(&ep.url)
            .header("Content-Type", "application/json")
            .body(body.clone());
        for (k, v) in &ep.headers {
            req = req.header(k, v);
        }
        let wait = match req.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) if matches!(resp.status().as_u16(), 429 | 502 | 503 | 504) => {
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(60)));
                tracing::warn!("OTLP receiver answered {}; retrying", resp.status());
                after.unwrap_or(backoff)
            }
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                bail!(
                    "the OTLP receiver refused the batch: {status} {}",
                    text.chars().take(300).collect::<String>()
                );
            }
            Err(e) => {
                let cause = crate::net::explain(&e);
                tracing::warn!("OTLP receiver unreachable ({cause}); retrying");
                backoff
            }
        };
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
