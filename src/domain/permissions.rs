//! What a restricted key (`rk_…`) may do: a set of `<resource>.<access>`
//! permissions. The RPC → permission table is declared in the protos
//! (`option (pulse.v1.permission)`) and enforced by the auth layer.

use crate::error::Error;

/// One permission. `write` implies the `read` of the same resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `rooms.read`: get and list rooms.
    RoomsRead,
    /// `rooms.write`: create and delete rooms.
    RoomsWrite,
    /// `comments.read`: list threads and comments.
    CommentsRead,
    /// `comments.write`: create threads and comments, edit and delete comments.
    CommentsWrite,
    /// `users.read`: get and list users.
    UsersRead,
    /// `tokens.write`: mint user tokens, revoke a user's tokens.
    TokensWrite,
    /// `events.read`: watch the environment's audit events.
    EventsRead,
}

impl Permission {
    /// Every permission, in canonical order.
    pub const ALL: [Permission; 7] = [
        Permission::RoomsRead,
        Permission::RoomsWrite,
        Permission::CommentsRead,
        Permission::CommentsWrite,
        Permission::UsersRead,
        Permission::TokensWrite,
        Permission::EventsRead,
    ];

    /// The API's name, e.g. `comments.write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::RoomsRead => "rooms.read",
            Permission::RoomsWrite => "rooms.write",
            Permission::CommentsRead => "comments.read",
            Permission::CommentsWrite => "comments.write",
            Permission::UsersRead => "users.read",
            Permission::TokensWrite => "tokens.write",
            Permission::EventsRead => "events.read",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The permissions that grant this one: itself, and the `write` of a
    /// `read`.
    fn granted_by(self) -> u8 {
        let implied = match self {
            Permission::RoomsRead => Permission::RoomsWrite.bit(),
            Permission::CommentsRead => Permission::CommentsWrite.bit(),
            _ => 0,
        };
        self.bit() | implied
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A restricted key's permissions, as granted (implied reads are not
/// added, so the key lists exactly what was asked for).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u8);

impl Permissions {
    /// Every permission.
    pub const ALL: Permissions = Permissions(0b111_1111);

    /// Checks a permission list from a request: not empty, every entry
    /// known (INVALID_ARGUMENT names the first bad one). Duplicates are
    /// harmless.
    pub fn parse(field: &str, entries: &[String]) -> Result<Self, Error> {
        if entries.is_empty() {
            return Err(Error::invalid(
                field,
                "a restricted key needs at least one permission",
            ));
        }
        let mut bits = 0;
        for entry in entries {
            let permission = Permission::ALL
                .into_iter()
                .find(|p| p.as_str() == entry)
                .ok_or_else(|| {
                    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                    Error::invalid(
                        field,
                        format!("unknown permission {entry:?}; valid: {}", names.join(", ")),
                    )
                })?;
            bits |= permission.bit();
        }
        Ok(Self(bits))
    }

    /// The stored form (comma-separated names) back; unknown names are
    /// dropped (a name removed in a later version grants nothing).
    pub fn from_stored(stored: &str) -> Self {
        let bits = stored
            .split(',')
            .filter_map(|name| Permission::ALL.into_iter().find(|p| p.as_str() == name))
            .fold(0, |bits, p| bits | p.bit());
        Self(bits)
    }

    /// The stored form: names in canonical order, comma-separated.
    pub fn to_stored(self) -> String {
        self.names().collect::<Vec<_>>().join(",")
    }

    /// The granted names, in canonical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.0 & p.bit() != 0)
            .map(Permission::as_str)
    }

    /// Whether `permission` is granted (directly, or implied by a write).
    pub fn allows(self, permission: Permission) -> bool {
        self.0 & permission.granted_by() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: &[&str]) -> Result<Permissions, Error> {
        let owned: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        Permissions::parse("permissions", &owned)
    }

    #[test]
    fn write_implies_read_only_of_its_resource() {
        let p = parse(&["comments.write"]).unwrap();
        assert!(p.allows(Permission::CommentsWrite));
        assert!(p.allows(Permission::CommentsRead));
        assert!(!p.allows(Permission::RoomsRead));
        assert!(!p.allows(Permission::TokensWrite));
        let r = parse(&["rooms.read"]).unwrap();
        assert!(r.allows(Permission::RoomsRead));
        assert!(!r.allows(Permission::RoomsWrite));
    }

    #[test]
    fn bad_lists_name_the_entry() {
        assert!(parse(&[]).is_err());
        let err = parse(&["rooms.read", "rooms.delete"]).unwrap_err();
        assert!(format!("{err:?}").contains("rooms.delete"), "{err:?}");
        assert!(parse(&["users.write"]).is_err());
        assert!(parse(&[""]).is_err());
    }

    #[test]
    fn stored_form_round_trips() {
        for p in Permission::ALL {
            let set = parse(&[p.as_str()]).unwrap();
            assert_eq!(Permissions::from_stored(&set.to_stored()), set);
        }
        let all = Permissions::ALL;
        assert_eq!(Permissions::from_stored(&all.to_stored()), all);
        assert_eq!(
            Permissions::from_stored("rooms.read,gone.read").to_stored(),
            "rooms.read"
        );
    }
}
