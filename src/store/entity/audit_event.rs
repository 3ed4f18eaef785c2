//! `audit_events`: who changed which credential or environment, when, from where.

use sea_orm::entity::prelude::*;

table! {
    /// A row of `audit_events`. Rows are only ever inserted.
    "audit_events", id, Debug {
        /// The account the event belongs to.
        pub account_id: String,
        /// The environment concerned, if any (kept after it is deleted).
        pub environment_id: Option<String>,
        /// What happened, e.g. `key.revoked` (see [`crate::domain::audit::EventType`]).
        pub event_type: String,
        /// Who did it: `adm_…`, a key id (user-token revocations), or `cli` / `bootstrap` for local commands.
        pub actor: String,
        /// The resource acted on (`env_…`, `key_…`, `adm_…`, `sig_…`, `acct_…`).
        pub target_id: String,
        /// The request's id (`x-request-id`, or generated).
        pub request_id: String,
        /// The caller's address, `ip:port`, or `local`.
        pub peer: String,
        /// When, µs.
        pub create_time: i64,
        /// More about the event: a JSON object of strings (never a secret).
        pub details: Option<String>,
    }
}

impl From<Model> for crate::domain::records::AuditEvent {
    fn from(m: Model) -> Self {
        Self {
            seq: m.seq,
            id: m.id,
            account_id: m.account_id,
            environment_id: m.environment_id,
            event_type: m.event_type,
            actor: m.actor,
            target_id: m.target_id,
            request_id: m.request_id,
            peer: m.peer,
            create_time: m.create_time,
            details: m.details,
        }
    }
}
