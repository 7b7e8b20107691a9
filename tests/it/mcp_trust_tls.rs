//! An HTTPS upstream whose certificate a private CA signed (made here with the openssl CLI):
//! `wrap --url https://…` works with `--ca-cert` (or `SSL_CERT_FILE`) and fails without, with a
//! one-line cause.

use crate::mcp_trust_common::{Mcp, Place, malicious_http};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a server certificate for localhost and 127.0.0.1 (`srv.pem`, `srv.key`).
pub fn private_ca(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=patchwork test CA",
    ];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=localhost"];
    csr.extend(ec);
    csr.extend(["-keyout", "srv.key", "-out", "srv.csr"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "srv.pem",
        ],
    );
}

/// The malicious server over HTTPS; returns it and its URL.
fn https_upstream(place: &Place, certs: &Path) -> (Child, String) {
    let (server, port) = malicious_http(
        &place.state(),
        &[
            "--tls".as_ref(),
            certs.join("srv.pem").as_os_str(),
            certs.join("srv.key").as_os_str(),
        ],
    );
    (server, format!("https://localhost:{port}/mcp"))
}

#[test]
fn https_upstream_with_a_private_ca() {
    let place = Place::new();
    let certs = tempfile::tempdir().unwrap();
    private_ca(certs.path());
    let (mut server, url) = https_upstream(&place, certs.path());
    let ca = certs.path().join("ca.pem");

    // Trusted through --ca-cert: the upstream's tools are listed.
    let mut cmd = place.cmd(&[
        "--policy", "standard", "wrap", "--name", "mal", "--url", &url,
    ]);
    cmd.args(["--ca-cert", ca.to_str().unwrap()])
        .env_remove("SSL_CERT_FILE");
    let mut mcp = Mcp::start(cmd);
    assert!(mcp.tool_names().contains(&"add".to_string()));
    drop(mcp);

    // …and through SSL_CERT_FILE.
    let mut cmd = place.cmd(&[
        "--policy", "standard", "wrap", "--name", "mal", "--url", &url,
    ]);
    cmd.env("SSL_CERT_FILE", &ca);
    let mut mcp = Mcp::start(cmd);
    assert!(mcp.tool_names().contains(&"add".to_string()));
    drop(mcp);

    // Not trusted without it: the session fails and stderr names the cause in one line.
    let mut gw = place
        .cmd(&[
            "--policy", "standard", "wrap", "--name", "mal", "--url", &url,
        ])
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = gw.stdin.take().unwrap();
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "tls-test", "version": "1"}}})
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = BufReader::new(gw.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut said = Vec::new();
    let cause = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("certificate not trusted") => break line,
            Ok(line) => said.push(line),
            Err(_) => panic!("no TLS cause on stderr within 30 s: {said:#?}"),
        }
    };
    assert!(cause.contains(&url), "{cause}");
    assert!(cause.contains("unknown certificate authority"), "{cause}");
    assert!(cause.contains("--ca-cert"), "{cause}");
    drop(stdin);
    let _ = gw.kill();
    let _ = gw.wait();
    let _ = server.kill();
    let _ = server.wait();
}
