//! The tower layer that authenticates every gRPC request.
//!
//! Why a tower layer and not a tonic `Interceptor`: interceptors are
//! synchronous, and a key that is not yet in the in-memory index needs an
//! async database lookup. The layer's steady state is still synchronous in
//! effect — a cache hit — so the hot path costs a header parse, a CRC32, a
//! SHA-256 and two hash-map reads.
//!
//! On success it inserts a [`Caller`] into the request extensions; on
//! failure it answers UNAUTHENTICATED (one generic message, whatever the
//! reason) or PERMISSION_DENIED without calling the handler.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::HeaderMap;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use super::context::{AdminCaller, Caller, EnvCaller, Principal};
use super::decisions::{Borrowed, Decision, Decisions};
use super::index::{KeyIndex, Resolution, Resolved};
use super::policy::{self, Need, Policy};
use super::ratelimit::FailedAuthLimiter;
use super::refusal::Refusal;
use super::tokens::TokenService;
use super::usage_counters::Outcome;
use crate::domain::audit::Actor;
use crate::domain::credential::{self, CredentialKind, ParsedCredential};
use crate::domain::ids::{self, AccountId, EnvironmentId, KeyId};
use crate::domain::networks::{self, Networks};
use crate::domain::roles::Grant;
use crate::domain::scope::{AccountScope, EnvironmentScope};
use crate::domain::time::earliest;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use tonic::transport::server::TcpConnectInfo;

/// The header a trusted proxy names the client in (see `--trusted-proxies`).
pub const FORWARDED_FOR_HEADER: &str = "x-forwarded-for";
/// Metadata key carrying the publishable key of frontend calls.
pub const PUBLISHABLE_KEY_HEADER: &str = "x-pulse-publishable-key";
/// Metadata key of the request id: read from admin requests (or made up)
/// and echoed in their response headers, and stored in the audit log.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Layer that resolves credentials through a [`KeyIndex`].
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

/// What resolving a request needs: the key index and the token verifier.
#[derive(Debug)]
struct Authenticator {
    index: Arc<KeyIndex>,
    tokens: Arc<TokenService>,
    failures: Arc<FailedAuthLimiter>,
    metrics: Option<Arc<Metrics>>,
    decisions: Decisions,
    /// Peers whose `x-forwarded-for` names the client (see `networks`).
    trusted_proxies: Networks,
}

impl AuthLayer {
    /// A layer resolving keys through `index` and user tokens through `tokens`.
    pub fn new(
        index: Arc<KeyIndex>,
        tokens: Arc<TokenService>,
        failures: Arc<FailedAuthLimiter>,
        metrics: Option<Arc<Metrics>>,
        trusted_proxies: Networks,
    ) -> Self {
        Self {
            auth: Arc::new(Authenticator {
                index,
                tokens,
                failures,
                metrics,
                decisions: Decisions::new(),
                trusted_proxies,
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for AuthService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone is not ready; swap so we call the one that is.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let path = request.uri().path();
        let policy = policy::for_path(path);
        let peer = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr);
        // The steady state needs no await: a public RPC, or a returning
        // caller whose decision is remembered. Answered here, its future is
        // just the handler's, not the slow path's (which holds database
        // lookups and is several kilobytes to move).
        let mut admin_request_id = None;
        // The credential headers, read once for the whole request (checked
        // for duplicates; owned: a header value is a shared buffer).
        let presented = match policy {
            Policy::Public => None,
            _ => Some(presented(&auth, request.headers())),
        };
        let fast = match &presented {
            None => true,
            Some(Err(_)) => false,
            Some(Ok(p)) => {
                let remembered = remembered(&auth, p, peer, request.headers())
                    .filter(|decision| allow(&decision.caller, policy, path).is_ok());
                remembered
                    .map(|decision| {
                        count(&decision.key, Outcome::Success);
                        let caller = match &decision.caller {
                            // An admin caller's audit fields are this
                            // request's, not the remembered one's.
                            Caller::Admin(admin) => {
                                let mut admin = admin.clone();
                                admin.actor.request_id = request_id(request.headers());
                                admin.actor.peer = peer_text(peer);
                                admin_request_id = Some(admin.actor.request_id.clone());
                                Caller::Admin(admin)
                            }
                            caller => caller.clone(),
                        };
                        request.extensions_mut().insert(caller)
                    })
                    .is_some()
            }
        };
        if fast {
            return match admin_request_id {
                None => Box::pin(inner.call(request)),
                Some(id) => Box::pin(async move {
                    let mut response = inner.call(request).await?;
                    echo_request_id(&mut response, id);
                    Ok(response)
                }),
            };
        }
        Box::pin(async move {
            let mut request_id = None;
            if let Some(presented) = presented {
                let path = request.uri().path();
                let decided = match presented {
                    Ok(presented) => {
                        authorize(&auth, policy, path, &presented, request.headers(), peer).await
                    }
                    Err(refusal) => Err(refusal),
                };
                match decided {
                    Ok(caller) => {
                        if let Caller::Admin(admin) = &caller {
                            request_id = Some(admin.actor.request_id.clone());
                        }
                        request.extensions_mut().insert(caller);
                    }
                    Err(refusal) => return Ok(refuse(&auth, refusal, peer).into_http()),
                }
            }
            let mut response = inner.call(request).await?;
            if let Some(id) = request_id {
                echo_request_id(&mut response, id);
            }
            Ok(response)
        })
    }
}

/// Settles a refusal: charges the peer's failure quota for a credential
/// that does not work (which may turn it into RATE_LIMITED), counts its
/// label, and makes the caller's status, all from the one value.
fn refuse(auth: &Authenticator, refusal: Refusal, peer: Option<SocketAddr>) -> Status {
    let refusal = match refusal {
        refusal if refusal.is_failed_authentication() => {
            let looked_up = refusal.looked_up();
            match peer.and_then(|a| auth.failures.failed(a.ip(), looked_up)) {
                Some(wait) => Refusal::RateLimited(wait),
                None => refusal,
            }
        }
        // Refused before any database lookup: the peer is over its
        // failure quota, or lookups are capped.
        Refusal::Failed(Error::ResourceExhausted(_)) => Refusal::RateLimited(
            peer.and_then(|a| auth.failures.blocked_for(a.ip()))
                .unwrap_or(super::ratelimit::COLD_LOOKUP_WAIT),
        ),
        refusal => refusal,
    };
    if let (Some(metrics), Some(label)) = (&auth.metrics, refusal.label()) {
        metrics.auth_failure(label);
    }
    refusal.status()
}

/// Admin calls are audited under their request id: tell the caller which.
fn echo_request_id(response: &mut http::Response<Body>, id: String) {
    if let Ok(value) = http::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}

/// The request's id: the caller's `x-request-id` if acceptable, else a
/// new one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(ids::accept_request_id)
        .unwrap_or_else(ids::new_request_id)
}

/// The peer as the audit log writes it.
fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}

/// Authenticates the request's credential, then checks it against the
/// RPC's policy and, for a restricted key, its permissions.
async fn authorize(
    auth: &Authenticator,
    policy: Policy,
    path: &str,
    presented: &Presented,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> std::result::Result<Caller, Refusal> {
    let (caller, key) = authenticate(auth, presented, headers, peer).await?;
    match allow(&caller, policy, path) {
        Ok(()) => count(&key, Outcome::Success),
        Err(e @ Error::PermissionDenied(_)) if key.kind == CredentialKind::Restricted => {
            count(&key, Outcome::PermissionDenied);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(caller)
}

/// Counts `outcome` in the key's usage (admin tokens count nothing): one
/// relaxed atomic add (see `super::usage`).
#[inline]
fn count(key: &Resolved, outcome: Outcome) {
    if let Some(usage) = &key.usage {
        usage.add(outcome);
    }
}

/// Whether `caller` may call the RPC at `path`, of `policy`:
/// PERMISSION_DENIED (naming the missing permission for a restricted key),
/// or UNAUTHENTICATED for a publishable key alone where a user is needed.
fn allow(caller: &Caller, policy: Policy, path: &str) -> Result<()> {
    if policy == Policy::Public {
        // No credential needed (the layer does not even look for one).
        return Ok(());
    }
    if let Caller::Environment(EnvCaller {
        permissions: Some(granted),
        ..
    }) = caller
    {
        // Only restricted keys pay for the permission lookup.
        match policy::need_for_path(path) {
            Need::Nothing => {}
            Need::Permission(p) if granted.allows(p) => {}
            Need::Permission(p) => return Err(Error::PermissionDenied(format!("requires {p}"))),
            Need::Undeclared => {
                return Err(Error::PermissionDenied(
                    "a restricted key may not call this rpc".into(),
                ));
            }
        }
    }
    let allowed = match (caller, policy) {
        (_, Policy::Public) => true,
        (Caller::Admin(admin), Policy::Admin | Policy::AdminOrSecret) => {
            // Team access: the RPC's least role, as the protos declare it.
            admin.grant.require(policy::role_for_path(path))?;
            true
        }
        (Caller::Admin(_), _) => false,
        (Caller::Environment(env), policy) => match (&env.principal, policy) {
            (Principal::Anonymous, Policy::SecretOrPublishable) => true,
            // A publishable key alone authenticates nobody.
            (Principal::Anonymous, _) => return Err(Error::Unauthenticated),
            (
                Principal::Server,
                Policy::Secret
                | Policy::SecretOrPublishable
                | Policy::Environment
                | Policy::AdminOrSecret,
            ) => true,
            (Principal::User { .. }, Policy::Environment | Policy::SecretOrPublishable) => true,
            _ => false,
        },
    };
    if !allowed {
        return Err(Error::PermissionDenied(match policy {
            Policy::Admin => "this rpc requires an admin token".into(),
            Policy::Secret => "this rpc requires a secret key".into(),
            Policy::AdminOrSecret => "this rpc requires an admin token or a secret key".into(),
            _ => "this rpc requires an environment credential".into(),
        }));
    }
    Ok(())
}

/// The request's credential headers, checked for duplicates, with what a
/// decision about them needs. Owned (a header value is a reference-counted
/// buffer): read once in `call`, used by the fast path and, on a miss, moved
/// into the slow path.
struct Presented {
    authorization: Option<http::HeaderValue>,
    publishable: Option<http::HeaderValue>,
    generation: u64,
    trusted: bool,
}

impl Presented {
    /// The raw header bytes a decision is remembered under.
    fn headers(&self) -> Borrowed<'_> {
        Borrowed(
            self.authorization.as_ref().map(http::HeaderValue::as_bytes),
            self.publishable.as_ref().map(http::HeaderValue::as_bytes),
        )
    }
}

/// Two credentials of one kind are refused rather than one picked (a proxy
/// adding a header must not silently change who is calling).
fn presented(auth: &Authenticator, headers: &HeaderMap) -> std::result::Result<Presented, Refusal> {
    let twice = |name: &str| headers.get_all(name).iter().nth(1).is_some();
    if twice(http::header::AUTHORIZATION.as_str()) || twice(PUBLISHABLE_KEY_HEADER) {
        return Err(Refusal::Malformed);
    }
    Ok(Presented {
        authorization: headers.get(http::header::AUTHORIZATION).cloned(),
        publishable: headers.get(PUBLISHABLE_KEY_HEADER).cloned(),
        // Read before anything else: a decision made from what follows is
        // valid only in this generation (see `decisions`).
        generation: auth.index.generation(),
        trusted: auth.index.trusted(),
    })
}

/// A returning environment caller: the decision made for these exact
/// headers, unless something was revoked since (see `decisions`), and
/// only from where its key may be used (checked per request: the same
/// headers may come from another address).
fn remembered(
    auth: &Authenticator,
    presented: &Presented,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Option<Arc<Decision>> {
    if !presented.trusted {
        return None;
    }
    let now = crate::domain::time::now_micros();
    let decision = auth
        .decisions
        .get(&presented.headers(), presented.generation, now)?;
    if !network_allows(auth, &decision.key, peer, headers) {
        return None;
    }
    auth.index.count_memory_hit();
    auth.index.touch(&decision.key);
    Some(decision)
}

/// Whether the key may be used by this request's client: the TCP peer, or
/// what a trusted proxy says in `x-forwarded-for`.
fn network_allows(
    auth: &Authenticator,
    key: &Resolved,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> bool {
    if key.networks.is_empty() {
        return true;
    }
    let forwarded = headers
        .get(FORWARDED_FOR_HEADER)
        .map(http::HeaderValue::as_bytes);
    let client = networks::client_address(peer.map(|a| a.ip()), forwarded, &auth.trusted_proxies);
    key.networks.allows(client)
}

/// Resolves the request's credentials to a caller and the key that
/// authenticated it, or why not. A recognised key refused for being
/// revoked, expired or used from elsewhere has that counted.
async fn authenticate(
    auth: &Authenticator,
    presented: &Presented,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> std::result::Result<(Caller, Arc<Resolved>), Refusal> {
    // A remembered decision was already looked for, synchronously, in
    // `call`: this is the slow path, which makes (and remembers) one.
    let generation = presented.generation;
    let peer_ip = peer.map(|a| a.ip());
    let bearer = match &presented.authorization {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(Refusal::Malformed)?,
        ),
        None => None,
    };
    let (caller, key, until) = if let Some(pk) = &presented.publishable {
        let pk = pk.to_str().map_err(|_| Refusal::Malformed)?;
        let pk = credential::parse(pk).ok_or(Refusal::Malformed)?;
        // With a user token, whatever does not work is the token's (or
        // its pairing with this key).
        authenticate_frontend(auth, &pk, bearer, peer_ip)
            .await
            .map_err(|e| match (e, bearer) {
                (Error::Unauthenticated, Some(_)) => Refusal::BadUserToken,
                (e, _) => e.into(),
            })?
    } else {
        let token = bearer.ok_or(Refusal::Missing)?;
        let cred = credential::parse(token).ok_or(Refusal::Malformed)?;
        if cred.kind == CredentialKind::Publishable {
            // A publishable key authenticates nobody.
            return Err(Refusal::PublishableKeyAlone);
        }
        let record = working(auth.index.resolve_detailed(&cred, peer_ip).await?)?;
        if !network_allows(auth, &record, peer, headers) {
            count(&record, Outcome::NotAllowedNetwork);
            tracing::info!(
                key_id = %record.id,
                peer = ?peer,
                "a key was used from outside its allowed networks"
            );
            return Err(Refusal::NotAllowedNetwork);
        }
        let caller = bearer_caller(&record, || request_id(headers), peer_text(peer))?;
        let until = record.revoke_at;
        (caller, record, until)
    };
    auth.index.touch(&key);
    // Admin callers are remembered too; their per-request audit fields are
    // filled in again whenever the decision is used (see `call`).
    if presented.trusted {
        let decision = Decision {
            caller: caller.clone(),
            key: key.clone(),
            until,
            generation,
        };
        auth.decisions.insert(&presented.headers(), decision);
    }
    Ok((caller, key))
}

/// The working key of a resolution; a key that stopped working has why
/// counted (revoked or expired), and is refused like an unknown one.
fn working(resolution: Resolution) -> Result<Arc<Resolved>> {
    match resolution {
        Resolution::Working(key) => Ok(key),
        Resolution::Ended(key, why) => {
            count(&key, why);
            Err(Error::Unauthenticated)
        }
        Resolution::Unknown => Err(Error::Unauthenticated),
    }
}

/// The caller context of a resolved bearer credential: an admin token or
/// a secret key (a publishable key authenticates nobody).
fn bearer_caller(
    record: &Resolved,
    request_id: impl FnOnce() -> String,
    peer: String,
) -> Result<Caller> {
    Ok(match (record.kind, &record.environment_id) {
        (CredentialKind::Admin | CredentialKind::Session, _) => {
            let grant = record.grant.clone().unwrap_or_else(Grant::owner);
            Caller::Admin(AdminCaller {
                scope: AccountScope::grant_scoped(
                    AccountId::from_stored(&*record.account_id),
                    grant.environments.clone(),
                ),
                token_id: record.id.to_string(),
                grant,
                // The audit log names the member, not its session.
                actor: Actor {
                    actor: record
                        .member
                        .as_ref()
                        .map_or_else(|| record.id.to_string(), |m| m.id.to_string()),
                    request_id: request_id(),
                    peer,
                    email: record.member.as_ref().map(|m| m.email.clone()),
                },
                member: record.member.clone(),
                account: record.account.clone(),
            })
        }
        (kind @ (CredentialKind::Secret | CredentialKind::Restricted), Some(env)) => {
            Caller::Environment(EnvCaller {
                scope: environment_scope(record, env),
                key_id: KeyId::from_stored(&*record.id),
                kind,
                principal: Principal::Server,
                // A restricted key's list; an `sk_` may do everything.
                permissions: match kind {
                    CredentialKind::Restricted => Some(record.permissions.unwrap_or_default()),
                    _ => None,
                },
            })
        }
        _ => return Err(Error::Unauthenticated),
    })
}

/// Resolves a bearer credential (`ak_`, `sk_` or `rk_`) outside a request, through
/// the same index and checks as the layer: for in-process tools and
/// benchmarks that call the store. UNAUTHENTICATED for anything else.
pub async fn resolve_bearer(index: &KeyIndex, token: &str) -> Result<Caller> {
    let cred = credential::parse(token).ok_or(Error::Unauthenticated)?;
    let record = index.resolve(&cred).await?.ok_or(Error::Unauthenticated)?;
    bearer_caller(&record, ids::new_request_id, "local".into())
}

/// `x-pulse-publishable-key: pk_…`, with or without a user token: the
/// caller, the publishable key's record, and until when (µs) it all holds.
async fn authenticate_frontend(
    auth: &Authenticator,
    cred: &ParsedCredential,
    bearer: Option<&str>,
    peer: Option<std::net::IpAddr>,
) -> Result<(Caller, Arc<Resolved>, Option<i64>)> {
    if cred.kind != CredentialKind::Publishable {
        return Err(Error::Unauthenticated);
    }
    let record = working(auth.index.resolve_detailed(cred, peer).await?)?;
    let env = record
        .environment_id
        .as_deref()
        .ok_or(Error::Unauthenticated)?;
    let scope = environment_scope(&record, env);
    let mut until = record.revoke_at;
    let principal = match bearer {
        None => Principal::Anonymous,
        Some(token) => {
            // The token must be ours, for this publishable key's environment,
            // and its minting secret key must still be active.
            let verified = auth.tokens.verify(&scope, token, now_secs()).await?;
            let claims = &verified.claims;
            let Some(minting_until) = auth.index.key_working_until(&claims.key_id, env).await?
            else {
                // Its minting key was revoked or rotated away (or expired).
                count(&record, Outcome::Revoked);
                return Err(Error::Unauthenticated);
            };
            // The user's tokens issued before a revocation are dead.
            let not_before = auth.index.user_not_before(&scope, &claims.sub).await?;
            if not_before.is_some_and(|nb| claims.issued_micros() < nb) {
                return Err(Error::Unauthenticated);
            }
            until = earliest(until, minting_until);
            until = earliest(until, Some(claims.exp.saturating_mul(1_000_000)));
            Principal::User {
                user_id: claims.sub.as_str().into(),
                rooms: verified.rooms.clone(),
            }
        }
    };
    let caller = Caller::Environment(EnvCaller {
        scope,
        key_id: KeyId::from_stored(&*record.id),
        kind: CredentialKind::Publishable,
        principal,
        permissions: None,
    });
    Ok((caller, record, until))
}

/// The scope of a resolved API key of environment `env`.
fn environment_scope(record: &Resolved, env: &str) -> EnvironmentScope {
    EnvironmentScope::grant(
        AccountId::from_stored(&*record.account_id),
        EnvironmentId::from_stored(env),
    )
}

fn now_secs() -> i64 {
    crate::domain::time::now_micros() / 1_000_000
}

#[cfg(test)]
mod tests {
    //! The allow matrix, in process: every RPC of the generated access
    //! table against every kind of caller, in milliseconds (the same with
    //! real credentials through the whole stack: `server::in_process::allow`;
    //! through a real server: the integration tests).
    use super::*;
    use crate::domain::permissions::Permissions;
    use crate::domain::roles::{Environments, Role};
    use crate::pb::Access;

    fn admin(role: Role) -> Caller {
        Caller::Admin(AdminCaller {
            scope: AccountScope::grant_scoped(
                AccountId::from_stored("acct_test"),
                Environments::All,
            ),
            token_id: "adm_test".into(),
            grant: Grant {
                role,
                environments: Environments::All,
            },
            member: None,
            account: None,
            actor: Actor::local("test"),
        })
    }

    fn env(kind: CredentialKind, principal: Principal, permissions: Option<&str>) -> Caller {
        Caller::Environment(EnvCaller {
            scope: EnvironmentScope::grant(
                AccountId::from_stored("acct_test"),
                EnvironmentId::from_stored("env_test"),
            ),
            key_id: KeyId::from_stored("key_test"),
            kind,
            principal,
            permissions: permissions.map(Permissions::from_stored),
        })
    }

    fn user() -> Principal {
        Principal::User {
            user_id: "alice".into(),
            rooms: crate::domain::rooms::UserRooms::Every,
        }
    }

    #[test]
    fn every_rpc_against_every_caller() {
        let server = env(CredentialKind::Secret, Principal::Server, None);
        let frontend = env(CredentialKind::Publishable, user(), None);
        let anonymous = env(CredentialKind::Publishable, Principal::Anonymous, None);
        let restricted_none = env(CredentialKind::Restricted, Principal::Server, Some(""));
        for (path, access) in policy::ACCESS {
            let policy = Policy::from(*access);
            let ok = |caller: &Caller| allow(caller, policy, path).is_ok();
            let admin_rpc = matches!(access, Access::Admin | Access::AdminOrSecret);
            let needed = policy::role_for_path(path);
            for role in Role::ALL {
                assert_eq!(
                    ok(&admin(role)),
                    *access == Access::Public || (admin_rpc && role >= needed),
                    "{role:?} on {path}"
                );
            }
            let secret_ok = matches!(
                access,
                Access::Public
                    | Access::Secret
                    | Access::SecretOrPublishable
                    | Access::Environment
                    | Access::AdminOrSecret
            );
            assert_eq!(ok(&server), secret_ok, "sk_ on {path}");
            let user_ok = matches!(
                access,
                Access::Public | Access::SecretOrPublishable | Access::Environment
            );
            assert_eq!(ok(&frontend), user_ok, "pk_+token on {path}");
            let anonymous_ok = matches!(access, Access::Public | Access::SecretOrPublishable);
            assert_eq!(ok(&anonymous), anonymous_ok, "pk_ alone on {path}");
            // A restricted key without permissions: only what needs none.
            let free = policy::need_for_path(path) == Need::Nothing;
            assert_eq!(
                ok(&restricted_none),
                *access == Access::Public || (secret_ok && free),
                "rk_ without permissions on {path}"
            );
        }
    }

    #[test]
    fn refusals_name_what_is_needed() {
        let path = "/pulse.v1.EnvironmentService/DeleteEnvironment";
        let refused = allow(&admin(Role::Developer), Policy::Admin, path).unwrap_err();
        assert!(
            matches!(&refused, Error::PermissionDenied(m) if m.contains("requires role admin")),
            "{refused:?}"
        );
        let rk = env(
            CredentialKind::Restricted,
            Principal::Server,
            Some("rooms.read"),
        );
        let refused = allow(&rk, Policy::Environment, "/pulse.v1.RoomService/CreateRoom");
        assert!(
            matches!(&refused, Err(Error::PermissionDenied(m)) if m == "requires rooms.write"),
            "{refused:?}"
        );
        // A publishable key alone where a user is needed authenticates nobody.
        let anonymous = env(CredentialKind::Publishable, Principal::Anonymous, None);
        let refused = allow(
            &anonymous,
            Policy::Environment,
            "/pulse.v1.AuthService/WhoAmI",
        );
        assert!(matches!(refused, Err(Error::Unauthenticated)));
        assert!(matches!(
            Refusal::from(refused.unwrap_err()),
            Refusal::UnknownOrRevoked
        ));
    }
}
