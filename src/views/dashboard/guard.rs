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
    /// The cookie's name (per port: cookies are shared across ports of one host).
    pub cookie_name: String,
    /// `Host` values that name this server.
    hosts: [String; 2],
    /// `Origin` values of this server's own pages.
    origins: [String; 2],
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
            hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            origins: [
                format!("http://127.0.0.1:{port}"),
                format!("http://localhost:{port}"),
            ],
        })
    }

    /// The URL to print: the overview, carrying the token.
    pub fn login_url(&self) -> String {
        format!("http://{}/?token={}", self.hosts[0], self.token)
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)))
    }

    /// No `Origin`, or one of ours; and a browser's `Sec-Fetch-Site`, when sent, is not
    /// another site.
    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let origin_ok = headers.get(header::ORIGIN).is_none_or(|o| {
            o.to_str()
                .is_ok_and(|o| self.origins.iter().any(|ok| ok.eq_ignore_ascii_case(o)))
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
            "This dashboard answers only to http://127.0.0.1 or http://localhost on its own port \
             (the Host header named another host).",
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
