//! What every request passes before it reaches a page: the Host and Origin checks against DNS
//! rebinding and cross-site requests (403), GET only (405), the token-for-cookie exchange and
//! the cookie check (401), and the security headers on every answer (a strict CSP, no framing,
//! no referrer, no caching).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The secrets and the address one dashboard process accepts.
#[derive(Debug)]
pub struct Access {
    /// The one-time-printed token carried by the URL.
    token: String,
    /// The cookie value a browser gets in exchange for the token.
    cookie_value: String,
    /// The cookie's name (per port or socket: cookies are shared across ports of one host).
    pub cookie_name: String,
    place: Place,
}

/// Where the dashboard listens, which decides the `Host` and `Origin` it accepts.
#[derive(Debug)]
enum Place {
    /// 127.0.0.1:PORT: `Host` must name it exactly, `Origin` be one of its two spellings.
    Port {
        hosts: [String; 2],
        origins: [String; 2],
    },
    /// A Unix socket, reached by `curl --unix-socket` or by a browser through a local proxy
    /// (`ssh -L 8080:SOCKET`, `socat`) whose port the server cannot know: `Host` must be a
    /// loopback name (`localhost`, `127.0.0.1`, `[::1]`) with any port, and `Origin`, when
    /// sent, that same host and port. A DNS-rebinding page still names its own host; a public
    /// reverse proxy (a `Host` that is not loopback) is refused.
    Socket,
}
/// Content-Security-Policy of every answer: only this server's own scripts, styles, images
/// and event stream; no inline script or style, no frames, forms only to this server.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

impl Access {
    /// Fresh random secrets for a server on 127.0.0.1:`port`.
    pub fn new(port: u16) -> anyhow::Result<Access> {
        Ok(Access {
            token: random_hex()?,
            cookie_value: random_hex()?,
            cookie_name: format!("patchwork_dashboard_{port}"),
            place: Place::Port {
                hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
                origins: [
                    format!("http://127.0.0.1:{port}"),
                    format!("http://localhost:{port}"),
                ],
            },
        })
    }

    /// Fresh random secrets for a server on the Unix socket `path` (the cookie's name is
    /// derived from the path, so a restarted dashboard replaces its old cookie).
    pub fn for_socket(path: &std::path::Path) -> anyhow::Result<Access> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
        Ok(Access {
            token: random_hex()?,
            cookie_value: random_hex()?,
            cookie_name: format!("patchwork_dashboard_s{}", &hex::encode(digest)[..12]),
            place: Place::Socket,
        })
    }

    /// The URL to print: the overview, carrying the token (for a socket, as `curl
    /// --unix-socket` takes it; through a proxy, with the proxy's port).
    pub fn login_url(&self) -> String {
        let host = match &self.place {
            Place::Port { hosts, .. } => hosts[0].as_str(),
            Place::Socket => "localhost",
        };
        format!("http://{host}/?token={}", self.token)
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        let Some(h) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        match &self.place {
            Place::Port { hosts, .. } => hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)),
            Place::Socket => loopback_host(h),
        }
    }

    /// No `Origin`, or one of ours; and a browser's `Sec-Fetch-Site`, when sent, is not
    /// another site.
    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_ok = headers.get(header::ORIGIN).is_none_or(|o| {
            o.to_str().is_ok_and(|o| match &self.place {
                Place::Port { origins, .. } => origins.iter().any(|ok| ok.eq_ignore_ascii_case(o)),
                Place::Socket => {
                    loopback_host(host)
                        && ["http://", "https://"].iter().any(|scheme| {
                            o.len() == scheme.len() + host.len()
                                && o[..scheme.len()].eq_ignore_ascii_case(scheme)
                                && o[scheme.len()..].eq_ignore_ascii_case(host)
                        })
                }
            })
        });
        let site_ok = headers
            .get("sec-fetch-site")
            .is_none_or(|s| matches!(s.as_bytes(), b"same-origin" | b"none"));
        origin_ok && site_ok
    }

    fn has_cookie(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == self.cookie_name && same(v.as_bytes(), self.cookie_value.as_bytes()))
    }

    fn token_in(&self, uri: &Uri) -> bool {
        uri.query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k == "token" && same(v.as_bytes(), self.token.as_bytes()))
        })
    }

    fn set_cookie(&self) -> String {
        format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie_name, self.cookie_value
        )
    }
}

/// The middleware: checks in the order 403 (Host, Origin), 405 (method), 401 (cookie or token).
pub async fn check(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let mut resp = decide(&access, req, next).await;
    secure_headers(resp.headers_mut());
    resp
}

async fn decide(access: &Access, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !access.host_ok(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This dashboard answers only to its own loopback address: http://127.0.0.1 or \
             http://localhost on its own port, or a loopback name through a local proxy to its \
             socket (the Host header named another host).",
        );
    }
    if !access.origin_ok(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Requests from other sites are refused (Origin or Sec-Fetch-Site named another site).",
        );
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "The dashboard is read-only: only GET is accepted.",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if access.token_in(req.uri()) {
        return exchange(access, req.uri());
    }
    if !access.has_cookie(headers) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Not signed in: open the URL that `patchwork-gateway dashboard` printed (it carries \
             a one-session token).",
        );
    }
    next.run(req).await
}

/// Answers a request carrying the token: sets the cookie and redirects to the same address
/// without the token, so it leaves the address bar and the history.
fn exchange(access: &Access, uri: &Uri) -> Response {
    let rest: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k != "token")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut location = uri.path().to_string();
    if !rest.is_empty() {
        location.push('?');
        location.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish(),
        );
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&access.set_cookie()) {
        h.insert(header::SET_COOKIE, v);
    }
    r
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "{} {}\n{why}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
    )
        .into_response()
}

/// Sets the security headers; a page that brings its own (stricter, hash-based) CSP keeps it.
fn secure_headers(h: &mut HeaderMap) {
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    let set = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (k, v) in set {
        h.insert(k, HeaderValue::from_static(v));
    }
}

/// `localhost`, `127.0.0.1` or `[::1]`, with an optional port (a `Host` value).
fn loopback_host(h: &str) -> bool {
    let (name, port) = match (h.starts_with('['), h.find(']'), h.find(':')) {
        (true, Some(end), _) => h.split_at(end + 1),
        (true, None, _) => return false,
        (false, _, Some(colon)) => h.split_at(colon),
        (false, _, None) => (h, ""),
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            (1..=5).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n > 0)
        });
    port_ok
        && ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .any(|ok| ok.eq_ignore_ascii_case(name))
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes from the operating system, hex-encoded.
fn random_hex() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness for the token: {e}"))?;
    Ok(hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins_are_exact() {
        let a = Access::new(4242).unwrap();
        let h = |k: header::HeaderName, v: &str| {
            let mut m = HeaderMap::new();
            m.insert(k, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(a.host_ok(&h(header::HOST, "127.0.0.1:4242")));
        assert!(a.host_ok(&h(header::HOST, "LOCALHOST:4242")));
        for bad in [
            "127.0.0.1",
            "127.0.0.1:4243",
            "evil.example:4242",
            "127.0.0.1.evil.example:4242",
            "localhost:4242.evil",
        ] {
            assert!(!a.host_ok(&h(header::HOST, bad)), "{bad}");
        }
        assert!(!a.host_ok(&HeaderMap::new()));
        assert!(a.origin_ok(&HeaderMap::new()));
        assert!(a.origin_ok(&h(header::ORIGIN, "http://127.0.0.1:4242")));
        for bad in ["null", "http://127.0.0.1:4243", "https://127.0.0.1:4242"] {
            assert!(!a.origin_ok(&h(header::ORIGIN, bad)), "{bad}");
        }
        let cross = h(
            header::HeaderName::from_static("sec-fetch-site"),
            "cross-site",
        );
        assert!(!a.origin_ok(&cross));
    }

    #[test]
    fn a_socket_takes_loopback_names_on_any_port_and_its_own_origin() {
        let a = Access::for_socket(std::path::Path::new("/run/user/1/d.sock")).unwrap();
        let b = Access::for_socket(std::path::Path::new("/run/user/1/e.sock")).unwrap();
        assert_ne!(a.cookie_name, b.cookie_name, "one cookie per socket");
        assert!(a.login_url().starts_with("http://localhost/?token="));
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            m
        };
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:65535",
            "LocalHost",
        ] {
            assert!(a.host_ok(&h(&[("host", ok)])), "{ok}");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example:8080",
            "localhost.:8080",
            "127.0.0.2:8080",
            "localhost:",
            "localhost:0",
            "localhost:65536",
            "localhost:+80",
            "[::1",
            "[::1]x",
            "localhost:80:80",
        ] {
            assert!(!a.host_ok(&h(&[("host", bad)])), "{bad}");
        }
        assert!(!a.host_ok(&HeaderMap::new()));
        let host = ("host", "localhost:8080");
        assert!(a.origin_ok(&h(&[host])));
        assert!(a.origin_ok(&h(&[host, ("origin", "http://localhost:8080")])));
        assert!(a.origin_ok(&h(&[host, ("origin", "https://localhost:8080")])));
        for bad in [
            "http://localhost:8081",
            "http://127.0.0.1:8080",
            "http://evil.example",
            "null",
            "http://localhost:8080/",
        ] {
            assert!(!a.origin_ok(&h(&[host, ("origin", bad)])), "{bad}");
        }
        assert!(!a.origin_ok(&h(&[host, ("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn tokens_and_cookies_must_match_whole() {
        let a = Access::new(1).unwrap();
        assert_ne!(a.token, a.cookie_value);
        let good: Uri = format!("/?x=1&token={}", a.token).parse().unwrap();
        assert!(a.token_in(&good));
        let short: Uri = format!("/?token={}", &a.token[..63]).parse().unwrap();
        assert!(!a.token_in(&short));
        let mut m = HeaderMap::new();
        m.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {}={}", a.cookie_name, a.cookie_value))
                .unwrap(),
        );
        assert!(a.has_cookie(&m));
        m.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{}={}", a.cookie_name, a.token)).unwrap(),
        );
        assert!(!a.has_cookie(&m));
    }
}
