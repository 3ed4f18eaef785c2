//! Revocation as one value.
//!
//! Every store method that makes credentials stop working (rotation, key
//! and admin-token revocation, environment deletion, a user's tokens, a
//! signing key with every token it signed)
//! returns its result
//! wrapped in [`super::Revoked`] (made only by [`super::write`]). The value inside is reachable only through
//! [`super::Revoked::finish`], which hands the [`Revocation`] to the one
//! [`Enforcer`] (this process's caches, then every replica's
//! acknowledgement) before giving the result back. Dropping a `Revoked`
//! unfinished is a `#[must_use]` warning, which CI's clippy turns into an
//! error: a handler cannot forget a step.
//!
//! ```compile_fail
//! // Dropping a revocation unfinished is refused (CI denies warnings).
//! #![deny(unused_must_use)]
//! use pulse::domain::{audit::Actor, ids::KeyId};
//! async fn forgets(store: pulse::store::AccountStore<'_>, id: &KeyId, actor: &Actor) {
//!     store.revoke_key(id, actor).await.unwrap();
//! }
//! ```
//!
//! The announcement to other replicas is queued *inside* the revoking
//! transaction by the store's [`Announcer`], so PostgreSQL delivers it at
//! commit and never for a rollback.

use std::future::Future;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::Store;
use crate::domain::credential::CredentialHash;
use crate::domain::ids::EnvironmentId;
use crate::error::Result;

/// A credential that stopped (or will stop) working: id and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadCredential {
    /// The key id (`key_…`) or admin token id (`adm_…`).
    pub id: String,
    /// Its hash, the key index's key.
    pub hash: CredentialHash,
}

/// A user's tokens revoked: those issued before `not_before` stop working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRevocation {
    /// The environment.
    pub environment_id: String,
    /// The user.
    pub user_id: String,
    /// Tokens issued before this instant (µs since the epoch) are refused.
    pub not_before: i64,
}

/// A signing key revoked: every token whose `kid` it is stops working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedSigningKey {
    /// The environment.
    pub environment_id: String,
    /// The key's id (`sig_…`), the tokens' `kid`.
    pub kid: String,
}

/// A room whose stored accesses changed (or that was deleted): every
/// replica decides its STORED-mode users with the new ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomChange {
    /// The environment.
    pub environment_id: String,
    /// The room's id.
    pub room_id: String,
}

/// What a committed change made stop working.
#[derive(Debug, Default)]
pub struct Revocation {
    revision: Option<String>,
    dead: Vec<DeadCredential>,
    scheduled: Vec<DeadCredential>,
    deleted_environments: Vec<EnvironmentId>,
    users: Vec<UserRevocation>,
    signing_keys: Vec<RevokedSigningKey>,
    rooms: Vec<RoomChange>,
}

impl Revocation {
    /// The announcement's revision, which other replicas acknowledge;
    /// `None` when nothing was announced (nothing changed).
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// Credentials that stopped working at commit.
    pub fn dead(&self) -> &[DeadCredential] {
        &self.dead
    }

    /// Credentials whose end is scheduled (a grace period): caches must
    /// re-read them so every replica enforces the deadline.
    pub fn scheduled(&self) -> &[DeadCredential] {
        &self.scheduled
    }

    /// Environments deleted with everything in them.
    pub fn deleted_environments(&self) -> &[EnvironmentId] {
        &self.deleted_environments
    }

    /// Users whose tokens issued before an instant stopped working.
    pub fn users(&self) -> &[UserRevocation] {
        &self.users
    }

    /// Signing keys revoked with every token they signed.
    pub fn signing_keys(&self) -> &[RevokedSigningKey] {
        &self.signing_keys
    }

    /// Rooms whose stored accesses changed.
    pub fn rooms(&self) -> &[RoomChange] {
        &self.rooms
    }

    /// Whether nothing stopped working.
    pub fn is_empty(&self) -> bool {
        self.dead.is_empty()
            && self.scheduled.is_empty()
            && self.deleted_environments.is_empty()
            && self.users.is_empty()
            && self.signing_keys.is_empty()
            && self.rooms.is_empty()
    }
}

/// Makes a committed revocation effective everywhere (implemented by
/// `crate::cluster::Revoker`).
pub trait Enforcer {
    /// Evicts from this process's caches, then waits for every live
    /// replica's acknowledgement.
    fn enforce(&self, revocation: &Revocation) -> impl Future<Output = ()> + Send;
}

/// Turns a revocation into notifications for other replicas (implemented
/// by `crate::cluster::Cluster`). Synchronous and object safe: the store
/// runs the notifications in the revoking transaction.
pub trait Announcer: Send + Sync + std::fmt::Debug {
    /// A new revision id for a revocation by this process.
    fn revision(&self) -> String;
    /// `(channel, payload)` pairs to `pg_notify` at commit.
    fn notifications(&self, revocation: &Revocation) -> Vec<(&'static str, String)>;
}

/// What a revoking store method collects before it commits.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) dead: Vec<DeadCredential>,
    pub(super) scheduled: Vec<DeadCredential>,
    pub(super) deleted_environments: Vec<EnvironmentId>,
    pub(super) users: Vec<UserRevocation>,
    pub(super) signing_keys: Vec<RevokedSigningKey>,
    pub(super) rooms: Vec<RoomChange>,
}

impl Store {
    /// Queues the announcement of `pending` in the transaction `db` (sent
    /// at its commit; PostgreSQL only) and returns the revocation to finish
    /// after the commit.
    pub(super) async fn announce(
        &self,
        db: &impl ConnectionTrait,
        pending: Pending,
    ) -> Result<Revocation> {
        let mut revocation = Revocation {
            revision: None,
            dead: pending.dead,
            scheduled: pending.scheduled,
            deleted_environments: pending.deleted_environments,
            users: pending.users,
            signing_keys: pending.signing_keys,
            rooms: pending.rooms,
        };
        if revocation.is_empty() {
            return Ok(revocation);
        }
        let Some(announcer) = &self.announcer else {
            return Ok(revocation);
        };
        revocation.revision = Some(announcer.revision());
        if db.get_database_backend() == DbBackend::Postgres {
            for (channel, payload) in announcer.notifications(&revocation) {
                notify(db, channel, &payload).await?;
            }
        }
        Ok(revocation)
    }

    /// Sends a notification outside any transaction (the cluster's pings
    /// and acknowledgements). PostgreSQL only.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        notify(&self.write, channel, payload).await
    }
}

async fn notify(db: &impl ConnectionTrait, channel: &str, payload: &str) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await?;
    Ok(())
}
