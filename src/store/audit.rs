//! The audit log: appended inside the transaction of the change it records,
//! listed per account.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::Store;
use super::entity::audit_event;
use super::paging::fetch_page;
use crate::domain::audit::{Actor, EventType};
use crate::domain::ids::{IdKind, new_id};
use crate::domain::page::PageRequest;
use crate::domain::scope::AccountScope;
use crate::domain::time::now_micros;
use crate::error::Result;

/// What an event is about.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The account.
    pub account_id: &'a str,
    /// The environment, if the event concerns one.
    pub environment_id: Option<&'a str>,
    /// The resource acted on.
    pub target_id: &'a str,
}

/// Appends an event (call it inside the change's transaction).
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    event_type: EventType,
    subject: Subject<'_>,
) -> Result<()> {
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
    pub environment_id: Option<String>,
    /// Only events of this type.
    pub event_type: Option<EventType>,
}

/// One page of the scope's events, oldest first.
pub async fn list_events(
    store: &Store,
    scope: &AccountScope,
    filter: &Filter,
    page: &PageRequest,
) -> Result<(Vec<audit_event::Model>, String)> {
    let mut query =
        audit_event::Entity::find().filter(audit_event::Column::AccountId.eq(scope.account_id()));
    if let Some(env) = &filter.environment_id {
        query = query.filter(audit_event::Column::EnvironmentId.eq(env));
    }
    if let Some(t) = filter.event_type {
        query = query.filter(audit_event::Column::EventType.eq(t.as_str()));
    }
    fetch_page(store.reader(), query, audit_event::Column::Seq, page).await
}
