//! The audit log: appended inside the transaction of the change it records,
//! listed per account, and tailed by the event hub (`crate::event_hub`).
//!
//! # Commit order is `seq` order
//!
//! `WatchEvents` resumes "after event X" by `seq`, and the hub tails the
//! table with `seq > last`: both need every row with a lower `seq` to be
//! visible by the time a row with a higher one is. SQLite has one writer,
//! so it is. On PostgreSQL two transactions may take `seq` 10 and 11 and
//! commit 11 first; a reader between the two commits would move past 10
//! for ever. So on PostgreSQL [`record_with`] first takes the transaction-
//! scoped advisory lock [`AUDIT_LOCK_ID`]: audited transactions take their
//! `seq`s one transaction at a time, and release the lock only after their
//! commit is visible.
//!
//! Deadlock rule: a transaction that holds the audit lock waits for no row
//! lock. After its first `record` a transaction only inserts new rows
//! (whose foreign-key checks take `KEY SHARE` locks, which conflict only
//! with deletes of the parent, and parents are deleted only under the
//! environment lock, taken before) and queues notifications. Every caller
//! in `src/store/` follows it: `record` is the transaction's last
//! statement, or is followed only by inserts (`create_environment`,
//! `create_account_in`, `rotate_keys`' new pair) — rows it updates come
//! before. A new audited change must update its rows first, then record.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::entity::audit_event;
use super::paging::fetch_records;
use super::tenant::{AccountStore, EnvironmentStore};
use super::{Page, Store};
use crate::domain::audit::{Actor, EventType};
use crate::domain::ids::{AccountId, EnvironmentId, IdKind, new_id};
use crate::domain::page::PageRequest;
use crate::domain::records::AuditEvent;
use crate::domain::time::now_micros;
use crate::error::Result;

/// What an event is about.
#[derive(Clone, Copy, Debug)]
pub(super) struct Subject<'a> {
    /// The account.
    account_id: &'a str,
    /// The environment, if the event concerns one.
    environment_id: Option<&'a str>,
    /// The resource acted on.
    target_id: &'a str,
}

impl<'a> Subject<'a> {
    /// An event about the account itself or one of its admin tokens.
    pub(super) fn account(account_id: &'a AccountId, target_id: &'a str) -> Self {
        Self {
            account_id: account_id.as_str(),
            environment_id: None,
            target_id,
        }
    }

    /// An event about an environment or something in it.
    pub(super) fn environment(
        account_id: &'a str,
        environment_id: &'a str,
        target_id: &'a str,
    ) -> Self {
        Self {
            account_id,
            environment_id: Some(environment_id),
            target_id,
        }
    }
}

/// Appends an event (call it inside the change's transaction).
pub(super) async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    event_type: EventType,
    subject: Subject<'_>,
) -> Result<()> {
    record_with(db, actor, event_type, subject, &[]).await
}

/// The PostgreSQL advisory lock serializing audited transactions ("pulse"
/// and 13, the issue that made events live; see the module docs).
pub const AUDIT_LOCK_ID: i64 = 0x70_75_6c_73_65_13;

/// Appends an event with details (name, value), stored as a JSON object.
/// On PostgreSQL it first takes the audit lock until the transaction ends
/// (again, harmlessly, for a transaction's later events): see the module
/// docs for why and for the rule callers follow.
pub(super) async fn record_with(
    db: &impl ConnectionTrait,
    actor: &Actor,
    event_type: EventType,
    subject: Subject<'_>,
    details: &[(&str, String)],
) -> Result<()> {
    let email = actor.email.as_ref().map(|e| ("actor_email", e.clone()));
    let details = (!details.is_empty() || email.is_some()).then(|| {
        let map: serde_json::Map<String, serde_json::Value> = details
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .chain(email)
            .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
            .collect();
        serde_json::Value::Object(map).to_string()
    });
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK_ID})"))
            .await?;
    }
    audit_event::ActiveModel {
        id: Set(new_id(IdKind::AuditEvent)),
        account_id: Set(subject.account_id.to_owned()),
        environment_id: Set(subject.environment_id.map(str::to_owned)),
        event_type: Set(event_type.as_str().to_owned()),
        actor: Set(actor.actor.clone()),
        target_id: Set(subject.target_id.to_owned()),
        request_id: Set(actor.request_id.clone()),
        peer: Set(actor.peer.clone()),
        create_time: Set(now_micros()),
        details: Set(details),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this environment's events.
    pub environment_id: Option<EnvironmentId>,
    /// Only events of this type.
    pub event_type: Option<EventType>,
}

impl AccountStore<'_> {
    /// One page of the account's events, oldest first.
    pub async fn list_events(
        &self,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let mut query = self.select::<audit_event::Entity>();
        if let Some(env) = &filter.environment_id {
            query = query.filter(audit_event::Column::EnvironmentId.eq(env.as_str()));
        }
        if let Some(t) = filter.event_type {
            query = query.filter(audit_event::Column::EventType.eq(t.as_str()));
        }
        fetch_records(&self.store.read, query, audit_event::Column::Seq, page).await
    }
}

/// Which events a watcher wants, besides its tenant.
#[derive(Clone, Debug, Default)]
pub struct Tail {
    /// Only this environment's events (admin watchers).
    pub environment_id: Option<EnvironmentId>,
    /// Only events of these types; empty: all.
    pub types: Vec<EventType>,
}

impl Tail {
    /// `query` narrowed to what the watcher wants.
    fn apply(&self, query: Select<audit_event::Entity>) -> Select<audit_event::Entity> {
        let query = match &self.environment_id {
            Some(env) => query.filter(audit_event::Column::EnvironmentId.eq(env.as_str())),
            None => query,
        };
        self.apply_types(query)
    }

    /// `query` narrowed to the wanted types.
    fn apply_types(&self, query: Select<audit_event::Entity>) -> Select<audit_event::Entity> {
        if self.types.is_empty() {
            return query;
        }
        query.filter(audit_event::Column::EventType.is_in(self.types.iter().map(|t| t.as_str())))
    }
}

/// The `seq` of the event `id` among the tenant's events `scoped`, or
/// NOT_FOUND.
async fn seq_of(
    db: &impl ConnectionTrait,
    scoped: Select<audit_event::Entity>,
    id: &str,
) -> Result<i64> {
    scoped
        .filter(audit_event::Column::Id.eq(id))
        .one(db)
        .await?
        .map(|e| e.seq)
        .ok_or(crate::error::Error::NotFound("event"))
}

/// Up to `limit` rows of `query` after `after_seq`, in `seq` order.
async fn after(
    db: &impl ConnectionTrait,
    query: Select<audit_event::Entity>,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<AuditEvent>> {
    Ok(query
        .filter(audit_event::Column::Seq.gt(after_seq))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

impl AccountStore<'_> {
    /// The `seq` of one of the account's events, or NOT_FOUND.
    pub async fn event_seq(&self, id: &str) -> Result<i64> {
        seq_of(&self.store.read, self.select(), id).await
    }

    /// Up to `limit` of the account's events after `after_seq` that `tail`
    /// wants, oldest first (the replay of a resumed watch).
    pub async fn events_after(
        &self,
        tail: &Tail,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<AuditEvent>> {
        let query = tail.apply(self.select());
        after(&self.store.read, query, after_seq, limit).await
    }
}

impl EnvironmentStore<'_> {
    /// The `seq` of one of the environment's events, or NOT_FOUND.
    pub async fn event_seq(&self, id: &str) -> Result<i64> {
        seq_of(&self.store.read, self.select(), id).await
    }

    /// Up to `limit` of the environment's events after `after_seq` that
    /// `tail` wants (its `environment_id` is ignored), oldest first.
    pub async fn events_after(
        &self,
        tail: &Tail,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<AuditEvent>> {
        let query = tail.apply_types(self.select());
        after(&self.store.read, query, after_seq, limit).await
    }
}

impl Store {
    /// The last `seq` of the audit log (0 when empty): where the event
    /// hub starts tailing.
    pub async fn audit_head(&self) -> Result<i64> {
        let last = audit_event::Entity::find()
            .order_by_desc(audit_event::Column::Seq)
            .one(&self.read)
            .await?;
        Ok(last.map_or(0, |e| e.seq))
    }

    /// Up to `limit` events of every tenant after `after_seq`, oldest
    /// first. Only for the event hub (`crate::event_hub`), the process's one
    /// tail of the log, which hands each row to the watchers whose scope
    /// it is in (checked there, in memory, per watcher).
    pub async fn audit_feed(&self, after_seq: i64, limit: u64) -> Result<Vec<AuditEvent>> {
        after(&self.read, audit_event::Entity::find(), after_seq, limit).await
    }
}
