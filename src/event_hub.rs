//! Live events: the process's one tail of the audit log, fanned out to
//! every `WatchEvents` stream, and the `key.expiring` sweeper.
//!
//! # The hub
//!
//! One task per process reads `audit_events WHERE seq > last ORDER BY seq`
//! (at most [`BATCH`] rows, again at once while full) every poll period
//! (50 ms) and hands each row to a [`broadcast`] channel of bounded
//! capacity. One query per process per tick, whatever the number of
//! watchers; every replica tails the shared table, so a watcher sees the
//! events of every replica, within a poll period of their commit. Rows
//! come in commit order because commit order is `seq` order (see
//! `crate::store::audit`), so `seq > last` never skips a row that commits
//! late.
//!
//! A watcher subscribes to the channel *before* it replays older events
//! from the database (`after_event_id`), then skips channel rows it has
//! already delivered (`seq <= last delivered`): no gap, no duplicate. A
//! watcher whose receiver falls more than the capacity behind (its client
//! reads too slowly: HTTP/2 flow control stops the stream being polled)
//! sees `Lagged` and is ended with RESOURCE_EXHAUSTED; it resumes from the
//! database with the last id it received. The channel is the only buffer:
//! a watcher costs a receiver (a position in the ring), not a task or a
//! queue of its own.
//!
//! # Open watches
//!
//! The connection guard (`crate::server::connections`) closes connections
//! whose client sends no request frame for the idle timeout; a watcher
//! that only listens sends none. [`OpenWatches`] counts open watches per
//! peer address (`ip:port`, one per connection); the guard extends the
//! deadline of a connection that has one.
//!
//! # `key.expiring`
//!
//! [`spawn_expiry_sweeper`] looks for keys due a notice at start and then
//! every period (60 s); `crate::store::expiry` makes each notice a
//! once-only event across replicas and restarts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::domain::audit::Actor;
use crate::domain::records::AuditEvent;
use crate::domain::time::now_micros;
use crate::store::Store;

/// Most rows read per query.
pub const BATCH: u64 = 500;

/// One committed audit event, shared by every watcher.
pub type Event = Arc<Committed>;

/// An audit row as read by the hub, and its proto form, converted once
/// (by the first watcher that delivers it) for all watchers.
#[derive(Debug)]
pub struct Committed {
    /// The row.
    pub row: AuditEvent,
    /// The row as the API sends it.
    pub proto: std::sync::OnceLock<crate::pb::AuditEvent>,
}

/// The process's tail of the audit log (see the module docs).
#[derive(Debug)]
pub struct EventHub {
    /// Every event read, to every receiver.
    sender: broadcast::Sender<Event>,
    /// The channel's capacity (the sender does not expose it).
    capacity: usize,
    /// Peers with an open watch, for the connection guard.
    watches: Arc<OpenWatches>,
    /// Set when the server shuts down: every stream ends, so graceful
    /// shutdown does not wait for streams that never end by themselves.
    closing: watch::Sender<bool>,
}

impl EventHub {
    /// A hub buffering `capacity` events (at least 2 × [`BATCH`] would let
    /// no watcher lag on one burst; tests use less).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (sender, _) = broadcast::channel(capacity);
        Self {
            sender,
            capacity,
            watches: Arc::default(),
            closing: watch::Sender::new(false),
        }
    }

    /// Ends every stream (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Changes when the server shuts down (see [`EventHub::close`]).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// A receiver of every event read from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// The registry of peers with open watches.
    pub fn watches(&self) -> &Arc<OpenWatches> {
        &self.watches
    }

    /// Number of open receivers (watchers), for tests and benchmarks.
    pub fn watchers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Starts tailing the log from its current end, reading every `poll`.
    pub fn spawn(self: &Arc<Self>, store: Store, poll: Duration) -> tokio::task::JoinHandle<()> {
        let hub = self.clone();
        tokio::spawn(async move { hub.tail(store, poll).await })
    }

    async fn tail(&self, store: Store, poll: Duration) {
        // A read never overruns the ring by itself.
        let batch = BATCH.min(self.capacity as u64 / 2).max(1);
        let mut tick = tokio::time::interval(poll.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = loop {
            tick.tick().await;
            match store.audit_head().await {
                Ok(head) => break head,
                Err(e) => tracing::warn!(error = %e, "events: reading the audit log's end"),
            }
        };
        loop {
            tick.tick().await;
            loop {
                let rows = match store.audit_feed(last, batch).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "events: reading new audit events");
                        break;
                    }
                };
                let full = rows.len() as u64 == batch;
                for row in rows {
                    last = row.seq;
                    // No receiver is not an error: nobody watches.
                    let _ = self.sender.send(Arc::new(Committed {
                        row,
                        proto: std::sync::OnceLock::new(),
                    }));
                }
                if !full {
                    break;
                }
            }
        }
    }
}

/// Open watches per peer address (see the module docs).
#[derive(Debug, Default)]
pub struct OpenWatches {
    peers: Mutex<HashMap<SocketAddr, usize>>,
}

impl OpenWatches {
    /// Counts a watch from `peer` until the guard is dropped.
    pub fn open(self: &Arc<Self>, peer: SocketAddr) -> WatchGuard {
        *self.lock().entry(peer).or_default() += 1;
        WatchGuard {
            watches: self.clone(),
            peer,
        }
    }

    /// Whether `peer` has an open watch.
    pub fn contains(&self, peer: &SocketAddr) -> bool {
        self.lock().contains_key(peer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, usize>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One open watch; uncounted when dropped (the stream ended or was reset).
#[derive(Debug)]
pub struct WatchGuard {
    watches: Arc<OpenWatches>,
    peer: SocketAddr,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut peers = self.watches.lock();
        if let Some(n) = peers.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

/// Sends the `key.expiring` notices due now, then every `every`.
pub fn spawn_expiry_sweeper(store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep_expiring(&store).await {
                tracing::warn!(error = %e, "key.expiring sweep failed");
            }
        }
    })
}

/// One sweep: sends each due notice (once; see `crate::store::expiry`).
pub async fn sweep_expiring(store: &Store) -> crate::error::Result<usize> {
    let mut sent = 0;
    for (key, notice) in store.keys_due_expiry_notice(now_micros()).await? {
        if store
            .send_expiry_notice(&key, notice, &Actor::local("system"))
            .await?
        {
            tracing::info!(key_id = %key.id, within = notice.within(), "key.expiring sent");
            sent += 1;
        }
    }
    Ok(sent)
}
