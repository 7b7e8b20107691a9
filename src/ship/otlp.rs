//! Records and checkpoints as OTLP logs over HTTP/JSON (`POST …/v1/logs`), with the endpoint
//! and headers from the standard `OTEL_EXPORTER_OTLP_*` variables, and retries of 429/502/503/
//! 504 and connection failures with exponential backoff or the receiver's `Retry-After`.

use super::cursor::{Cursor, Item};
use super::semconv;
use super::view::{Json, RecordView, str_of};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::borrow::Cow;
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

/// One OTLP attribute (`{"key": …, "value": {…}}`).
#[derive(Debug, Serialize)]
pub struct KeyValue<'v> {
    pub key: &'static str,
    pub value: AnyValue<'v>,
}

/// An OTLP attribute value, in its JSON mapping.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AnyValue<'v> {
    StringValue(Cow<'v, str>),
    /// A 64-bit integer: a decimal string in OTLP/JSON.
    IntValue(#[serde(serialize_with = "decimal")] u64),
    ArrayValue {
        values: Vec<AnyValue<'v>>,
    },
}

/// An integer as a decimal string, written without an intermediate `String`.
fn decimal<S: serde::Serializer, N: std::fmt::Display>(n: &N, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}

/// One OTLP log record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogRecord<'v> {
    #[serde(serialize_with = "decimal")]
    time_unix_nano: u128,
    #[serde(serialize_with = "decimal")]
    observed_time_unix_nano: u128,
    severity_number: u8,
    severity_text: &'static str,
    event_name: Cow<'v, str>,
    body: AnyValue<'v>,
    attributes: Vec<KeyValue<'v>>,
}

/// The OTLP/JSON `ExportLogsServiceRequest` for `items` of the ledger in `ledger_dir` (a
/// checkpoint record carries its signed note). Each record is read once, its strings borrowed
/// from the stored line, and written straight into the request body.
pub fn payload(ledger_dir: &Path, items: &[Item]) -> Result<Vec<u8>> {
    let observed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let version = env!("CARGO_PKG_VERSION");
    let resource = [
        semconv::string("service.name", "patchwork-gateway"),
        semconv::string("service.version", version),
    ];
    // About 3 bytes out per stored byte: the line is repeated, escaped, as `patchwork.record`.
    let mut out = Vec::with_capacity(512 + items.iter().map(|i| 3 * i.line.len()).sum::<usize>());
    out.extend_from_slice(br#"{"resourceLogs":[{"resource":{"attributes":"#);
    serde_json::to_writer(&mut out, &resource)?;
    out.extend_from_slice(
        br#"},"scopeLogs":[{"scope":{"name":"patchwork-gateway.ledger","version":"#,
    );
    serde_json::to_writer(&mut out, version)?;
    out.extend_from_slice(br#"},"logRecords":["#);
    for (n, it) in items.iter().enumerate() {
        let r = RecordView::parse(&it.line)
            .with_context(|| format!("record {} is not a JSON object", it.seq))?;
        let mut attributes = semconv::attributes(&r, &it.line);
        let event = str_of(&r.event).unwrap_or("record");
        let event_name = if event == crate::ledger::checkpoint::EVENT {
            if let Some(size) = r.size.as_ref().and_then(Json::as_u64) {
                let p = ledger_dir
                    .join(crate::ledger::checkpoint::CHECKPOINTS_DIR)
                    .join(format!("{size:020}.note"));
                if let Ok(note) = std::fs::read_to_string(p) {
                    attributes.push(semconv::string("patchwork.checkpoint.note", note));
                }
                attributes.push(semconv::int("patchwork.checkpoint.size", size));
            }
            Cow::Borrowed("patchwork.checkpoint")
        } else {
            Cow::Owned(format!("patchwork.{event}"))
        };
        let (severity_number, severity_text) = semconv::severity(&r);
        let ts = r.ts.as_ref().and_then(Json::as_i64).unwrap_or(0).max(0) as u128;
        let record = LogRecord {
            time_unix_nano: ts * 1000,
            observed_time_unix_nano: observed,
            severity_number,
            severity_text,
            event_name,
            body: AnyValue::StringValue(semconv::body(&r)),
            attributes,
        };
        if n > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &record)?;
    }
    out.extend_from_slice(b"]}]}]}");
    Ok(out)
}

/// Ships the ledger in `ledger_dir` from `cursor` until caught up, `batch` records per request.
/// The next batch is read and encoded while the previous one is on the wire, but sent only
/// once that one is accepted: at most one batch is ever past the acknowledged cursor, so a
/// crash duplicates at most that batch. `acked` receives the cursor after each accepted batch
/// (the caller saves it) and `cursor` follows. Needs a runtime with a worker thread. Returns
/// the records shipped.
pub fn ship_caught_up(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    ep: &Endpoint,
    ledger_dir: &Path,
    cursor: &mut Cursor,
    batch: usize,
    mut acked: impl FnMut(&Cursor) -> Result<()>,
) -> Result<u64> {
    let encode = |from: &Cursor| -> Result<Option<(Vec<u8>, usize, Cursor)>> {
        let (items, next) = super::cursor::read_after(ledger_dir, from, batch)?;
        if items.is_empty() {
            return Ok(None);
        }
        Ok(Some((payload(ledger_dir, &items)?, items.len(), next)))
    };
    let send_on = |body: Vec<u8>| {
        let (client, ep) = (client.clone(), ep.clone());
        rt.spawn(async move { send(&client, &ep, body).await })
    };
    let mut shipped = 0;
    let mut in_flight = encode(cursor)?.map(|(body, n, next)| (send_on(body), n, next));
    while let Some((task, n, next)) = in_flight.take() {
        let following = encode(&next);
        let sent = rt.block_on(task);
        sent.context("the OTLP sender stopped")??;
        acked(&next)?;
        *cursor = next;
        shipped += n as u64;
        if let Some((body, n, next)) = following? {
            in_flight = Some((send_on(body), n, next));
        }
    }
    Ok(shipped)
}

/// Sends one request body until the receiver accepts it: retries 429/502/503/504 and
/// connection failures (backoff 0.2 s doubling to 10 s, or `Retry-After` up to 60 s); fails on
/// any other answer (a 400 is never retried) and on a certificate the client does not trust.
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
                // An untrusted certificate stays untrusted: stop and say why.
                if let Some(tls) = crate::net::tls_cause(&e) {
                    bail!("cannot send to {}: {tls}", ep.url);
                }
                let cause = crate::net::explain(&e);
                tracing::warn!("OTLP receiver unreachable ({cause}); retrying");
                backoff
            }
        };
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn payload_is_otlp_json_with_borrowed_fields_and_the_checkpoint_note() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join(crate::ledger::checkpoint::CHECKPOINTS_DIR);
        std::fs::create_dir_all(&notes).unwrap();
        std::fs::write(notes.join(format!("{:020}.note", 12)), "signed note\n").unwrap();
        let lines = [
            json!({"event": "decision", "seq": 0, "ts": 1_700_000_000_000_000i64, "tool": "Bash",
                   "target": "rm -rf \"~/src\"", "verdict": "deny", "flags": ["destructive", 3],
                   "rules": ["r.a"], "extra": {"nested": [1, {"x": null}]}}),
            json!({"event": "ledger.checkpoint", "seq": 1, "ts": 5, "size": 12, "root": "sha256:r"}),
        ];
        let items: Vec<Item> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Item {
                seq: i as u64,
                hash: String::new(),
                line: l.to_string(),
            })
            .collect();
        let v: Value = serde_json::from_slice(&payload(dir.path(), &items).unwrap()).unwrap();
        let scope = &v["resourceLogs"][0]["scopeLogs"][0];
        assert_eq!(scope["scope"]["name"], "patchwork-gateway.ledger");
        let [deny, cp] = scope["logRecords"].as_array().unwrap().as_slice() else {
            panic!("{v}")
        };
        let attr = |r: &Value, k: &str| {
            r["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == k)
                .map(|a| a["value"].clone())
        };
        assert_eq!(deny["timeUnixNano"], "1700000000000000000");
        assert_eq!(deny["severityNumber"], 17);
        assert_eq!(deny["eventName"], "patchwork.decision");
        assert_eq!(deny["body"]["stringValue"], "deny Bash: rm -rf \"~/src\"");
        assert_eq!(
            attr(deny, "patchwork.seq").unwrap(),
            json!({"intValue": "0"})
        );
        assert_eq!(
            attr(deny, "patchwork.flags").unwrap(),
            json!({"arrayValue": {"values": [{"stringValue": "destructive"}]}})
        );
        assert_eq!(
            attr(deny, "gen_ai.guardrail.action.type").unwrap()["stringValue"],
            "block"
        );
        assert_eq!(
            attr(deny, "patchwork.record").unwrap()["stringValue"],
            lines[0].to_string()
        );
        assert_eq!(cp["eventName"], "patchwork.checkpoint");
        assert_eq!(
            cp["body"]["stringValue"],
            "checkpoint of 12 records, root sha256:r"
        );
        assert_eq!(
            attr(cp, "patchwork.checkpoint.note").unwrap()["stringValue"],
            "signed note\n"
        );
        assert_eq!(
            attr(cp, "patchwork.checkpoint.size").unwrap()["intValue"],
            "12"
        );
        // A line that is not a JSON object names its record.
        let bad = [Item {
            seq: 9,
            hash: String::new(),
            line: "[1]".into(),
        }];
        let err = payload(dir.path(), &bad).unwrap_err().to_string();
        assert!(err.contains("record 9"), "{err}");
    }
}
