//! Revocation across replicas sharing one PostgreSQL database.
//!
//! Every transaction that kills credentials (rotation, revocation, admin
//! token revocation, environment deletion, a user's tokens, a member's
//! sessions) also runs `pg_notify('pulse', …)` with its changes as
//! [`notice::Notice`]s: users' token revocations, signing keys, deleted
//! environments, re-read credentials, and last the dead credentials
//! (`r|<rev>|<origin>|<id>,<hash>;…`). PostgreSQL delivers them at COMMIT (and
//! never for a rolled-back transaction) to every replica's listener, which
//! evicts the credentials from its key index and answers `a|<rev>|<me>`.
//! The replica that served the RPC returns only when every live replica has
//! acknowledged (or [`ACK_TIMEOUT`] passed): after `RotateKeys` returns, no
//! healthy replica accepts the old key.
//!
//! Liveness: each replica sends `p|<me>` every [`PING_EVERY`] through the
//! pool and expects to hear it back on its listener. If it has not heard
//! itself for [`UNHEALTHY_AFTER`] (listener dead, half-open, lagging), its
//! index stops trusting the cache and reads every credential from the
//! database until the listener is back; then it flushes the cache and
//! trusts it again. A replica that cannot hear revocations therefore never
//! serves a stale cache entry for longer than that bound. Replicas that
//! stopped pinging drop out of the live set, so nobody waits for them.
//!
//! Payloads stay under PostgreSQL's 8,000-byte limit: killed credentials
//! are sent in chunks of ids and hashes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::Notify;

use crate::auth::KeyIndex;
use crate::auth::tokens::TokenService;
use crate::domain::ids::{base62, random_bytes};
use crate::store::Store;
use crate::store::revocation::{Announcer, Enforcer, Revocation};

pub mod notice;
use notice::{Change, Notice};

/// The notification channel.
pub const CHANNEL: &str = "pulse";
/// How often a replica announces itself.
pub const PING_EVERY: Duration = Duration::from_millis(20);
/// Silence after which a replica distrusts its own cache.
pub const UNHEALTHY_AFTER: Duration = Duration::from_millis(75);
/// Silence after which other replicas stop waiting for a replica.
pub const LIVE_FOR: Duration = Duration::from_millis(500);
/// Longest a revoking RPC waits for acknowledgements.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest payload we send (PostgreSQL's limit is 8,000 bytes).
const MAX_PAYLOAD: usize = 7_000;

/// This replica's view of the cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Random id of this process.
    me: String,
    /// Revision counter for this process's revocations.
    next: AtomicU64,
    /// Replica → last ping heard.
    live: std::sync::Mutex<HashMap<String, Instant>>,
    /// Revision → replicas that acknowledged it.
    acks: std::sync::Mutex<HashMap<String, HashSet<String>>>,
    /// Wakes waiters when an ack arrives.
    acked: Notify,
    /// Whether this process shares its database with others (PostgreSQL).
    shared: bool,
}

impl Cluster {
    /// A cluster view; `shared` is false for SQLite (one process, nothing to do).
    pub fn new(shared: bool) -> Self {
        Self {
            me: base62(&random_bytes::<8>()),
            next: AtomicU64::new(1),
            live: Default::default(),
            acks: Default::default(),
            acked: Notify::new(),
            shared,
        }
    }

    /// Whether this replica has heard its own ping recently: its listener
    /// is up, and its cache is trusted unless it fell silent since.
    pub fn hears_itself(&self) -> bool {
        let live = self.live.lock().expect("live lock");
        live.get(&self.me)
            .is_some_and(|seen| seen.elapsed() < LIVE_FOR)
    }

    /// Replicas heard recently, other than this one.
    pub(crate) fn others_alive(&self) -> HashSet<String> {
        let now = Instant::now();
        let live = self.live.lock().expect("live lock");
        live.iter()
            .filter(|(id, seen)| **id != self.me && now.duration_since(**seen) < LIVE_FOR)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Waits until every live replica acknowledged `revision`, or the timeout.
    pub async fn await_acks(&self, revision: &str) {
        if !self.shared {
            return;
        }
        let deadline = Instant::now() + ACK_TIMEOUT;
        loop {
            let waiting = self.acked.notified();
            let missing: Vec<String> = {
                let acks = self.acks.lock().expect("acks lock");
                let got = acks.get(revision);
                self.others_alive()
                    .into_iter()
                    .filter(|r| !got.is_some_and(|g| g.contains(r)))
                    .collect()
            };
            if missing.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    ?missing,
                    revision,
                    "replicas did not acknowledge a revocation in time"
                );
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(10), waiting).await;
        }
        self.acks.lock().expect("acks lock").remove(revision);
    }

    /// Runs the listener and the pinger until the process ends (PostgreSQL).
    pub fn spawn(
        self: &Arc<Self>,
        store: Store,
        url: String,
        index: Arc<KeyIndex>,
        tokens: Arc<TokenService>,
    ) {
        if !self.shared {
            return;
        }
        let heard_self = Arc::new(std::sync::Mutex::new(Instant::now()));
        let store_for_acks = store.clone();
        // Pinger: also the health watchdog of this replica's cache.
        {
            let this = self.clone();
            let heard = heard_self.clone();
            let index = index.clone();
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PING_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let ping = Notice::Ping {
                        replica: this.me.clone(),
                    };
                    let _ = store.notify(CHANNEL, &ping.to_string()).await;
                    let silent = heard.lock().expect("heard lock").elapsed();
                    if silent > UNHEALTHY_AFTER && index.trusted() {
                        tracing::warn!(
                            silent_ms = silent.as_millis() as u64,
                            "revocation listener silent: cache bypassed"
                        );
                        index.set_trusted(false);
                        tokens.set_trusted(false);
                    }
                }
            });
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this
                    .listen(&url, &store_for_acks, &index, &tokens, &heard_self)
                    .await
                {
                    tracing::warn!(error = %e, "revocation listener failed; reconnecting");
                    index.set_trusted(false);
                    tokens.set_trusted(false);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }

    async fn listen(
        &self,
        url: &str,
        store: &Store,
        index: &KeyIndex,
        tokens: &TokenService,
        heard_self: &std::sync::Mutex<Instant>,
    ) -> std::result::Result<(), sea_orm::sqlx::Error> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        // LISTEN first, then flush: whatever was revoked while we were not
        // listening is read fresh from the database from now on.
        tokens.flush();
        index.flush().await;
        loop {
            let Some(note) = listener.try_recv().await? else {
                // Connection lost and re-established (LISTEN re-issued):
                // notifications in between are lost, so flush.
                tokens.flush();
                index.flush().await;
                continue;
            };
            self.handle(note.payload(), store, index, tokens, heard_self)
                .await;
        }
    }

    async fn handle(
        &self,
        payload: &str,
        store: &Store,
        index: &KeyIndex,
        tokens: &TokenService,
        heard_self: &std::sync::Mutex<Instant>,
    ) {
        match payload.parse::<Notice>() {
            Ok(Notice::Ping { replica }) => {
                let now = Instant::now();
                if replica == self.me {
                    *heard_self.lock().expect("heard lock") = now;
                    if !index.trusted() {
                        tokens.flush();
                        tokens.set_trusted(true);
                        index.flush().await;
                        index.set_trusted(true);
                        tracing::info!("revocation listener healthy again: cache trusted");
                    }
                }
                self.live.lock().expect("live lock").insert(replica, now);
            }
            Ok(Notice::Change {
                revision,
                origin,
                change,
            }) => {
                // The same step the originating replica took (`Revoker`).
                notice::apply(index, tokens, &change).await;
                // `r` comes last and is acknowledged: notices arrive in
                // order, so everything of the revision is applied by now.
                if matches!(change, Change::Dead(_)) && origin != self.me {
                    let ack = Notice::Ack {
                        revision,
                        replica: self.me.clone(),
                    };
                    let _ = store.notify(CHANNEL, &ack.to_string()).await;
                }
            }
            Ok(Notice::Ack { revision, replica }) => {
                self.acks
                    .lock()
                    .expect("acks lock")
                    .entry(revision)
                    .or_default()
                    .insert(replica);
                self.acked.notify_waiters();
            }
            Err(_) => tracing::debug!("ignored a malformed cluster notification"),
        }
    }
}

impl Announcer for Cluster {
    fn revision(&self) -> String {
        format!("{}.{}", self.me, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The revocation's changes as notices (see `notice`), each under
    /// PostgreSQL's payload limit.
    fn notifications(&self, revocation: &Revocation) -> Vec<(&'static str, String)> {
        if !self.shared {
            return Vec::new();
        }
        let revision = revocation.revision().unwrap_or_default();
        notice::notices(
            revision,
            &self.me,
            &notice::changes(revocation),
            MAX_PAYLOAD,
        )
        .into_iter()
        .map(|n| (CHANNEL, n.to_string()))
        .collect()
    }
}

/// Finishes every revocation (see `crate::store::revocation`): this
/// process stops accepting the credentials, then every live replica has
/// acknowledged, before the RPC returns.
#[derive(Clone, Debug)]
pub struct Revoker {
    /// This process's credential index.
    pub index: Arc<KeyIndex>,
    /// This process's signing keys.
    pub tokens: Arc<TokenService>,
    /// The replicas to wait for.
    pub cluster: Arc<Cluster>,
}

impl Enforcer for Revoker {
    async fn enforce(&self, revocation: &Revocation) {
        // Exactly what every other replica does when it hears of it.
        for change in notice::changes(revocation) {
            notice::apply(&self.index, &self.tokens, &change).await;
        }
        if let Some(revision) = revocation.revision() {
            self.cluster.await_acks(revision).await;
        }
    }
}
