//! `pulse.v1.EventService`: the audit log, live.
//!
//! A watch is a receiver of the process's event hub ([`crate::event_hub`])
//! turned into the response stream, with no task of its own:
//! 1. the caller's scope: an admin token watches its account (or one of
//!    its environments, NOT_FOUND if not the account's); a secret key, or
//!    a restricted key with `events.read`, watches its own environment
//!    (another `environment_id` is PERMISSION_DENIED, whether or not it
//!    exists, so the answer says nothing about other environments);
//! 2. subscribe to the hub, *then* replay the events after
//!    `after_event_id` from the audit table through the caller's store
//!    handle, page by page; then live events, skipping those with a `seq`
//!    already delivered: no gap, no duplicate;
//! 3. end with RESOURCE_EXHAUSTED when the receiver lagged (the client
//!    reads too slowly), UNAUTHENTICATED when the caller's credential
//!    stopped working (checked every [`LIVENESS_EVERY`] and after each
//!    event about keys), UNAVAILABLE when the server shuts down; the first
//!    two name the id to resume after.
//!
//! The server's RPC timeout (`Server::timeout`, 30 s) bounds the handler's
//! future, which returns as soon as the stream is set up; the stream
//! itself is the response body, which no timeout covers, so a watch lives
//! as long as the client keeps it (and the connection guard counts it as
//! activity; see `crate::server::connections`).

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context::{AdminCaller, Caller, EnvCaller, Principal};
use crate::domain::audit::EventType;
use crate::domain::ids::EnvironmentId;
use crate::domain::records::AuditEvent;
use crate::domain::roles::Environments;
use crate::error::{Error, Result};
use crate::event_hub::Event;
use crate::pb::{self, event_service_server::EventService};
use crate::store::audit::Tail;

/// Events read per replay query.
const REPLAY_PAGE: u64 = 500;

/// How often a watch checks that its caller's credential still works.
pub const LIVENESS_EVERY: Duration = Duration::from_secs(2);

/// Handlers of `EventService`.
#[derive(Clone, Debug)]
pub struct EventApi {
    state: AppState,
}

impl EventApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The stream `WatchEvents` returns.
pub type EventStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::AuditEvent, Status>> + Send + 'static>>;

/// Whose events a watch sees.
#[derive(Clone, Debug)]
enum Watcher {
    /// An admin: its account, or one environment of it.
    Account {
        admin: AdminCaller,
        environment_id: Option<EnvironmentId>,
    },
    /// A secret (or restricted) key: its environment.
    Environment(EnvCaller),
}

impl Watcher {
    /// Whether `event` is in the watcher's scope (types aside).
    fn sees(&self, event: &AuditEvent) -> bool {
        match self {
            Watcher::Account {
                admin,
                environment_id,
            } => {
                event.account_id == admin.scope.account_id().as_str()
                    // A scoped admin sees only its environments' events
                    // (the replay's query filters the same way).
                    && match admin.scope.environments() {
                        Environments::All => true,
                        scoped => event
                            .environment_id
                            .as_deref()
                            .is_some_and(|env| scoped.contains(env)),
                    }
                    && environment_id
                        .as_ref()
                        .is_none_or(|env| event.environment_id.as_deref() == Some(env.as_str()))
            }
            Watcher::Environment(env) => {
                event.environment_id.as_deref() == Some(env.scope.environment_id().as_str())
                    && event.account_id == env.scope.account_id().as_str()
            }
        }
    }

    /// The `seq` of `id` if it is an event of the watcher's scope.
    async fn seq_of(&self, state: &AppState, id: &str) -> Result<i64> {
        match self {
            Watcher::Account { admin, .. } => admin.store(&state.store).event_seq(id).await,
            Watcher::Environment(env) => env.store(&state.store).event_seq(id).await,
        }
    }

    /// One page of replay after `seq`.
    async fn replay(&self, state: &AppState, tail: &Tail, seq: i64) -> Result<Vec<AuditEvent>> {
        match self {
            Watcher::Account { admin, .. } => {
                admin
                    .store(&state.store)
                    .events_after(tail, seq, REPLAY_PAGE)
                    .await
            }
            Watcher::Environment(env) => {
                env.store(&state.store)
                    .events_after(tail, seq, REPLAY_PAGE)
                    .await
            }
        }
    }

    /// Whether the credential still works (revoked, expired, deleted).
    async fn alive(&self, state: &AppState) -> bool {
        match self {
            Watcher::Account { admin, .. } => !state.index.is_dead(&admin.token_id),
            Watcher::Environment(env) => state
                .index
                .key_working_until(env.key_id.as_str(), env.scope.environment_id().as_str())
                .await
                // A database hiccup is not a revocation: check again later.
                .map_or(true, |working| working.is_some()),
        }
    }
}

/// Whether an event may have ended the watcher's own credential.
fn about_keys(event: &AuditEvent) -> bool {
    [
        EventType::KeyRevoked,
        EventType::KeysRotated,
        EventType::EnvironmentDeleted,
        EventType::AdminTokenRevoked,
    ]
    .iter()
    .any(|t| t.as_str() == event.event_type)
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> std::result::Result<Response<Self::WatchEventsStream>, Status> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or(Error::Unauthenticated)?;
        let peer = request.remote_addr();
        let req = request.into_inner();
        let state = self.state.clone();
        let types = req
            .types
            .iter()
            .map(|t| EventType::parse("types", t))
            .collect::<Result<Vec<_>>>()?;
        let environment_id = match req.environment_id.as_str() {
            "" => None,
            id => Some(EnvironmentId::parse("environment_id", id)?),
        };
        let watcher = match caller {
            Caller::Admin(admin) => {
                if let Some(id) = &environment_id {
                    admin.store(&state.store).environment(id).await?;
                }
                Watcher::Account {
                    admin,
                    environment_id: environment_id.clone(),
                }
            }
            Caller::Environment(env) => {
                if env.principal != Principal::Server {
                    return Err(Error::PermissionDenied(
                        "watching events requires a secret key or an admin token".into(),
                    )
                    .into());
                }
                if environment_id
                    .as_ref()
                    .is_some_and(|id| id != env.scope.environment_id())
                {
                    return Err(Error::PermissionDenied(
                        "a secret key watches only its own environment".into(),
                    )
                    .into());
                }
                Watcher::Environment(env)
            }
        };
        let after = match req.after_event_id.as_str() {
            "" => None,
            id if !id.starts_with("evt_") => {
                return Err(Error::invalid(
                    "after_event_id",
                    "must be an id starting with \"evt_\"",
                )
                .into());
            }
            id => Some((watcher.seq_of(&state, id).await?, id.to_owned())),
        };
        let tail = Tail {
            environment_id,
            types,
        };
        // Subscribe before the replay: whatever commits during it is in
        // the receiver (see the module docs).
        let receiver = state.events.subscribe();
        // Without a position: what commits from now on, i.e. after the
        // log's current end (read after subscribing, so nothing between
        // is lost; what committed before is skipped by `seq`).
        let start = match &after {
            Some((seq, _)) => *seq,
            None => state.store.audit_head().await?,
        };
        let guard = peer.map(|peer| state.events.watches().open(peer));
        let replay = after.is_some();
        let position = (start, after.map(|(_, id)| id).unwrap_or_default());
        Ok(Response::new(watch(
            state, watcher, tail, position, replay, receiver, guard,
        )))
    }
}

/// The stream of one watch.
fn watch(
    state: AppState,
    watcher: Watcher,
    tail: Tail,
    (mut last, mut last_id): (i64, String),
    replay: bool,
    mut receiver: tokio::sync::broadcast::Receiver<Event>,
    guard: Option<crate::event_hub::WatchGuard>,
) -> EventStream {
    let mut closing = state.events.closing();
    Box::pin(async_stream::stream! {
        // Counted as an open watch (for the idle timeout) while it lives.
        let _guard = guard;
        // `last`/`last_id`: the last event of the watcher's scope seen
        // (delivered, or left out by the type filter), where a resume
        // starts; without a position yet, `last` is the log's end at open.
        let resume = |last_id: &str| {
            if last_id.is_empty() {
                "watch again".to_owned()
            } else {
                format!("resume with after_event_id={last_id}")
            }
        };
        if replay {
            loop {
                let rows = match watcher.replay(&state, &tail, last).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        yield Err(Status::from(e));
                        return;
                    }
                };
                let full = rows.len() as u64 == REPLAY_PAGE;
                for row in rows {
                    last = row.seq;
                    last_id = row.id.clone();
                    yield Ok(convert::audit_event(row));
                }
                if !full {
                    break;
                }
            }
        }
        let mut liveness = tokio::time::interval_at(
            tokio::time::Instant::now() + LIVENESS_EVERY,
            LIVENESS_EVERY,
        );
        liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                biased;
                _ = closing.changed() => {
                    yield Err(Status::unavailable(format!("the server is shutting down; {}", resume(&last_id))));
                    return;
                }
                _ = liveness.tick() => {
                    if !watcher.alive(&state).await {
                        yield Err(Status::unauthenticated("the credential no longer works"));
                        return;
                    }
                    continue;
                }
                received = receiver.recv() => received,
            };
            let event = match event {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => {
                    yield Err(Status::resource_exhausted(format!("fell behind; {}", resume(&last_id))));
                    return;
                }
                Err(RecvError::Closed) => {
                    yield Err(Status::unavailable(format!("the server is shutting down; {}", resume(&last_id))));
                    return;
                }
            };
            let row = &event.row;
            if row.seq <= last || !watcher.sees(row) {
                continue;
            }
            last = row.seq;
            last_id = row.id.clone();
            let keys = about_keys(row);
            if tail.types.is_empty() || tail.types.iter().any(|t| t.as_str() == row.event_type) {
                let proto = event.proto.get_or_init(|| convert::audit_event(row.clone()));
                yield Ok(proto.clone());
            }
            if keys && !watcher.alive(&state).await {
                yield Err(Status::unauthenticated("the credential no longer works"));
                return;
            }
        }
    })
}
