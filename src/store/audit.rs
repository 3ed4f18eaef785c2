//! The audit log: appended inside the transaction of the change it records,
//! listed per account.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, QueryFilter};

use super::Page;
use super::entity::audit_event;
use super::paging::fetch_page;
use super::tenant::AccountStore;
use crate::domain::audit::{Actor, EventType};
use crate::domain::ids::{AccountId, EnvironmentId, IdKind, new_id};
use crate::domain::page::PageRequest;
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

/// Appends an event with details (name, value), stored as a JSON object.
pub(super) async fn record_with(
    db: &impl ConnectionTrait,
    actor: &Actor,
    event_type: EventType,
    subject: Subject<'_>,
    details: &[(&str, String)],
) -> Result<()> {
    let details = (!details.is_empty()).then(|| {
        let map: serde_json::Map<String, serde_json::Value> = details
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::Value::Object(map).to_string()
    });
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
    ) -> Result<Page<audit_event::Model>> {
        let mut query = self.select::<audit_event::Entity>();
        if let Some(env) = &filter.environment_id {
            query = query.filter(audit_event::Column::EnvironmentId.eq(env.as_str()));
        }
        if let Some(t) = filter.event_type {
            query = query.filter(audit_event::Column::EventType.eq(t.as_str()));
        }
        fetch_page(&self.store.read, query, audit_event::Column::Seq, page).await
    }
}
