//! Store models → proto messages. The only place that knows both.

use crate::domain::time::to_timestamp;
use crate::pb;
use crate::store::entity::{account, admin_token, api_key, environment};

/// An account.
pub fn account(m: account::Model) -> pb::Account {
    pb::Account {
        id: m.id,
        display_name: m.display_name,
        create_time: Some(to_timestamp(m.create_time)),
    }
}

/// An admin token's metadata.
pub fn admin_token(m: admin_token::Model) -> pb::AdminToken {
    pb::AdminToken {
        id: m.id,
        display_name: m.display_name,
        prefix: m.prefix,
        create_time: Some(to_timestamp(m.create_time)),
        revoke_time: m.revoke_time.map(to_timestamp),
        state: if m.revoke_time.is_some() {
            pb::AdminTokenState::Revoked
        } else {
            pb::AdminTokenState::Active
        } as i32,
        last_use_time: m.last_use_time.map(to_timestamp),
    }
}

/// An environment.
pub fn environment(m: environment::Model) -> pb::Environment {
    pb::Environment {
        id: m.id,
        display_name: m.display_name,
        create_time: Some(to_timestamp(m.create_time)),
        update_time: Some(to_timestamp(m.update_time)),
    }
}

/// An API key's metadata. `value` is only ever set for publishable keys.
pub fn api_key(m: api_key::Model) -> pb::ApiKey {
    let publishable = m.kind == api_key::KIND_PUBLISHABLE;
    pb::ApiKey {
        id: m.id,
        environment_id: m.environment_id,
        kind: if publishable {
            pb::ApiKeyKind::Publishable
        } else {
            pb::ApiKeyKind::Secret
        } as i32,
        prefix: m.prefix,
        value: if publishable {
            m.value.unwrap_or_default()
        } else {
            String::new()
        },
        state: if m.revoke_time.is_some() {
            pb::ApiKeyState::Revoked
        } else {
            pb::ApiKeyState::Active
        } as i32,
        create_time: Some(to_timestamp(m.create_time)),
        revoke_time: m.revoke_time.map(to_timestamp),
        last_use_time: m.last_use_time.map(to_timestamp),
    }
}
