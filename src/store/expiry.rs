//! `key.expiring`: one event 7 days and one 1 day before a key's
//! `expire_time`, each sent once across replicas and restarts.
//!
//! `api_keys.expiry_notices` counts the notices sent (0, 1 = the 7-day
//! one, 2 = the 1-day one). A sweep finds the keys due a notice, and sends
//! each in its own transaction: `UPDATE … SET expiry_notices = n WHERE id
//! = ? AND expiry_notices < n`, and the event only if that changed the
//! row. Two replicas sweeping at once both run the update; the second
//! waits for the first's row lock, then changes nothing and records
//! nothing. The update comes before the event (see `audit`'s deadlock
//! rule), and the event is the transaction's last statement.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::Store;
use super::audit::{self, Subject};
use super::entity::api_key;
use super::write::Op;
use crate::domain::audit::{Actor, EventType};
use crate::domain::records::ApiKey;
use crate::domain::time::to_timestamp;
use crate::error::Result;

/// One day, µs.
const DAY: i64 = 24 * 3600 * 1_000_000;

/// Which notice a key is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Expires within 7 days (and more than 1 day away).
    Week,
    /// Expires within 1 day.
    Day,
}

impl Notice {
    /// The value of `expiry_notices` once this notice is sent.
    fn level(self) -> i32 {
        match self {
            Notice::Week => 1,
            Notice::Day => 2,
        }
    }

    /// The event's `within` detail.
    pub fn within(self) -> &'static str {
        match self {
            Notice::Week => "7d",
            Notice::Day => "1d",
        }
    }

    /// The notice a key expiring at `expire_time` is due at `now`, if any
    /// (whatever was sent already).
    pub fn due(expire_time: i64, now: i64) -> Option<Self> {
        let left = expire_time - now;
        if left <= 0 || left > 7 * DAY {
            None
        } else if left <= DAY {
            Some(Notice::Day)
        } else {
            Some(Notice::Week)
        }
    }
}

impl Store {
    /// Keys (not revoked, not yet expired) due a `key.expiring` notice at
    /// `now` that was not sent yet, with that notice. Every tenant: this
    /// is the sweeper's query, not a tenant's.
    pub async fn keys_due_expiry_notice(&self, now: i64) -> Result<Vec<(ApiKey, Notice)>> {
        let keys = api_key::Entity::find()
            .filter(api_key::Column::RevokeTime.is_null())
            .filter(api_key::Column::ExpireTime.gt(now))
            .filter(api_key::Column::ExpireTime.lte(now + 7 * DAY))
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(api_key::Column::ExpiryNotices.lt(1))
                            .add(api_key::Column::ExpireTime.gt(now + DAY)),
                    )
                    .add(
                        Condition::all()
                            .add(api_key::Column::ExpiryNotices.lt(2))
                            .add(api_key::Column::ExpireTime.lte(now + DAY)),
                    ),
            )
            .all(&self.read)
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| {
                let notice = Notice::due(k.expire_time?, now)?;
                Some((k.into(), notice))
            })
            .collect())
    }

    /// Sends `notice` for `key` unless it (or a later one) was sent:
    /// marks the key and records `key.expiring` in one transaction.
    /// Returns whether this call sent it.
    pub async fn send_expiry_notice(
        &self,
        key: &ApiKey,
        notice: Notice,
        actor: &Actor,
    ) -> Result<bool> {
        let Some(expire_time) = key.expire_time else {
            return Ok(false);
        };
        self.write(Op::SendExpiryNotice, |w| {
            Box::pin(async move {
                let tx = w.db();
                let level = notice.level();
                let changed = api_key::Entity::update_many()
                    .col_expr(api_key::Column::ExpiryNotices, Expr::value(level))
                    .filter(api_key::Column::Id.eq(key.id.as_str()))
                    .filter(api_key::Column::ExpiryNotices.lt(level))
                    .filter(api_key::Column::RevokeTime.is_null())
                    .exec(tx)
                    .await?
                    .rows_affected;
                if changed != 1 {
                    return Ok(false);
                }
                let subject = Subject::environment(&key.account_id, &key.environment_id, &key.id);
                let details = [
                    ("expire_time", to_timestamp(expire_time).to_string()),
                    ("within", notice.within().to_owned()),
                ];
                audit::record_with(tx, actor, EventType::KeyExpiring, subject, &details).await?;
                Ok(true)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_fall_due_7_days_and_1_day_before() {
        let now = 1_000 * DAY;
        assert_eq!(Notice::due(now + 8 * DAY, now), None);
        assert_eq!(Notice::due(now + 7 * DAY, now), Some(Notice::Week));
        assert_eq!(Notice::due(now + DAY + 1, now), Some(Notice::Week));
        assert_eq!(Notice::due(now + DAY, now), Some(Notice::Day));
        assert_eq!(Notice::due(now + 1, now), Some(Notice::Day));
        assert_eq!(Notice::due(now, now), None);
    }
}
