//! Revocation across replicas sharing one PostgreSQL database.
//!
//! Every transaction that kills credentials (rotation, revocation, admin
//! token revocation, environment deletion) also runs `pg_notify('pulse',
//! 'r|<rev>|<origin>|<id>,<hash>;…')`. PostgreSQL delivers it at COMMIT (and
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
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::Notify;

use crate::auth::KeyIndex;
use crate::domain::ids::{base62, random_bytes};
use crate::error::Result;
use crate::store::Store;

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

/// A credential that stopped working: id and hex SHA-256.
pub type Killed = (String, String);

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

    /// A new revision id for a revocation by this process.
    pub fn next_revision(&self) -> String {
        format!("{}.{}", self.me, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Replicas heard recently, other than this one.
    fn others_alive(&self) -> HashSet<String> {
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

    /// Queues the notification of killed credentials (`r`) and of
    /// credentials whose revocation is scheduled for later (`e`: evict and
    /// reload) in `db`'s transaction, delivered at its commit. No-op on SQLite.
    pub async fn publish(
        &self,
        db: &impl ConnectionTrait,
        revision: &str,
        killed: &[Killed],
        evicted: &[Killed],
    ) -> Result<()> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for (tag, list) in [("r", killed), ("e", evicted)] {
            if list.is_empty() && tag == "e" {
                continue;
            }
            let head = format!("{tag}|{revision}|{}|", self.me);
            let mut payload = head.clone();
            for (id, hash) in list {
                if payload.len() + id.len() + hash.len() + 2 > MAX_PAYLOAD {
                    notify(db, &payload).await?;
                    payload = head.clone();
                }
                payload.push_str(id);
                payload.push(',');
                payload.push_str(hash);
                payload.push(';');
            }
            notify(db, &payload).await?;
        }
        Ok(())
    }

    /// Runs the listener and the pinger until the process ends (PostgreSQL).
    pub fn spawn(self: &Arc<Self>, store: Store, url: String, index: Arc<KeyIndex>) {
        if !self.shared {
            return;
        }
        let heard_self = Arc::new(std::sync::Mutex::new(Instant::now()));
        // Pinger: also the health watchdog of this replica's cache.
        {
            let this = self.clone();
            let heard = heard_self.clone();
            let index = index.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PING_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let _ = notify(store.writer(), &format!("p|{}", this.me)).await;
                    let silent = heard.lock().expect("heard lock").elapsed();
                    if silent > UNHEALTHY_AFTER && index.trusted() {
                        tracing::warn!(
                            silent_ms = silent.as_millis() as u64,
                            "revocation listener silent: cache bypassed"
                        );
                        index.set_trusted(false);
                    }
                }
            });
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.listen(&url, &index, &heard_self).await {
                    tracing::warn!(error = %e, "revocation listener failed; reconnecting");
                    index.set_trusted(false);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }

    async fn listen(
        &self,
        url: &str,
        index: &KeyIndex,
        heard_self: &std::sync::Mutex<Instant>,
    ) -> std::result::Result<(), sea_orm::sqlx::Error> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        // LISTEN first, then flush: whatever was revoked while we were not
        // listening is read fresh from the database from now on.
        index.flush().await;
        loop {
            let Some(note) = listener.try_recv().await? else {
                // Connection lost and re-established (LISTEN re-issued):
                // notifications in between are lost, so flush.
                index.flush().await;
                continue;
            };
            self.handle(note.payload(), index, heard_self).await;
        }
    }

    async fn handle(
        &self,
        payload: &str,
        index: &KeyIndex,
        heard_self: &std::sync::Mutex<Instant>,
    ) {
        let mut parts = payload.splitn(4, '|');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("p"), Some(replica), None, None) => {
                let now = Instant::now();
                if replica == self.me {
                    *heard_self.lock().expect("heard lock") = now;
                    if !index.trusted() {
                        index.flush().await;
                        index.set_trusted(true);
                        tracing::info!("revocation listener healthy again: cache trusted");
                    }
                }
                self.live
                    .lock()
                    .expect("live lock")
                    .insert(replica.to_owned(), now);
            }
            (Some(tag @ ("r" | "e")), Some(revision), Some(origin), Some(list)) => {
                let listed: Vec<Killed> = list
                    .split(';')
                    .filter_map(|pair| pair.split_once(','))
                    .map(|(id, hash)| (id.to_owned(), hash.to_owned()))
                    .collect();
                if tag == "r" {
                    index.kill(listed).await;
                } else {
                    index.evict(listed).await;
                }
                if origin != self.me {
                    let _ = self.ack_tx(revision, index).await;
                }
            }
            (Some("a"), Some(revision), Some(replica), None) => {
                self.acks
                    .lock()
                    .expect("acks lock")
                    .entry(revision.to_owned())
                    .or_default()
                    .insert(replica.to_owned());
                self.acked.notify_waiters();
            }
            _ => tracing::debug!("ignored a malformed cluster notification"),
        }
    }

    async fn ack_tx(&self, revision: &str, index: &KeyIndex) -> Result<()> {
        notify(index.store().writer(), &format!("a|{revision}|{}", self.me)).await
    }
}

async fn notify(db: &impl ConnectionTrait, payload: &str) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    ))
    .await?;
    Ok(())
}

/// A revocation about to be committed: where to announce it.
#[derive(Clone, Copy, Debug)]
pub struct Notice<'a> {
    /// This replica's cluster view.
    pub cluster: &'a Cluster,
    /// The revision id acknowledgements will name.
    pub revision: &'a str,
}

impl Notice<'_> {
    /// Queues the announcement in the transaction `db` (sent at its commit).
    pub async fn publish(&self, db: &impl ConnectionTrait, killed: &[Killed]) -> Result<()> {
        self.cluster.publish(db, self.revision, killed, &[]).await
    }

    /// Same, with credentials whose revocation is scheduled for later.
    pub async fn publish_with_scheduled(
        &self,
        db: &impl ConnectionTrait,
        killed: &[Killed],
        scheduled: &[Killed],
    ) -> Result<()> {
        self.cluster
            .publish(db, self.revision, killed, scheduled)
            .await
    }
}
