//! Tenant scopes: the only way into tenant data. The store's handles
//! (`Store::account`, `Store::environment`) take one, so a query without a
//! tenant cannot be written.
//!
//! A scope is a capability: it is built by `crate::auth` alone, from a
//! resolved credential (or, for an admin browsing an environment, after the
//! store confirmed the environment belongs to the admin's account). The
//! constructors are crate-private, so nothing outside the crate can make
//! one, and `tests/layers.rs` fails if code outside `src/auth/` calls them.
//!
//! ```compile_fail
//! // Outside the crate no scope can be made from a request's text.
//! let scope = pulse::domain::scope::AccountScope::grant(
//!     pulse::domain::ids::AccountId::from_stored("acct_x".into()),
//! );
//! ```

use super::ids::{AccountId, EnvironmentId};
use super::roles::Environments;

/// The account an admin credential resolved to, and which of its
/// environments the credential may see (team access: a scoped member or
/// token). The store applies both in every query it makes through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountScope {
    account_id: AccountId,
    environments: Environments,
}

impl AccountScope {
    /// `environments` of the account (all of it, or some). Called only by
    /// `crate::auth` (checked by `tests/layers.rs`).
    pub(crate) fn grant_scoped(account_id: AccountId, environments: Environments) -> Self {
        Self {
            account_id,
            environments,
        }
    }

    /// The account's id.
    pub fn account_id(&self) -> &AccountId {
        &self.account_id
    }

    /// The environments in scope.
    pub fn environments(&self) -> &Environments {
        &self.environments
    }
}

/// The environment an environment credential resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentScope {
    account_id: AccountId,
    environment_id: EnvironmentId,
}

impl EnvironmentScope {
    /// Called only by `crate::auth` (checked by `tests/layers.rs`).
    pub(crate) fn grant(account_id: AccountId, environment_id: EnvironmentId) -> Self {
        Self {
            account_id,
            environment_id,
        }
    }

    /// The environment's account.
    pub fn account_id(&self) -> &AccountId {
        &self.account_id
    }

    /// The environment's id.
    pub fn environment_id(&self) -> &EnvironmentId {
        &self.environment_id
    }
}
