//! Signing keys: rotation (standby → active → retiring), revocation (on
//! every replica before the call returns) and the JWKS over HTTP, checked
//! with the `jsonwebtoken` crate's stock JWK types.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pulse::pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Code, Status};

use crate::both_backends;
use crate::helpers::{
    Backend, Client, TestApp, assert_code, eventually, fresh_database, spawn_app, spawn_app_on,
    spawn_app_with,
};
use crate::helpers::{Env, environment};

/// An HTTP/1.1 response: status, headers (lowercase names), body.
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn jwks(&self) -> JwkSet {
        assert_eq!(self.status, 200, "{}", self.body);
        serde_json::from_str(&self.body).expect("a JWK set")
    }
}

/// One HTTP/1.1 request on a fresh connection, written by hand.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn jwks(app: &TestApp, environment_id: &str) -> HttpResponse {
    http(
        app.addr,
        "GET",
        &format!("/v1/environments/{environment_id}/jwks.json"),
    )
    .await
}

/// Verifies `token` with the JWKS as any service would: the key its `kid`
/// names, `alg: EdDSA`, issuer `pulse`. Returns the `kid`.
fn verify_with(set: &JwkSet, token: &str) -> Result<String, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("{kid} not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["pulse"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map_err(|e| e.to_string())?;
    Ok(kid)
}

fn kids(set: &JwkSet) -> Vec<String> {
    let mut kids: Vec<String> = set
        .keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect();
    kids.sort();
    kids
}

fn sorted(mut kids: Vec<String>) -> Vec<String> {
    kids.sort();
    kids
}

/// The signing-key RPCs (admin).
trait SigningKeys {
    async fn rotate_signing_key(&self, env: &str) -> Result<pb::RotateSigningKeyResponse, Status>;
    async fn revoke_signing_key(
        &self,
        env: &str,
        kid: &str,
    ) -> Result<pb::RevokeSigningKeyResponse, Status>;
}

impl SigningKeys for Client {
    async fn rotate_signing_key(&self, env: &str) -> Result<pb::RotateSigningKeyResponse, Status> {
        self.environments_client()
            .rotate_signing_key(self.request(pb::RotateSigningKeyRequest {
                environment_id: env.into(),
            }))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn revoke_signing_key(
        &self,
        env: &str,
        kid: &str,
    ) -> Result<pb::RevokeSigningKeyResponse, Status> {
        self.environments_client()
            .revoke_signing_key(self.request(pb::RevokeSigningKeyRequest {
                environment_id: env.into(),
                kid: kid.into(),
            }))
            .await
            .map(tonic::Response::into_inner)
    }
}

async fn mint(app: &TestApp, env: &Env, user: &str) -> String {
    app.as_secret(&env.sk)
        .mint_user_token(user)
        .await
        .unwrap()
        .token
}

/// kid → state name, from `ListSigningKeys`.
async fn listed(app: &TestApp, env: &Env) -> Vec<(String, pb::SigningKeyState)> {
    let mut keys: Vec<_> = app
        .as_frontend(&env.pk, None)
        .list_signing_keys()
        .await
        .unwrap()
        .keys
        .into_iter()
        .map(|k| {
            (
                k.kid,
                pb::SigningKeyState::try_from(k.state).expect("a known state"),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn state_of(keys: &[(String, pb::SigningKeyState)], kid: &str) -> pb::SigningKeyState {
    keys.iter()
        .find(|(k, _)| k == kid)
        .unwrap_or_else(|| panic!("{kid} not listed in {keys:?}"))
        .1
}

/// A stock JWT library verifies our tokens with the JWKS before and after
/// a rotation; a revoked key's tokens are refused by the server and its
/// key leaves the JWKS; every step is audited.
async fn jwks_verifies_tokens_across_rotation_and_revocation(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.jwks_max_age = 1).await;
    let admin = app.as_admin();
    let env = environment(&app, "Production").await;

    // Before any rotation: one key, which verifies a minted token.
    let t1 = mint(&app, &env, "alice").await;
    let response = jwks(&app, &env.id).await;
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("public, max-age=1"));
    let set = response.jwks();
    assert_eq!(set.keys.len(), 1);
    let jwk = &set.keys[0];
    let raw: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(raw["keys"][0]["kty"], "OKP");
    assert_eq!(raw["keys"][0]["crv"], "Ed25519");
    assert_eq!(raw["keys"][0]["use"], "sig");
    assert_eq!(raw["keys"][0]["alg"], "EdDSA");
    let k1 = verify_with(&set, &t1).unwrap();
    assert_eq!(jwk.common.key_id.as_deref(), Some(k1.as_str()));
    assert_eq!(
        listed(&app, &env).await,
        [(k1.clone(), pb::SigningKeyState::Active)]
    );

    // Rotate: the new key is published at once, standby, signing nothing.
    let rotated = admin.rotate_signing_key(&env.id).await.unwrap();
    let k2 = rotated.kid.clone();
    assert_eq!(rotated.previous_kid, k1);
    assert_ne!(k2, k1);
    assert_eq!(
        kids(&jwks(&app, &env.id).await.jwks()),
        sorted(vec![k1.clone(), k2.clone()])
    );
    let keys = listed(&app, &env).await;
    assert_eq!(state_of(&keys, &k1), pb::SigningKeyState::Active);
    assert_eq!(state_of(&keys, &k2), pb::SigningKeyState::Standby);
    let again = assert_code(
        admin.rotate_signing_key(&env.id).await,
        Code::FailedPrecondition,
    );
    assert!(again.message().contains("standby"), "{}", again.message());
    let during = mint(&app, &env, "bob").await;
    assert_eq!(
        verify_with(&jwks(&app, &env.id).await.jwks(), &during).unwrap(),
        k1
    );

    // After the standby period (the JWKS max-age) the new key signs; the
    // old one is retiring: its tokens still verify, here and offline.
    // (`max-age=1`: a second after the rotation, which tokens show.)
    let t2 = eventually(Duration::from_secs(5), "the new key signs", || async {
        let token = mint(&app, &env, "carol").await;
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        (kid == k2).then_some(token)
    })
    .await;
    let set = jwks(&app, &env.id).await.jwks();
    assert_eq!(kids(&set), sorted(vec![k1.clone(), k2.clone()]));
    assert_eq!(verify_with(&set, &t2).unwrap(), k2);
    assert_eq!(verify_with(&set, &t1).unwrap(), k1);
    let keys = listed(&app, &env).await;
    assert_eq!(state_of(&keys, &k1), pb::SigningKeyState::Retiring);
    assert_eq!(state_of(&keys, &k2), pb::SigningKeyState::Active);
    // Twice each: the second call is served from remembered decisions.
    for token in [&t1, &t2, &t1, &t2] {
        app.as_frontend(&env.pk, Some(token))
            .whoami()
            .await
            .unwrap();
    }

    // Revoke the active key: its tokens die at once, a replacement signs.
    let revoked = admin.revoke_signing_key(&env.id, &k2).await.unwrap();
    assert_eq!(revoked.kid, k2);
    assert!(revoked.revoke_time.is_some());
    let k3 = revoked.replacement_kid.clone();
    assert!(k3.starts_with("sig_"), "{k3}");
    assert_code(
        app.as_frontend(&env.pk, Some(&t2)).whoami().await,
        Code::Unauthenticated,
    );
    app.as_frontend(&env.pk, Some(&t1)).whoami().await.unwrap();
    let set = jwks(&app, &env.id).await.jwks();
    assert_eq!(kids(&set), sorted(vec![k1.clone(), k3.clone()]));
    assert!(verify_with(&set, &t2).is_err(), "the revoked kid is gone");
    let t3 = mint(&app, &env, "dave").await;
    assert_eq!(verify_with(&set, &t3).unwrap(), k3);
    app.as_frontend(&env.pk, Some(&t3)).whoami().await.unwrap();
    let keys = listed(&app, &env).await;
    assert_eq!(state_of(&keys, &k2), pb::SigningKeyState::Revoked);
    assert_eq!(state_of(&keys, &k3), pb::SigningKeyState::Active);

    // Idempotent: the same key, no second replacement.
    let twice = admin.revoke_signing_key(&env.id, &k2).await.unwrap();
    assert_eq!(twice.kid, k2);
    assert_eq!(twice.revoke_time, revoked.revoke_time);
    assert!(twice.replacement_kid.is_empty());

    // Revoking a retiring key: its tokens die too, nothing replaces it.
    let retired = admin.revoke_signing_key(&env.id, &k1).await.unwrap();
    assert!(retired.replacement_kid.is_empty());
    assert_code(
        app.as_frontend(&env.pk, Some(&t1)).whoami().await,
        Code::Unauthenticated,
    );
    assert_eq!(kids(&jwks(&app, &env.id).await.jwks()), vec![k3.clone()]);

    // The audit log.
    let events = |kind: &'static str| {
        let admin = admin.clone();
        let env = env.id.clone();
        async move {
            admin
                .list_audit_events(pb::ListAuditEventsRequest {
                    environment_id: env,
                    r#type: kind.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .events
        }
    };
    let rotations = events("signing_key.rotated").await;
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].target_id, k2);
    assert_eq!(rotations[0].details.get("previous_kid"), Some(&k1));
    let revocations = events("signing_key.revoked").await;
    let mut targets: Vec<_> = revocations.iter().map(|e| e.target_id.clone()).collect();
    targets.sort();
    assert_eq!(targets, sorted(vec![k1.clone(), k2.clone()]));
    let of_k2 = revocations.iter().find(|e| e.target_id == k2).unwrap();
    assert_eq!(of_k2.details.get("replacement_kid"), Some(&k3));
}

/// The JWKS endpoint's HTTP behavior: 404 for unknown environments, 405
/// for other methods, HEAD, the publishable-key form, the default max-age.
async fn jwks_http_contract(backend: Backend) {
    let app = spawn_app(backend).await;
    let env = environment(&app, "Production").await;
    let response = jwks(&app, &env.id).await;
    let set = response.jwks();
    let max_age: u64 = response
        .header("cache-control")
        .and_then(|v| v.strip_prefix("public, max-age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age <= 300, "{max_age}");

    for path in [
        "/v1/environments/env_doesnotexist0000000000/jwks.json".to_owned(),
        "/v1/environments/not-an-id/jwks.json".to_owned(),
        "/.well-known/jwks.json?publishable_key=pk_nope".to_owned(),
        "/.well-known/jwks.json".to_owned(),
        format!("/.well-known/jwks.json?publishable_key={}", env.sk),
    ] {
        let response = http(app.addr, "GET", &path).await;
        assert_eq!(response.status, 404, "{path}: {}", response.body);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }

    let path = format!("/v1/environments/{}/jwks.json", env.id);
    let post = http(app.addr, "POST", &path).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = http(app.addr, "HEAD", &path).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let by_pk = http(
        app.addr,
        "GET",
        &format!("/.well-known/jwks.json?publishable_key={}", env.pk),
    )
    .await
    .jwks();
    assert_eq!(kids(&by_pk), kids(&set));

    // A deleted environment's JWKS is gone.
    app.as_admin()
        .environments_client()
        .delete_environment(
            app.as_admin()
                .request(pb::DeleteEnvironmentRequest { id: env.id.clone() }),
        )
        .await
        .unwrap();
    assert_eq!(jwks(&app, &env.id).await.status, 404);

    // gRPC is still served on the same port (HTTP/2).
    let staging = environment(&app, "Staging").await;
    app.as_secret(&staging.sk).whoami().await.unwrap();
}

/// Signing keys of other environments and accounts are NOT_FOUND.
async fn signing_keys_of_others_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let prod = environment(&app, "Production").await;
    let staging = environment(&app, "Staging").await;
    let staging_kid = verify_kid(&app, &staging).await;
    assert_code(
        admin.revoke_signing_key(&prod.id, &staging_kid).await,
        Code::NotFound,
    );
    assert_code(
        admin
            .revoke_signing_key(&prod.id, "sig_doesnotexist0000000000")
            .await,
        Code::NotFound,
    );
    let other = app.create_account("other", "test").await;
    let other = app.as_admin_token(&other);
    assert_code(other.rotate_signing_key(&prod.id).await, Code::NotFound);
    assert_code(
        other
            .revoke_signing_key(&prod.id, &verify_kid(&app, &prod).await)
            .await,
        Code::NotFound,
    );
    // Nothing was revoked.
    let token = mint(&app, &staging, "alice").await;
    app.as_frontend(&staging.pk, Some(&token))
        .whoami()
        .await
        .unwrap();
}

/// The `kid` of a fresh token of `env`.
async fn verify_kid(app: &TestApp, env: &Env) -> String {
    let token = mint(app, env, "someone").await;
    jsonwebtoken::decode_header(&token).unwrap().kid.unwrap()
}

both_backends!(
    jwks_verifies_tokens_across_rotation_and_revocation,
    jwks_http_contract,
    signing_keys_of_others_are_not_found,
);

/// Two replicas on one PostgreSQL database: once `RevokeSigningKey`
/// returns on one, the other refuses the revoked key's tokens, although
/// it had verified (and remembered) them a moment before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_revoked_signing_key_is_refused_on_every_replica() {
    let (url, _) = fresh_database(Backend::Postgres).await;
    let a = spawn_app_on(Backend::Postgres, url.clone()).await;
    let b = spawn_app_on(Backend::Postgres, url).await;
    let env = environment(&a, "Production").await;
    let token = mint(&a, &env, "alice").await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    // B verifies it, caches the verification and remembers the decision.
    let on_b = b.as_frontend(&env.pk, Some(&token));
    for _ in 0..3 {
        on_b.whoami().await.unwrap();
    }
    // Let both replicas hear each other (so A waits for B's ack).
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.as_admin()
        .revoke_signing_key(&env.id, &kid)
        .await
        .unwrap();
    assert_code(on_b.whoami().await, Code::Unauthenticated);
    // B publishes the replacement, not the revoked key.
    let set = jwks(&b, &env.id).await.jwks();
    assert!(set.find(&kid).is_none());
    let fresh = mint(&b, &env, "alice").await;
    assert!(verify_with(&set, &fresh).is_ok());
    b.as_frontend(&env.pk, Some(&fresh)).whoami().await.unwrap();
}

/// Two replicas on one PostgreSQL database: once `DeleteEnvironment`
/// returns on one, the other no longer publishes the environment's keys,
/// although it had them cached a moment before (the deleted environment
/// is part of the announcement both replicas apply the same way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_deleted_environment_is_forgotten_on_every_replica() {
    let (url, _) = fresh_database(Backend::Postgres).await;
    let a = spawn_app_on(Backend::Postgres, url.clone()).await;
    let b = spawn_app_on(Backend::Postgres, url).await;
    let env = environment(&a, "Production").await;
    // B caches the key set.
    assert!(!jwks(&b, &env.id).await.jwks().keys.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.as_admin().delete_environment(&env.id).await.unwrap();
    assert_eq!(jwks(&a, &env.id).await.status, 404);
    assert_eq!(jwks(&b, &env.id).await.status, 404, "B still publishes it");
}
