//! The environments' signing keys as a standard JWKS (RFC 7517) over plain
//! HTTP, so any JWT library verifies user tokens offline:
//!
//! - `GET /v1/environments/{environment_id}/jwks.json`
//! - `GET /.well-known/jwks.json?publishable_key=pk_…` (the same set, for
//!   a frontend configuration that knows only its publishable key)
//!
//! Served on the gRPC port (the server accepts HTTP/1.1 as well as HTTP/2)
//! by a tower layer in front of the gRPC router: these paths never reach
//! gRPC, the database gate or the auth layer (public keys are public).
//! The set holds the STANDBY, ACTIVE and RETIRING keys; `Cache-Control:
//! max-age` is the standby period, so a verifier that cached the set
//! before a rotation re-fetches it before the new key signs.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Method, StatusCode, header};
use tonic::body::Body;

use super::endpoint::{Answer, Endpoint};

use crate::auth::KeyIndex;
use crate::auth::tokens::TokenService;
use crate::domain::credential::{self, CredentialKind};
use crate::domain::ids::EnvironmentId;
use crate::error::Error;

/// Answers the JWKS paths before the gRPC router.
#[derive(Clone, Debug)]
pub struct JwksEndpoint {
    jwks: Arc<Jwks>,
}

/// What the JWKS answers come from.
#[derive(Debug)]
struct Jwks {
    tokens: Arc<TokenService>,
    index: Arc<KeyIndex>,
    /// `Cache-Control: public, max-age=…`.
    cache_control: HeaderValue,
}

impl JwksEndpoint {
    /// Serves the keys of `tokens`, cacheable for `max_age` seconds;
    /// publishable keys are resolved through `index`.
    pub fn new(tokens: Arc<TokenService>, index: Arc<KeyIndex>, max_age: u64) -> Self {
        let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))
            .expect("a number is a valid header value");
        Self {
            jwks: Arc::new(Jwks {
                tokens,
                index,
                cache_control,
            }),
        }
    }
}

/// Which key set a path asks for.
enum Wanted {
    Environment(String),
    Publishable(String),
}

/// The JWKS request a path makes, if it is one.
fn wanted(uri: &http::Uri) -> Option<Wanted> {
    let path = uri.path();
    if path == "/.well-known/jwks.json" {
        let key = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix("publishable_key="))
            .unwrap_or_default();
        return Some(Wanted::Publishable(key.to_owned()));
    }
    let id = path
        .strip_prefix("/v1/environments/")?
        .strip_suffix("/jwks.json")?;
    (!id.contains('/')).then(|| Wanted::Environment(id.to_owned()))
}

impl Endpoint for JwksEndpoint {
    fn answer(&self, request: &http::Request<Body>) -> Option<Answer> {
        let wanted = wanted(request.uri())?;
        let jwks = self.jwks.clone();
        let method = request.method().clone();
        Some(Box::pin(async move { jwks.answer(&method, wanted).await }))
    }
}

impl Jwks {
    async fn answer(&self, method: &Method, wanted: Wanted) -> http::Response<Body> {
        if method != Method::GET && method != Method::HEAD {
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let environment = match wanted {
            Wanted::Environment(id) => EnvironmentId::parse("environment_id", &id).ok(),
            Wanted::Publishable(key) => self.environment_of(&key).await,
        };
        let Some(environment) = environment else {
            return error(StatusCode::NOT_FOUND, "no such environment");
        };
        let keys = match self.tokens.published(&environment).await {
            Ok(Some(keys)) => keys,
            Ok(None) => return error(StatusCode::NOT_FOUND, "no such environment"),
            Err(Error::Unavailable(_)) => {
                return error(StatusCode::SERVICE_UNAVAILABLE, "retry later");
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read signing keys for the JWKS");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        let keys: Vec<serde_json::Value> = keys
            .iter()
            .map(|key| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "use": "sig",
                    "alg": "EdDSA",
                    "kid": key.kid,
                    "x": URL_SAFE_NO_PAD.encode(&key.public_key),
                })
            })
            .collect();
        let body = serde_json::json!({ "keys": keys }).to_string();
        let mut response = json(StatusCode::OK, body, method == Method::HEAD);
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, self.cache_control.clone());
        response
    }

    /// The environment of a working publishable key.
    async fn environment_of(&self, key: &str) -> Option<EnvironmentId> {
        let parsed = credential::parse(key)?;
        if parsed.kind != CredentialKind::Publishable {
            return None;
        }
        let resolved = self.index.resolve(&parsed).await.ok()??;
        let now = crate::domain::time::now_micros();
        if self.index.is_dead(&resolved.id) || resolved.revoke_at.is_some_and(|t| t <= now) {
            return None;
        }
        let environment = resolved.environment_id.as_deref()?;
        Some(EnvironmentId::from_stored(environment))
    }
}

/// A JSON response (no body for HEAD, same headers).
fn json(status: StatusCode, body: String, head: bool) -> http::Response<Body> {
    let length = body.len();
    let mut response = http::Response::new(if head { Body::empty() } else { Body::new(body) });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// A small JSON error, never cached.
fn error(status: StatusCode, message: &str) -> http::Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = json(status, body, false);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Option<String> {
        match wanted(&uri.parse().unwrap())? {
            Wanted::Environment(id) => Some(format!("env:{id}")),
            Wanted::Publishable(key) => Some(format!("pk:{key}")),
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse("/v1/environments/env_1/jwks.json").as_deref(),
            Some("env:env_1")
        );
        assert_eq!(
            parse("/.well-known/jwks.json?publishable_key=pk_x").as_deref(),
            Some("pk:pk_x")
        );
        assert_eq!(parse("/.well-known/jwks.json").as_deref(), Some("pk:"));
        assert_eq!(parse("/v1/environments/a/b/jwks.json"), None);
        assert_eq!(parse("/pulse.v1.AuthService/WhoAmI"), None);
    }
}
