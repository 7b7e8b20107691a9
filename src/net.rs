//! The one HTTP(S) client for what the gateway sends out (upstream MCP servers, the alert
//! webhook, OTLP): rustls with the `ring` provider and Mozilla's root certificates, plus the
//! certificates of a private CA from `--ca-cert FILE` or `SSL_CERT_FILE`; and errors that name
//! their cause ("certificate not trusted: …") instead of "error sending request".

use anyhow::{Context, Result, bail};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable naming a PEM file of extra trusted CA certificates.
pub const ENV_CA: &str = "SSL_CERT_FILE";

/// The CA file to trust besides the built-in roots: `ca_cert`, else `SSL_CERT_FILE`.
pub fn ca_file(ca_cert: Option<&Path>) -> Option<PathBuf> {
    ca_cert.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(ENV_CA)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The TLS configuration: built-in roots plus every certificate in the CA file.
pub fn tls_config(ca_cert: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(file) = ca_file(ca_cert) {
        let certs = CertificateDer::pem_file_iter(&file)
            .with_context(|| format!("cannot read the CA file {}", file.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} is not a PEM certificate file", file.display()))?;
        if certs.is_empty() {
            bail!("{} holds no PEM certificate", file.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("{} holds an unusable certificate", file.display()))?;
        }
    }
    // `ring` builds in seconds on 2 cores (aws-lc-rs needs cmake and minutes); rustls marks it
    // deprecated only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client builder with that TLS configuration (add timeouts and the like, then `build`).
pub fn builder(ca_cert: Option<&Path>) -> Result<reqwest::ClientBuilder> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_config(ca_cert)?))
}

/// A client with that TLS configuration and no other settings.
pub fn client(ca_cert: Option<&Path>) -> Result<reqwest::Client> {
    builder(ca_cert)?
        .build()
        .context("cannot set up the HTTP client")
}

/// One line naming why a request failed: the TLS verdict when there is one (with what to do
/// about a private CA), else the error and its causes.
pub fn explain(err: &(dyn std::error::Error + 'static)) -> String {
    if let Some(tls) = tls_cause(err) {
        return tls;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The TLS verdict behind a failed request, when that is why it failed (retrying cannot
/// change it): one line, as [`explain`] gives it.
pub fn tls_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = find_tls(e) {
            return Some(describe_tls(tls));
        }
        next = e.source();
    }
    None
}

/// The rustls error behind `e`, looking inside `io::Error`s (whose `source` skips the
/// error they wrap).
fn find_tls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    find_tls(inner)
}

fn describe_tls(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    const HINT: &str =
        "for a private CA, pass --ca-cert FILE or set SSL_CERT_FILE to its PEM certificate";
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => {
                format!(
                    "certificate not trusted: issued by an unknown certificate authority ({HINT})"
                )
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("certificate not valid for this host name: {c:?}")
            }
            C::Expired | C::ExpiredContext { .. } => format!("certificate expired: {c:?}"),
            C::BadSignature => format!("certificate not trusted: bad signature ({HINT})"),
            other => format!("certificate not trusted: {other:?}"),
        },
        other => format!("TLS handshake failed: {other}"),
    }
}

/// Why a request to `url` fails, or `None` when it gets an HTTP answer (of any status).
pub async fn probe(client: &reqwest::Client, url: &str) -> Option<String> {
    let sent = client
        .get(url)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    sent.err().map(|e| explain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_name_their_cause() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::other(unknown);
        let said = explain(&wrapped);
        assert!(said.starts_with("certificate not trusted:"), "{said}");
        assert!(said.contains("--ca-cert"), "{said}");
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(explain(&plain), "refused");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let err = tls_config(Some(&f)).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        let err = tls_config(Some(&dir.path().join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the CA file"), "{err}");
    }
}
