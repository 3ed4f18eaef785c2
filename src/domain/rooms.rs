//! Room access: carried by a user token (pattern → access, TOKEN mode)
//! or stored on the room (default, user and group entries, STORED mode).
//!
//! A pattern is a room id or a prefix ending in `*` (`design-*`, `*`). The
//! most specific match wins: an exact id over any prefix, a longer prefix
//! over a shorter one. A token without patterns opens every room.
//!
//! Matching is not a scan of the patterns: exact ids are one hash lookup,
//! prefixes one hash lookup per distinct prefix length (longest first), so
//! a 1,000-pattern token costs about what a 10-pattern one does.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;

use serde::{Deserialize, Serialize};

use crate::domain::names::{RESOURCE_ID_MAX, is_id_text};
use crate::error::Error;

/// Most patterns a token may carry.
pub const MAX_ROOM_PATTERNS: usize = 1000;

/// What a pattern or a stored entry grants, ordered: `Write` includes
/// `Read`; `None` opens nothing.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RoomAccess {
    /// Nothing (stored entries and defaults only; never in a token).
    #[default]
    None,
    /// Read the room, its threads and comments.
    Read,
    /// Also create the room, threads and comments.
    Write,
}

impl RoomAccess {
    /// The claim's value, `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomAccess::None => "none",
            RoomAccess::Read => "read",
            RoomAccess::Write => "write",
        }
    }

    /// As stored: 0 none, 1 read, 2 write.
    pub fn to_stored(self) -> i16 {
        match self {
            RoomAccess::None => 0,
            RoomAccess::Read => 1,
            RoomAccess::Write => 2,
        }
    }

    /// From the stored integer (anything unknown opens nothing).
    pub fn from_stored(value: i16) -> Self {
        match value {
            1 => RoomAccess::Read,
            2 => RoomAccess::Write,
            _ => RoomAccess::None,
        }
    }
}

/// How a user token's room access is decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum UserRooms {
    /// TOKEN mode without patterns: every room, read and write.
    #[default]
    Every,
    /// TOKEN mode: the token's patterns (claim `rooms`).
    Patterns(std::sync::Arc<RoomPolicy>),
    /// STORED mode (claim `room_access: "stored"`): the rooms' stored
    /// accesses, for the user and these groups (claim `groups`).
    Stored(std::sync::Arc<[Box<str>]>),
}

/// The claim value of STORED mode (`room_access`).
pub const STORED_CLAIM: &str = "stored";

/// Most groups a user token may carry.
pub const MAX_GROUPS: usize = 100;

/// Most user and group entries one room may hold.
pub const MAX_ROOM_ENTRIES: usize = 1000;

/// Checks user or group ids of room entries and tokens: each 1–128
/// characters of `[A-Za-z0-9_.:@-]` (the user-id charset).
pub fn check_subject_ids<'a>(
    field: &str,
    ids: impl IntoIterator<Item = &'a String>,
) -> Result<(), Error> {
    for id in ids {
        if id.is_empty() || id.len() > RESOURCE_ID_MAX || !is_id_text(id) {
            return Err(Error::invalid(
                field,
                format!(
                    "id {:?} must be 1-{RESOURCE_ID_MAX} characters of [A-Za-z0-9_.:@-]",
                    id.chars().take(140).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// Who a stored entry is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A user id.
    User(&'a str),
    /// A group id (the token's `groups` claim).
    Group(&'a str),
}

impl Subject<'_> {
    /// As stored: `u:<id>` or `g:<id>`.
    pub fn to_stored(self) -> String {
        match self {
            Subject::User(id) => format!("u:{id}"),
            Subject::Group(id) => format!("g:{id}"),
        }
    }

    /// From the stored form (`None` for anything else).
    pub fn from_stored(stored: &str) -> Option<Subject<'_>> {
        if let Some(id) = stored.strip_prefix("u:") {
            Some(Subject::User(id))
        } else {
            stored.strip_prefix("g:").map(Subject::Group)
        }
    }
}

/// A room's stored accesses, as STORED-mode tokens are decided by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomAcl {
    /// What every user may do.
    pub default: RoomAccess,
    /// Per-user entries.
    pub users: HashMap<Box<str>, RoomAccess>,
    /// Per-group entries.
    pub groups: HashMap<Box<str>, RoomAccess>,
}

impl RoomAcl {
    /// The highest of the default, the user's entry and the groups'
    /// entries.
    pub fn access<S: AsRef<str>>(&self, user: &str, groups: &[S]) -> RoomAccess {
        let mut best = self.default;
        if let Some(a) = self.users.get(user) {
            best = best.max(*a);
        }
        if best == RoomAccess::Write || self.groups.is_empty() {
            return best;
        }
        for group in groups {
            if let Some(a) = self.groups.get(group.as_ref()) {
                best = best.max(*a);
            }
        }
        best
    }

    /// Entries held (users and groups), for the per-room cap and cache
    /// weights.
    pub fn entries(&self) -> usize {
        self.users.len() + self.groups.len()
    }
}

/// The `rooms` claim as carried in a token (sorted, so a token's bytes do
/// not depend on map order).
pub type RoomClaim = BTreeMap<String, RoomAccess>;

/// Checks a request's pattern map: at most [`MAX_ROOM_PATTERNS`], each a
/// room id (1–128 of `[A-Za-z0-9_.:@-]`) or such a prefix (possibly empty)
/// followed by one `*`. INVALID_ARGUMENT names the bad pattern.
pub fn check_patterns(field: &str, patterns: &RoomClaim) -> Result<(), Error> {
    if patterns.len() > MAX_ROOM_PATTERNS {
        return Err(Error::invalid(
            field,
            format!(
                "at most {MAX_ROOM_PATTERNS} patterns (got {})",
                patterns.len()
            ),
        ));
    }
    for pattern in patterns.keys() {
        let (body, wildcard) = match pattern.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (pattern.as_str(), false),
        };
        if (body.is_empty() && !wildcard) || !is_id_text(body) {
            return Err(Error::invalid(
                field,
                format!(
                    "pattern {:?} must be a room id or a room-id prefix followed by one `*`",
                    pattern.chars().take(140).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// A token's room permissions, compiled for matching.
///
/// Prefixes are found by one pass over the room id: the rolling hashes of
/// all its prefixes are computed at once, then each distinct prefix length
/// (longest first) is one probe of a map keyed by that hash, and only a
/// hash hit compares bytes. So the cost grows with the id's length (at most
/// 128), not with the number of patterns, and no probe hashes a string.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoomPolicy {
    exact: HashMap<Box<str>, RoomAccess>,
    /// Rolling hash of a prefix → the prefixes with that hash.
    prefixes: HashMap<u64, Vec<(Box<str>, RoomAccess)>, ByHash>,
    /// Distinct prefix lengths, longest first.
    prefix_lens: Vec<usize>,
}

/// Polynomial rolling hash step (mod 2^64). Collisions cost a byte
/// comparison, never a wrong answer.
const ROLL: u64 = 0x100_0000_01b3;

fn roll(hash: u64, byte: u8) -> u64 {
    hash.wrapping_mul(ROLL).wrapping_add(u64::from(byte) + 1)
}

/// Maps keyed by a rolling hash use it as their hash.
type ByHash = BuildHasherDefault<Prehashed>;

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        // Spread the bits for the table's bucket choice.
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = roll(self.0, *b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

impl RoomPolicy {
    /// Compiles a claim; `None` for an empty one (every room).
    pub fn compile(claim: &RoomClaim) -> Option<Self> {
        if claim.is_empty() {
            return None;
        }
        let mut policy = RoomPolicy::default();
        for (pattern, access) in claim {
            match pattern.strip_suffix('*') {
                Some(prefix) => {
                    let hash = prefix.bytes().fold(0, roll);
                    policy
                        .prefixes
                        .entry(hash)
                        .or_default()
                        .push((prefix.into(), *access));
                    policy.prefix_lens.push(prefix.len());
                }
                None => {
                    policy.exact.insert(pattern.as_str().into(), *access);
                }
            }
        }
        policy.prefix_lens.sort_unstable_by(|a, b| b.cmp(a));
        policy.prefix_lens.dedup();
        Some(policy)
    }

    /// What the token may do in `room` (`None`: nothing).
    pub fn access(&self, room: &str) -> Option<RoomAccess> {
        if let Some(access) = self.exact.get(room) {
            return Some(*access);
        }
        if self.prefix_lens.is_empty() {
            return None;
        }
        // hashes[n] = hash of room[..n]; ids are at most 128 bytes (longer
        // ones match no pattern's hash table walk beyond that).
        let bytes = room.as_bytes();
        let mut hashes = [0u64; RESOURCE_ID_MAX + 1];
        let n = bytes.len().min(RESOURCE_ID_MAX);
        for i in 0..n {
            hashes[i + 1] = roll(hashes[i], bytes[i]);
        }
        self.prefix_lens
            .iter()
            .filter(|len| **len <= n)
            .find_map(|len| {
                let candidates = self.prefixes.get(&hashes[*len])?;
                candidates
                    .iter()
                    .find(|(prefix, _)| prefix.as_bytes() == &bytes[..*len])
                    .map(|(_, access)| *access)
            })
    }

    /// The patterns: exact room ids, and prefixes (without their `*`).
    pub fn patterns(&self) -> (Vec<&str>, Vec<&str>) {
        (
            self.exact.keys().map(|k| &**k).collect(),
            self.prefixes
                .values()
                .flatten()
                .map(|(prefix, _)| &**prefix)
                .collect(),
        )
    }

    /// Whether the token may do `needed` in `room`.
    pub fn allows(&self, room: &str, needed: RoomAccess) -> bool {
        self.access(room).is_some_and(|a| a >= needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(pairs: &[(&str, RoomAccess)]) -> RoomClaim {
        pairs.iter().map(|(p, a)| ((*p).to_owned(), *a)).collect()
    }

    #[test]
    fn most_specific_wins() {
        use RoomAccess::*;
        let p = RoomPolicy::compile(&claim(&[
            ("*", Read),
            ("design-*", Write),
            ("design-secret-*", Read),
            ("design-secret-x", Write),
        ]))
        .unwrap();
        assert_eq!(p.access("lobby"), Some(Read));
        assert_eq!(p.access("design-1"), Some(Write));
        assert_eq!(p.access("design-secret-1"), Some(Read));
        assert_eq!(p.access("design-secret-x"), Some(Write));
        assert_eq!(p.access(""), Some(Read));
        let narrow = RoomPolicy::compile(&claim(&[("a", Read)])).unwrap();
        assert_eq!(narrow.access("ab"), Option::None);
        assert!(!narrow.allows("a", Write));
        assert!(RoomPolicy::compile(&RoomClaim::new()).is_none());
    }

    #[test]
    fn stored_access_is_the_highest_that_applies() {
        use RoomAccess::*;
        let acl = RoomAcl {
            default: Read,
            users: [("alice".into(), Write), ("bob".into(), None)]
                .into_iter()
                .collect(),
            groups: [("eng".into(), Write), ("ops".into(), None)]
                .into_iter()
                .collect(),
        };
        assert_eq!(acl.access("alice", &[] as &[&str]), Write);
        // NONE never lowers: bob still has the default.
        assert_eq!(acl.access("bob", &["ops"]), Read);
        assert_eq!(acl.access("carol", &["eng"]), Write);
        assert_eq!(acl.access("carol", &["nope"]), Read);
        let closed = RoomAcl::default();
        assert_eq!(closed.access("alice", &["eng"]), None);
        assert!(None < Read && Read < Write);
        for a in [None, Read, Write] {
            assert_eq!(RoomAccess::from_stored(a.to_stored()), a);
        }
        assert_eq!(Subject::from_stored("g:eng"), Some(Subject::Group("eng")));
        assert_eq!(
            Subject::from_stored(&Subject::User("a:b").to_stored()),
            Some(Subject::User("a:b"))
        );
        assert!(check_subject_ids("g", &["ok-1".to_owned()]).is_ok());
        assert!(check_subject_ids("g", &["".to_owned()]).is_err());
        assert!(check_subject_ids("g", &["a b".to_owned()]).is_err());
    }

    #[test]
    fn patterns_are_checked() {
        use RoomAccess::*;
        assert!(check_patterns("p", &claim(&[("*", Read), ("a-*", Write), ("b", Read)])).is_ok());
        for bad in ["", "a*b", "**", "a b*", "é"] {
            assert!(
                check_patterns("p", &claim(&[(bad, Read)])).is_err(),
                "{bad:?}"
            );
        }
        let many: RoomClaim = (0..=MAX_ROOM_PATTERNS)
            .map(|i| (format!("r{i}"), Read))
            .collect();
        assert!(check_patterns("p", &many).is_err());
    }
}
