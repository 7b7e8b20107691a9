//! Shipping to a real OTLP receiver (rotel): every record arrives after a kill -9 of the
//! shipper mid-stream and a restart (duplicates only at the cut), nothing is lost while the
//! receiver answers 503 for a while, over TLS the collector's private CA is trusted through
//! `--ca-cert` or `OTEL_EXPORTER_OTLP_CERTIFICATE` (and without it the shipper stops with the
//! cause), and the file copy resumes without duplicates.

use crate::evidence_common::{Home, text};
use patchwork_gateway::ledger::Ledger;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running rotel receiver printing every log record it decodes to a file.
struct Rotel {
    child: Child,
    out: PathBuf,
    port: u16,
    _tmp: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rotel {
    fn start() -> Rotel {
        let bin = crate::peers::rotel();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("rotel.out");
        let port = free_port();
        let child = Command::new(bin)
            .args([
                "start",
                "--exporter",
                "blackhole",
                "--debug-log",
                "logs",
                "--debug-log-verbosity",
                "detailed",
            ])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{port}")])
            .args([
                "--otlp-grpc-endpoint",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "rotel did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Rotel {
            child,
            out,
            port,
            _tmp: tmp,
        }
    }

    /// How often each `patchwork.seq` arrived, once `want` distinct ones have (or the timeout).
    fn seqs(&self, want: usize) -> BTreeMap<u64, usize> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut m = BTreeMap::new();
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            for l in text.lines() {
                if let Some(n) = l
                    .trim()
                    .strip_prefix("-> patchwork.seq: Int(")
                    .and_then(|r| r.strip_suffix(')'))
                {
                    *m.entry(n.parse().unwrap()).or_insert(0) += 1;
                }
            }
            if m.len() >= want || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A home with `n` decision records (written unsynced, then synced once: fast).
fn home_with(n: u64) -> Home {
    let h = Home::new();
    let l = Ledger::open(&h.ledger_dir()).unwrap();
    for i in 0..n {
        l.append_unsynced(crate::evidence_common::fields(i))
            .unwrap();
    }
    l.sync_all().unwrap();
    h
}

fn cursor_seq(p: &Path) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
    v["next_seq"].as_u64()
}

#[test]
fn kill_9_mid_stream_then_restart_delivers_every_record() {
    let n = 20_000u64;
    let batch = 200u64;
    let h = home_with(n);
    h.ok(&["checkpoint"]);
    let total = n + 1; // and the checkpoint's record
    let rotel = Rotel::start();
    let url = format!("http://127.0.0.1:{}", rotel.port);
    let cursor = h.tmp.path().join("otlp.cursor");
    let args = [
        "ship",
        "--otlp",
        &url,
        "--batch",
        &batch.to_string(),
        "--cursor",
        cursor.to_str().unwrap(),
    ];
    let mut child = h.cmd(&args).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cursor_seq(&cursor).is_none_or(|s| s < 2 * batch) {
        assert!(Instant::now() < deadline, "the shipper made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let cut = cursor_seq(&cursor).unwrap();
    assert!(
        cut < total,
        "the shipper finished before the kill; nothing was cut"
    );
    let out = h.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let seen = rotel.seqs(total as usize);
    let missing: Vec<u64> = (0..total).filter(|s| !seen.contains_key(s)).collect();
    assert!(
        missing.is_empty(),
        "{} records never arrived, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Duplicates only at the cut: the batch in flight when the shipper died.
    let dups: Vec<u64> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(s, _)| *s)
        .collect();
    assert!(
        dups.iter().all(|s| *s >= cut && *s < cut + batch),
        "duplicates away from the cut {cut}: {dups:?}"
    );
    assert!(seen.values().all(|c| *c <= 2));
    // The checkpoint went out with its signed note.
    let text_ = std::fs::read_to_string(&rotel.out).unwrap();
    assert!(text_.contains("EventName: patchwork.checkpoint"));
    assert!(text_.contains("patchwork.checkpoint.note"));
    assert!(text_.contains("gen_ai.guardrail.verdict.type"));
}

/// A proxy in front of the receiver that answers 503 (alternating with 429 + Retry-After) to
/// everything for `outage`, then forwards.
/// A proxy to `upstream` that refuses the first `outage` requests (503 and 429 in turn, the 429
/// asking for a one-second pause): the outage is counted, not timed, so a slow start of the
/// shipper cannot let it miss the outage.
fn flaky_proxy(upstream: u16, outage: usize) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let refused = Arc::new(AtomicUsize::new(0));
    let r = refused.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { continue };
            let r = r.clone();
            std::thread::spawn(move || serve_conn(conn, upstream, outage, &r));
        }
    });
    (port, refused)
}

fn read_http(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    head.extend_from_slice(&body);
    Some(head)
}

fn serve_conn(conn: TcpStream, upstream: u16, outage: usize, refused: &AtomicUsize) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = read_http(&mut r) {
        let counted = refused.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < outage).then_some(n + 1)
        });
        if let Ok(n) = counted {
            let answer = if n.is_multiple_of(2) {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
            } else {
                "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n"
            };
            if w.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        (&up).write_all(&req).unwrap();
        let mut ur = BufReader::new(up);
        let Some(resp) = read_http(&mut ur) else {
            return;
        };
        if w.write_all(&resp).is_err() {
            return;
        }
    }
}

#[test]
fn a_receiver_answering_503_for_a_while_loses_nothing() {
    let n = 3_000u64;
    let h = home_with(n);
    let rotel = Rotel::start();
    let (port, refused) = flaky_proxy(rotel.port, 4);
    let url = format!("http://127.0.0.1:{port}");
    let out = h.run(&["ship", "--otlp", &url, "--batch", "500"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        refused.load(Ordering::SeqCst) == 4,
        "the outage was not exercised"
    );
    let seen = rotel.seqs(n as usize);
    assert_eq!(seen.len() as u64, n, "records lost");
    assert!(
        seen.values().all(|c| *c == 1),
        "a refused batch was delivered twice"
    );
}

/// A TLS front for the receiver with the certificate and key in `certs` (`srv.pem`,
/// `srv.key`): each HTTPS request is decrypted and forwarded to the plain receiver.
fn tls_front(upstream: u16, certs: &Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(certs.join("srv.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(certs.join("srv.key")).unwrap();
    // The provider the gateway's client uses (ring; deprecated only for lacking post-quantum).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let tls = rustls::ServerConnection::new(config).unwrap();
                let mut r = BufReader::new(rustls::StreamOwned::new(tls, tcp));
                // A client that does not trust the certificate ends the handshake: read fails.
                while let Some(req) = read_http(&mut r) {
                    let up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                    (&up).write_all(&req).unwrap();
                    let Some(resp) = read_http(&mut BufReader::new(up)) else {
                        return;
                    };
                    let w = r.get_mut();
                    if w.write_all(&resp).and_then(|()| w.flush()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Runs `cmd` to its end, failing the test if it takes longer than a minute.
fn run_bounded(cmd: &mut Command) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the shipper kept running past a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn otlp_over_tls_trusts_the_collectors_ca_only_when_told() {
    let certs = tempfile::tempdir().unwrap();
    crate::mcp_trust_tls::private_ca(certs.path());
    let ca = certs.path().join("ca.pem");
    let n = 300u64;
    let h = home_with(n);
    let rotel = Rotel::start();
    let url = format!("https://localhost:{}", tls_front(rotel.port, certs.path()));
    let cursor = h.tmp.path().join("tls.cursor");
    let ship = |extra: &[&str]| {
        let mut c = h.cmd(&["ship", "--otlp", &url, "--cursor", cursor.to_str().unwrap()]);
        c.args(extra);
        for v in [
            "SSL_CERT_FILE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
        ] {
            c.env_remove(v);
        }
        c
    };

    // Not trusted: the shipper stops at once (no endless retry), names the cause in one line,
    // and the cursor does not move.
    let out = run_bounded(&mut ship(&[]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let cause = err
        .lines()
        .find(|l| l.starts_with("patchwork-gateway:"))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(cause.contains("certificate not trusted"), "{cause}");
    assert!(cause.contains("unknown certificate authority"), "{cause}");
    assert!(cause.contains(&url), "{cause}");
    assert!(!cursor.exists());
    // A CA file that holds no certificate is an error too, not a silent fallback.
    let bogus = certs.path().join("srv.csr");
    let out = run_bounded(ship(&[]).env("OTEL_EXPORTER_OTLP_CERTIFICATE", &bogus));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no PEM certificate"), "{}", text(&out));

    // Trusted through the standard OTLP variable: every record arrives, once.
    let out = run_bounded(ship(&[]).env("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca));
    assert!(out.status.success(), "{}", text(&out));
    let seen = rotel.seqs(n as usize);
    assert_eq!(seen.len() as u64, n, "records lost over TLS");
    assert!(seen.values().all(|c| *c == 1));

    // …and through --ca-cert, which wins over a wrong variable.
    h.append(20);
    let out = run_bounded(
        ship(&["--ca-cert", ca.to_str().unwrap()]).env("OTEL_EXPORTER_OTLP_CERTIFICATE", &bogus),
    );
    assert!(out.status.success(), "{}", text(&out));
    let seen = rotel.seqs(n as usize + 20);
    assert_eq!(seen.len() as u64, n + 20, "records lost over TLS");
    assert!(seen.values().all(|c| *c == 1));
}

#[test]
fn a_400_is_not_retried_and_the_cursor_does_not_move() {
    let h = home_with(5);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let mut w = conn.try_clone().unwrap();
            let mut r = BufReader::new(conn);
            while read_http(&mut r).is_some() {
                let _ = w.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad");
            }
        }
    });
    let cursor = h.tmp.path().join("c");
    let out = h.run(&[
        "ship",
        "--otlp",
        &format!("http://127.0.0.1:{port}"),
        "--cursor",
        cursor.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("400"), "{}", text(&out));
    assert!(!cursor.exists());
}

#[test]
fn file_copy_is_append_only_and_resumes_without_duplicates() {
    let h = home_with(50);
    let copy = h.tmp.path().join("copy.jsonl");
    h.ok(&["ship", "--file", copy.to_str().unwrap()]);
    h.append(10);
    // The shipper's lag is part of the anchoring status of verify --json, doctor and status.
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["verify", "--json"])).unwrap();
    assert_eq!(v["shipping"][0]["behind"], 10, "{v}");
    assert_eq!(v["shipping"][0]["next_seq"], 50, "{v}");
    let doctor = text(&h.run(&["doctor"]));
    assert!(doctor.contains("10 records behind"), "{doctor}");
    assert!(h.ok(&["status"]).contains("10 records behind"));
    // The cursor is lost (or stale): the copy itself says where to resume.
    std::fs::remove_dir_all(h.pw.join("ship")).unwrap();
    h.ok(&["ship", "--file", copy.to_str().unwrap()]);
    let ledger = std::fs::read_to_string(h.ledger_dir().join("ledger.jsonl")).unwrap();
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), ledger);
    // A rewritten ledger is not shipped over what was already sent.
    h.rewrite_deleting(3, true);
    h.append(1);
    let out = h.run(&["ship", "--file", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("does not continue the chain") || text(&out).contains("shorter"),
        "{}",
        text(&out)
    );
}
