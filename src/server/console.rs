//! The web console: static files compiled into the binary from
//! `console/dist/` (so `cargo build` needs no Node), served on the gRPC
//! port at `/` by a tower layer in front of gRPC-Web, like `jwks`.
//!
//! - `GET`/`HEAD /` is `index.html`; `GET`/`HEAD /<file>` is that file,
//!   with its Content-Type and an ETag (`If-None-Match` → 304).
//! - Any other `GET`/`HEAD` that is not gRPC is 404 (with `--no-console`,
//!   every one is). Everything else — gRPC and gRPC-Web POSTs, health,
//!   reflection — passes through untouched; the JWKS layer sits in front.
//!
//! The console is same-origin with the API it calls over gRPC-Web, so it
//! needs no CORS, and its responses carry a Content-Security-Policy that
//! allows only its own script, style and connections: no inline script,
//! no third-party origin, no framing. Its files have fixed names
//! (`app.js`, not `app.3f2a.js`), so all are `no-cache`: revalidated by
//! ETag on every load, never stale after an upgrade.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tonic::body::Body;

use super::endpoint::{Answer, Endpoint};

/// The built console, embedded at compile time.
#[derive(rust_embed::RustEmbed)]
#[folder = "console/dist/"]
struct Assets;

/// The console's Content-Security-Policy: its own files only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The names of the embedded files (`index.html`, `app.js`, …).
pub fn files() -> impl Iterator<Item = String> {
    Assets::iter().map(|name| name.into_owned())
}

/// Answers the console's paths before gRPC-Web and gRPC.
#[derive(Clone, Copy, Debug)]
pub struct Console {
    /// False with `--no-console`: plain GETs are all 404.
    enabled: bool,
}

impl Console {
    /// Serves the embedded console when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }
}

/// A GET or HEAD that is not gRPC (gRPC never uses them; a gRPC-Web GET
/// is left to tonic-web, which refuses it).
fn is_page_request<B>(request: &http::Request<B>) -> bool {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    !request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

impl Endpoint for Console {
    fn answer(&self, request: &http::Request<Body>) -> Option<Answer> {
        if !is_page_request(request) {
            return None;
        }
        let head = request.method() == Method::HEAD;
        let response = if self.enabled {
            answer(request.uri().path(), request.headers(), head)
        } else {
            not_found(head)
        };
        Some(Box::pin(std::future::ready(response)))
    }
}

/// The embedded file a path names, if any.
fn lookup(path: &str) -> Option<(&str, rust_embed::EmbeddedFile)> {
    let name = match path {
        "/" => "index.html",
        _ => path.strip_prefix('/')?,
    };
    Assets::get(name).map(|file| (name, file))
}

/// The response to a page request with the console on.
fn answer(path: &str, headers: &HeaderMap, head: bool) -> http::Response<Body> {
    let Some((name, file)) = lookup(path) else {
        return not_found(head);
    };
    let etag = etag(&file.metadata.sha256_hash());
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag);
    let length = file.data.len();
    let mut response = if unchanged {
        let mut response = http::Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else if head {
        http::Response::new(Body::empty())
    } else {
        let data = match file.data {
            std::borrow::Cow::Borrowed(data) => Bytes::from_static(data),
            std::borrow::Cow::Owned(data) => Bytes::from(data),
        };
        http::Response::new(Body::new(http_body_util::Full::new(data)))
    };
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if !unchanged {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(name)),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

/// A strong ETag from the file's SHA-256 (its first 128 bits).
fn etag(hash: &[u8; 32]) -> String {
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// 404 for a plain GET that names nothing here.
fn not_found(head: bool) -> http::Response<Body> {
    const BODY: &str = "not found\n";
    let mut response = http::Response::new(if head {
        Body::empty()
    } else {
        Body::new(BODY.to_owned())
    });
    *response.status_mut() = StatusCode::NOT_FOUND;
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(BODY.len()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The headers every console response carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The Content-Type of a console file, by extension (`nosniff` makes
/// browsers trust it, so an unknown type is opaque bytes).
fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, e)| e);
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    #[test]
    fn paths() {
        assert_eq!(lookup("/").map(|(n, _)| n), Some("index.html"));
        assert_eq!(lookup("/index.html").map(|(n, _)| n), Some("index.html"));
        assert!(lookup("/nope.js").is_none());
        assert!(lookup("/../Cargo.toml").is_none());
        assert!(lookup("/pulse.v1.AuthService/WhoAmI").is_none());
    }

    #[test]
    fn page_requests() {
        let get = |ct: Option<&str>| {
            let mut b = http::Request::get("/");
            if let Some(ct) = ct {
                b = b.header(header::CONTENT_TYPE, ct);
            }
            is_page_request(&b.body(()).unwrap())
        };
        assert!(get(None));
        assert!(!get(Some("application/grpc-web+proto")));
        let post = http::Request::post("/").body(()).unwrap();
        assert!(!is_page_request(&post));
    }
}
