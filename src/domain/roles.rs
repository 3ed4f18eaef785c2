//! Roles and environment scopes on the admin plane (team access).
//!
//! A [`Role`] is ordered (owner > admin > developer > viewer): a role may
//! do what every lower one may. A [`Grant`] is what an admin credential (an
//! admin token or a member's session) carries: its role and the
//! environments it may see ([`Environments`]). The no-escalation rules live
//! here, as pure functions, so the admin-token and member paths share them.

use std::sync::Arc;

use crate::error::{Error, Result};

/// What a member or admin token may do, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads only.
    Viewer,
    /// Reads everything; manages environments' keys; never deletes.
    Developer,
    /// Everything except granting, changing or removing owners.
    Admin,
    /// Everything.
    Owner,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Developer, Role::Admin, Role::Owner];

    /// The stored (and audited) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// A stored name; an unknown one reads as the least role (a row we
    /// cannot read grants nothing more).
    pub fn from_stored(value: &str) -> Self {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == value)
            .unwrap_or(Role::Viewer)
    }

    /// The proto enum value.
    pub fn to_pb(self) -> crate::pb::Role {
        match self {
            Role::Viewer => crate::pb::Role::Viewer,
            Role::Developer => crate::pb::Role::Developer,
            Role::Admin => crate::pb::Role::Admin,
            Role::Owner => crate::pb::Role::Owner,
        }
    }

    /// A request's role field: `None` for ROLE_UNSPECIFIED, INVALID_ARGUMENT
    /// for a number that is no role.
    pub fn from_request(field: &str, value: i32) -> Result<Option<Self>> {
        match crate::pb::Role::try_from(value) {
            Ok(crate::pb::Role::Unspecified) => Ok(None),
            Ok(crate::pb::Role::Viewer) => Ok(Some(Role::Viewer)),
            Ok(crate::pb::Role::Developer) => Ok(Some(Role::Developer)),
            Ok(crate::pb::Role::Admin) => Ok(Some(Role::Admin)),
            Ok(crate::pb::Role::Owner) => Ok(Some(Role::Owner)),
            Err(_) => Err(Error::invalid(field, "unknown role")),
        }
    }

    /// The proto role an RPC declares, as a domain role.
    pub fn from_pb(role: crate::pb::Role) -> Self {
        match role {
            crate::pb::Role::Owner => Role::Owner,
            crate::pb::Role::Admin => Role::Admin,
            crate::pb::Role::Developer => Role::Developer,
            crate::pb::Role::Viewer => Role::Viewer,
            // The build refuses UNSPECIFIED on an admin RPC; the least
            // role is not the safe reading, so demand the most.
            crate::pb::Role::Unspecified => Role::Owner,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environments an admin credential may see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Environments {
    /// The whole account: today's environments and future ones.
    #[default]
    All,
    /// Only these (sorted, distinct, never empty).
    Only(Arc<[String]>),
}

/// Most environments one scope may name.
pub const MAX_SCOPE_ENVIRONMENTS: usize = 100;

impl Environments {
    /// Read back from a stored comma-separated list (`None` or empty: all).
    pub fn from_stored(value: Option<&str>) -> Self {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Environments::All,
            Some(list) => Self::from_ids(list.split(',').map(str::to_owned)),
        }
    }

    /// A scope of exactly these ids (empty: all).
    pub fn from_ids(ids: impl IntoIterator<Item = String>) -> Self {
        let set: std::collections::BTreeSet<String> = ids.into_iter().collect();
        if set.is_empty() {
            Environments::All
        } else {
            Environments::Only(set.into_iter().collect::<Vec<_>>().into())
        }
    }

    /// The stored form: `None` for all.
    pub fn to_stored(&self) -> Option<String> {
        match self {
            Environments::All => None,
            Environments::Only(ids) => Some(ids.join(",")),
        }
    }

    /// The ids, as in the proto (empty: all).
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Environments::All => Vec::new(),
            Environments::Only(ids) => ids.to_vec(),
        }
    }

    /// Whether `environment_id` is in scope.
    pub fn contains(&self, environment_id: &str) -> bool {
        match self {
            Environments::All => true,
            Environments::Only(ids) => ids
                .binary_search_by(|i| i.as_str().cmp(environment_id))
                .is_ok(),
        }
    }

    /// Whether every environment of `other` is in this scope.
    pub fn covers(&self, other: &Environments) -> bool {
        match (self, other) {
            (Environments::All, _) => true,
            (Environments::Only(_), Environments::All) => false,
            (Environments::Only(_), Environments::Only(theirs)) => {
                theirs.iter().all(|id| self.contains(id))
            }
        }
    }

    /// Whether this is the whole account.
    pub fn is_all(&self) -> bool {
        matches!(self, Environments::All)
    }
}

/// What an admin credential may do and see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Its role.
    pub role: Role,
    /// Its environments.
    pub environments: Environments,
}

/// The member a session acts for, as read when the session was loaded
/// (re-read whenever the member's role, scope or second factor changes):
/// who the audit log names, and what `GetCaller` shows without a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberIdentity {
    /// `mem_…`.
    pub id: crate::domain::ids::MemberId,
    /// The member's normalised email (`details.actor_email`).
    pub email: String,
    /// The member's name.
    pub display_name: String,
    /// When the member was invited, µs.
    pub create_time: i64,
    /// The member's last sign-in, µs.
    pub last_sign_in_time: Option<i64>,
    /// Whether sign-in asks for a code.
    pub totp_enabled: bool,
}

/// The account of an admin credential, as read when it was loaded
/// (accounts are never renamed): `GetCaller` answers without a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProfile {
    /// The account's name.
    pub display_name: String,
    /// When it was created, µs.
    pub create_time: i64,
}

impl Grant {
    /// Everything: owners of the whole account (tokens made before roles).
    pub fn owner() -> Self {
        Self {
            role: Role::Owner,
            environments: Environments::All,
        }
    }

    /// PERMISSION_DENIED naming the role needed, unless this grant has it.
    pub fn require(&self, needed: Role) -> Result<()> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "requires role {needed} (the caller is {})",
                self.role
            )))
        }
    }

    /// No escalation: may this grant hand out `role` over `environments`
    /// (to a new token or member, or as a change)? At most its own role,
    /// within its own scope; only an owner grants owner.
    pub fn may_grant(&self, role: Role, environments: &Environments) -> Result<()> {
        if role > self.role {
            return Err(Error::PermissionDenied(format!(
                "cannot grant role {role}: above the caller's ({})",
                self.role
            )));
        }
        if role == Role::Owner && self.role != Role::Owner {
            return Err(Error::PermissionDenied(
                "only an owner grants the owner role".into(),
            ));
        }
        if !self.environments.covers(environments) {
            return Err(Error::PermissionDenied(
                "cannot grant environments outside the caller's scope".into(),
            ));
        }
        Ok(())
    }

    /// May this grant change or remove someone who holds `theirs`? Only an
    /// owner touches an owner; nobody touches a role above its own or a
    /// scope beyond its own.
    pub fn may_manage(&self, theirs: &Grant) -> Result<()> {
        if theirs.role == Role::Owner && self.role != Role::Owner {
            return Err(Error::PermissionDenied(
                "only an owner changes or removes an owner".into(),
            ));
        }
        self.may_grant(theirs.role, &theirs.environments)
    }
}

/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A request's email, normalised (trimmed, lowercase) so that one address
/// is one member whatever its case. INVALID_ARGUMENT unless it looks like
/// `local@domain.tld` (no spaces or control characters, one `@`, a dot in
/// the domain): deliverability is the invitation's business.
pub fn parse_email(field: &str, value: &str) -> Result<String> {
    let email = value.trim().to_lowercase();
    let bad = |why: &str| Err(Error::invalid(field, why));
    if email.is_empty() {
        return bad("must not be empty");
    }
    if email.len() > MAX_EMAIL_LEN {
        return bad("must be at most 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad("must be an email address (local@domain)");
    };
    let labels_ok = domain.split('.').all(|l| !l.is_empty());
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return bad("must be an email address (local@domain)");
    }
    Ok(email)
}

/// A request's environment ids as a scope (empty: all), each checked.
pub fn parse_environments(field: &str, values: &[String]) -> Result<Environments> {
    if values.len() > MAX_SCOPE_ENVIRONMENTS {
        return Err(Error::invalid(field, "at most 100 environments"));
    }
    for value in values {
        crate::domain::ids::EnvironmentId::parse(field, value)?;
    }
    Ok(Environments::from_ids(values.iter().cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_and_refuse() {
        assert_eq!(
            parse_email("e", " Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "", "ada", "ada@", "@x.io", "a@b", "a b@x.io", "a@x..io", "a@b@x.io",
        ] {
            assert!(parse_email("e", bad).is_err(), "{bad:?}");
        }
        assert!(parse_email("e", &format!("{}@x.io", "a".repeat(260))).is_err());
    }

    fn only(ids: &[&str]) -> Environments {
        Environments::from_ids(ids.iter().map(|s| s.to_string()))
    }

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Developer);
        assert!(Role::Developer > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(Role::from_stored(role.as_str()), role);
            assert_eq!(Role::from_pb(role.to_pb()), role);
        }
        assert_eq!(Role::from_stored("emperor"), Role::Viewer);
        assert!(Role::from_request("role", 99).is_err());
        assert_eq!(Role::from_request("role", 0).unwrap(), None);
    }

    #[test]
    fn scopes_cover_and_store() {
        let ab = only(&["env_b", "env_a", "env_a"]);
        assert_eq!(ab.to_stored().as_deref(), Some("env_a,env_b"));
        assert_eq!(Environments::from_stored(Some("env_a,env_b")), ab);
        assert!(Environments::from_stored(Some("")).is_all());
        assert!(Environments::All.covers(&ab));
        assert!(ab.covers(&only(&["env_a"])));
        assert!(!ab.covers(&Environments::All));
        assert!(!only(&["env_a"]).covers(&ab));
    }

    #[test]
    fn escalation_matrix() {
        let grant = |role, environments| Grant { role, environments };
        let admin = grant(Role::Admin, Environments::All);
        assert!(admin.may_grant(Role::Admin, &Environments::All).is_ok());
        assert!(admin.may_grant(Role::Owner, &Environments::All).is_err());
        let owner = Grant::owner();
        assert!(owner.may_grant(Role::Owner, &only(&["env_a"])).is_ok());
        let dev = grant(Role::Developer, only(&["env_a"]));
        assert!(dev.may_grant(Role::Developer, &only(&["env_a"])).is_ok());
        assert!(dev.may_grant(Role::Admin, &only(&["env_a"])).is_err());
        assert!(dev.may_grant(Role::Viewer, &only(&["env_b"])).is_err());
        assert!(dev.may_grant(Role::Viewer, &Environments::All).is_err());
        assert!(admin.may_manage(&Grant::owner()).is_err());
        assert!(owner.may_manage(&Grant::owner()).is_ok());
        assert!(dev.require(Role::Admin).is_err());
        assert!(dev.require(Role::Viewer).is_ok());
    }
}
