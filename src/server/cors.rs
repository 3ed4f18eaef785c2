//! CORS for browsers calling the API from another origin over gRPC-Web
//! (`--cors-allow-origin`). Off by default: the console served at `/` is
//! same-origin and needs none, and without CORS no other site's page can
//! read our answers.
//!
//! When origins are given, tower-http's `CorsLayer` sits in front of
//! everything: it answers preflights itself (they never reach gRPC or the
//! auth layer, since they carry no credential) and adds the CORS headers to
//! responses for those exact origins only. No cookies are involved
//! (credentials travel in headers the page sets), so
//! `Access-Control-Allow-Credentials` is never sent.

use crate::domain::origin::Origin;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::layer::{PUBLISHABLE_KEY_HEADER, REQUEST_ID_HEADER};

/// Request headers a gRPC-Web client sends: its protocol's, and the
/// metadata the auth layer reads (`authorization`, the publishable key,
/// an admin's request id).
const ALLOWED_HEADERS: &[&str] = &[
    "content-type",
    "authorization",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    PUBLISHABLE_KEY_HEADER,
    REQUEST_ID_HEADER,
];

/// Response headers the page may read: the call's status (in headers for
/// a trailers-only answer) and the audit request id.
const EXPOSED_HEADERS: &[&str] = &[
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    REQUEST_ID_HEADER,
];

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for `origins` (parsed with the settings), or `None`
/// when there are none.
pub fn layer(origins: &[Origin]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin.as_str())
                .map_err(|e| anyhow::anyhow!("--cors-allow-origin {origin:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names = |names: &'static [&'static str]| -> Vec<HeaderName> {
        names.iter().map(|n| HeaderName::from_static(n)).collect()
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(names(ALLOWED_HEADERS))
            .expose_headers(names(EXPOSED_HEADERS))
            .max_age(PREFLIGHT_MAX_AGE),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_origins_and_refuses_bad_ones() {
        assert!(layer(&[]).unwrap().is_none());
        let origin: Origin = "http://console.example".parse().unwrap();
        assert!(layer(&[origin]).unwrap().is_some());
        // A bad origin cannot reach the layer: the settings refuse it.
        assert!("http://console.example/".parse::<Origin>().is_err());
    }
}
