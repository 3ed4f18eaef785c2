//! What replicas tell each other over PostgreSQL `NOTIFY`, as one type.
//!
//! A [`Notice`] is written with `Display` and read back with `FromStr`
//! (`p|<replica>`, `a|<revision>|<replica>`, and
//! `<tag>|<revision>|<origin>|<entry>;<entry>;…` for a [`Change`]); a
//! property test checks that every notice survives the round trip. A
//! revocation becomes its [`Change`]s once ([`changes`]), and both the
//! replica that made it and every replica that hears of it apply each
//! change with the one [`apply`]: what one does, all do (before this, a
//! deleted environment's signing keys were forgotten only where the
//! deletion ran).
//!
//! Ids, hashes and revisions hold no `|`, `,` or `;` (ids are base62 or
//! `[A-Za-z0-9_.:@-]`), so the separators need no escaping.

use std::fmt::{self, Display, Write as _};
use std::str::FromStr;

use crate::auth::KeyIndex;
use crate::auth::tokens::TokenService;
use crate::domain::credential::CredentialHash;
use crate::domain::ids::EnvironmentId;
use crate::store::revocation::{
    DeadCredential, Revocation, RevokedSigningKey, RoomChange, UserRevocation,
};

/// One thing that stopped working, as every replica applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `u`: a user's tokens issued before an instant.
    Users(Vec<UserRevocation>),
    /// `k`: signing keys with every token they signed.
    SigningKeys(Vec<RevokedSigningKey>),
    /// `m`: rooms whose stored accesses changed (or that were deleted).
    Rooms(Vec<RoomChange>),
    /// `d`: environments deleted with everything in them.
    Environments(Vec<EnvironmentId>),
    /// `e`: credentials whose end is scheduled, or whose grant changed:
    /// re-read them.
    Scheduled(Vec<DeadCredential>),
    /// `r`: credentials that stopped working. Always sent, last: other
    /// replicas acknowledge it, and notices arrive in order.
    Dead(Vec<DeadCredential>),
}

/// A notice between replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// `p|<replica>`: a replica is alive (and hears itself).
    Ping {
        /// Its id.
        replica: String,
    },
    /// `a|<revision>|<replica>`: a replica applied a revision.
    Ack {
        /// The revision acknowledged.
        revision: String,
        /// Who acknowledges.
        replica: String,
    },
    /// A committed change of `revision`, made by replica `origin`.
    Change {
        /// The revocation's revision.
        revision: String,
        /// The replica that made it.
        origin: String,
        /// What stopped working.
        change: Change,
    },
}

impl Change {
    fn tag(&self) -> &'static str {
        match self {
            Change::Users(_) => "u",
            Change::SigningKeys(_) => "k",
            Change::Rooms(_) => "m",
            Change::Environments(_) => "d",
            Change::Scheduled(_) => "e",
            Change::Dead(_) => "r",
        }
    }

    /// Each entry's text (without its `;`).
    fn entries(&self) -> Vec<String> {
        match self {
            Change::Users(users) => users
                .iter()
                .map(|u| format!("{},{},{}", u.environment_id, u.user_id, u.not_before))
                .collect(),
            Change::SigningKeys(keys) => keys
                .iter()
                .map(|k| format!("{},{}", k.environment_id, k.kid))
                .collect(),
            Change::Rooms(rooms) => rooms
                .iter()
                .map(|r| format!("{},{}", r.environment_id, r.room_id))
                .collect(),
            Change::Environments(envs) => envs.iter().map(|e| e.to_string()).collect(),
            Change::Scheduled(list) | Change::Dead(list) => list
                .iter()
                .map(|c| format!("{},{}", c.id, c.hash.to_hex()))
                .collect(),
        }
    }

    /// The same kind of change holding `entries` (texts of this kind).
    fn parse(tag: &str, list: &str) -> Result<Self, NoticeError> {
        let entries = list.split(';').filter(|e| !e.is_empty());
        let credential = |entry: &str| {
            let (id, hash) = entry.split_once(',').ok_or(NoticeError)?;
            Ok(DeadCredential {
                id: id.to_owned(),
                hash: CredentialHash::from_hex(hash).ok_or(NoticeError)?,
            })
        };
        Ok(match tag {
            "u" => Change::Users(
                entries
                    .map(|entry| {
                        let mut fields = entry.split(',');
                        match (fields.next(), fields.next(), fields.next(), fields.next()) {
                            (Some(env), Some(user), Some(at), None) => Ok(UserRevocation {
                                environment_id: env.to_owned(),
                                user_id: user.to_owned(),
                                not_before: at.parse().map_err(|_| NoticeError)?,
                            }),
                            _ => Err(NoticeError),
                        }
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "k" => Change::SigningKeys(
                entries
                    .map(|entry| {
                        let (env, kid) = entry.split_once(',').ok_or(NoticeError)?;
                        Ok(RevokedSigningKey {
                            environment_id: env.to_owned(),
                            kid: kid.to_owned(),
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "m" => Change::Rooms(
                entries
                    .map(|entry| {
                        let (env, room) = entry.split_once(',').ok_or(NoticeError)?;
                        Ok(RoomChange {
                            environment_id: env.to_owned(),
                            room_id: room.to_owned(),
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "d" => Change::Environments(entries.map(EnvironmentId::from_stored).collect()),
            "e" => Change::Scheduled(entries.map(credential).collect::<Result<_, _>>()?),
            "r" => Change::Dead(entries.map(credential).collect::<Result<_, _>>()?),
            _ => return Err(NoticeError),
        })
    }

    /// The same kind of change, with other entries.
    fn with(&self, range: std::ops::Range<usize>) -> Self {
        match self {
            Change::Users(v) => Change::Users(v[range].to_vec()),
            Change::SigningKeys(v) => Change::SigningKeys(v[range].to_vec()),
            Change::Rooms(v) => Change::Rooms(v[range].to_vec()),
            Change::Environments(v) => Change::Environments(v[range].to_vec()),
            Change::Scheduled(v) => Change::Scheduled(v[range].to_vec()),
            Change::Dead(v) => Change::Dead(v[range].to_vec()),
        }
    }
}

impl Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Ping { replica } => write!(f, "p|{replica}"),
            Notice::Ack { revision, replica } => write!(f, "a|{revision}|{replica}"),
            Notice::Change {
                revision,
                origin,
                change,
            } => {
                write!(f, "{}|{revision}|{origin}|", change.tag())?;
                for entry in change.entries() {
                    f.write_str(&entry)?;
                    f.write_char(';')?;
                }
                Ok(())
            }
        }
    }
}

/// A notice that is not one of ours (another version, or garbage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoticeError;

impl Display for NoticeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed cluster notice")
    }
}

impl std::error::Error for NoticeError {}

impl FromStr for Notice {
    type Err = NoticeError;

    fn from_str(payload: &str) -> Result<Self, NoticeError> {
        let mut parts = payload.splitn(4, '|');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("p"), Some(replica), None, None) => Ok(Notice::Ping {
                replica: replica.to_owned(),
            }),
            (Some("a"), Some(revision), Some(replica), None) => Ok(Notice::Ack {
                revision: revision.to_owned(),
                replica: replica.to_owned(),
            }),
            (Some(tag), Some(revision), Some(origin), Some(list)) => Ok(Notice::Change {
                revision: revision.to_owned(),
                origin: origin.to_owned(),
                change: Change::parse(tag, list)?,
            }),
            _ => Err(NoticeError),
        }
    }
}

/// A revocation's changes, in the order every replica applies them:
/// users, signing keys, environments, scheduled, dead (always present:
/// it is what replicas acknowledge).
pub fn changes(revocation: &Revocation) -> Vec<Change> {
    let mut out = Vec::new();
    if !revocation.users().is_empty() {
        out.push(Change::Users(revocation.users().to_vec()));
    }
    if !revocation.signing_keys().is_empty() {
        out.push(Change::SigningKeys(revocation.signing_keys().to_vec()));
    }
    if !revocation.rooms().is_empty() {
        out.push(Change::Rooms(revocation.rooms().to_vec()));
    }
    if !revocation.deleted_environments().is_empty() {
        out.push(Change::Environments(
            revocation.deleted_environments().to_vec(),
        ));
    }
    if !revocation.scheduled().is_empty() {
        out.push(Change::Scheduled(revocation.scheduled().to_vec()));
    }
    out.push(Change::Dead(revocation.dead().to_vec()));
    out
}

/// `changes` as notices of `revision` by `origin`, each at most
/// `max_payload` bytes long (a change too long for one is split; an entry
/// is never split).
pub fn notices(
    revision: &str,
    origin: &str,
    changes: &[Change],
    max_payload: usize,
) -> Vec<Notice> {
    let mut out = Vec::new();
    for change in changes {
        let head = change.tag().len() + revision.len() + origin.len() + 3;
        let entries = change.entries();
        let mut start = 0;
        let mut len = head;
        for (i, entry) in entries.iter().enumerate() {
            if len + entry.len() + 1 > max_payload && i > start {
                out.push(notice(revision, origin, change.with(start..i)));
                start = i;
                len = head;
            }
            len += entry.len() + 1;
        }
        out.push(notice(revision, origin, change.with(start..entries.len())));
    }
    out
}

fn notice(revision: &str, origin: &str, change: Change) -> Notice {
    Notice::Change {
        revision: revision.to_owned(),
        origin: origin.to_owned(),
        change,
    }
}

/// Applies one change to this process's caches: the same for the replica
/// that made it and every replica that hears of it.
pub async fn apply(index: &KeyIndex, tokens: &TokenService, change: &Change) {
    match change {
        Change::Users(users) => index.revoke_users(users),
        Change::SigningKeys(keys) => {
            tokens.revoke(keys);
            // Remembered decisions made with those keys' tokens end.
            index.invalidate_decisions();
        }
        Change::Rooms(rooms) => index.evict_rooms(rooms),
        Change::Environments(environments) => {
            for environment in environments {
                tokens.forget(environment).await;
            }
        }
        Change::Scheduled(list) => index.evict(list).await,
        Change::Dead(list) => index.kill(list).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_]{1,24}"
    }

    fn user_id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_.:@-]{1,32}"
    }

    fn credential() -> impl Strategy<Value = DeadCredential> {
        (id(), "[0-9a-f]{64}").prop_map(|(id, hex)| DeadCredential {
            id,
            hash: CredentialHash::from_hex(&hex).unwrap(),
        })
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            prop::collection::vec(
                (id(), user_id(), any::<i64>()).prop_map(|(e, u, n)| UserRevocation {
                    environment_id: e,
                    user_id: u,
                    not_before: n,
                }),
                0..20
            )
            .prop_map(Change::Users),
            prop::collection::vec(
                (id(), id()).prop_map(|(e, k)| RevokedSigningKey {
                    environment_id: e,
                    kid: k,
                }),
                0..20
            )
            .prop_map(Change::SigningKeys),
            prop::collection::vec(
                (id(), user_id()).prop_map(|(e, r)| RoomChange {
                    environment_id: e,
                    room_id: r,
                }),
                0..20
            )
            .prop_map(Change::Rooms),
            prop::collection::vec(id().prop_map(EnvironmentId::from_stored), 0..20)
                .prop_map(Change::Environments),
            prop::collection::vec(credential(), 0..20).prop_map(Change::Scheduled),
            prop::collection::vec(credential(), 0..20).prop_map(Change::Dead),
        ]
    }

    fn notice() -> impl Strategy<Value = Notice> {
        prop_oneof![
            id().prop_map(|replica| Notice::Ping { replica }),
            (id(), id()).prop_map(|(revision, replica)| Notice::Ack { revision, replica }),
            (id(), id(), change()).prop_map(|(revision, origin, change)| Notice::Change {
                revision,
                origin,
                change
            }),
        ]
    }

    proptest! {
        #[test]
        fn notices_round_trip(n in notice()) {
            let text = n.to_string();
            prop_assert_eq!(text.parse::<Notice>(), Ok(n));
        }

        #[test]
        fn split_notices_fit_and_keep_every_entry(changes in prop::collection::vec(change(), 1..4)) {
            let notices = notices("rev.1", "me", &changes, 300);
            let mut entries = Vec::new();
            for n in &notices {
                let text = n.to_string();
                let Notice::Change { change, .. } = text.parse::<Notice>().unwrap() else {
                    panic!("a change");
                };
                // Only a single entry may exceed the limit on its own.
                prop_assert!(text.len() <= 300 || change.entries().len() == 1, "{}", text);
                entries.extend(change.entries());
            }
            let expected: Vec<String> = changes.iter().flat_map(Change::entries).collect();
            prop_assert_eq!(entries, expected);
        }
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "x",
            "p",
            "a|1",
            "r|1|me|nohash;",
            "u|1|me|env,user;",
            "z|1|me|",
        ] {
            assert_eq!(bad.parse::<Notice>(), Err(NoticeError), "{bad:?}");
        }
    }
}
