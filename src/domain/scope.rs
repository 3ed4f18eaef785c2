//! Tenant scopes. Every store query that reads or writes tenant data takes
//! one of these as a parameter, so a query without a tenant cannot be
//! written. They are built only by the auth layer from a resolved
//! credential (the constructors are crate-private), never from a request body.

/// The account an admin token resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountScope {
    account_id: String,
}

impl AccountScope {
    /// Only the auth layer and bootstrap code build scopes.
    pub(crate) fn new(account_id: String) -> Self {
        Self { account_id }
    }

    /// The account's id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// For benchmarks that call the store directly; never used by the server.
    #[doc(hidden)]
    pub fn new_for_bench(account_id: String) -> Self {
        Self { account_id }
    }
}

/// The environment an environment credential resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentScope {
    account_id: String,
    environment_id: String,
}

impl EnvironmentScope {
    /// Only the auth layer and admin handlers (after checking that the
    /// environment belongs to the admin's account) build scopes.
    pub(crate) fn new(account_id: String, environment_id: String) -> Self {
        Self {
            account_id,
            environment_id,
        }
    }

    /// The environment's account.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The environment's id.
    pub fn environment_id(&self) -> &str {
        &self.environment_id
    }

    /// For benchmarks that call the store directly; never used by the server.
    #[doc(hidden)]
    pub fn new_for_bench(account_id: String, environment_id: String) -> Self {
        Self {
            account_id,
            environment_id,
        }
    }
}
