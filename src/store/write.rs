//! The one write path: [`Store::write`] and [`Store::write_revoking`].
//!
//! Every change to tenant data runs as a body given to one of these two
//! functions (the pattern of neon's storage controller `persistence.rs`).
//! They begin the transaction, run the body, queue the announcement of what
//! it revoked (see [`super::revocation`]), commit, and record the
//! operation's latency and outcome under a fixed-cardinality [`Op`] label.
//! This is the only place that opens a write transaction (start-up's
//! migration lock aside) and the only constructor of [`Revoked`].
//!
//! **Retries.** A body runs again, on a fresh transaction, when it failed
//! before the commit for a reason that is not the request's fault: SQLite
//! BUSY/LOCKED (another process holds the file), a PostgreSQL
//! serialization failure or deadlock (40001, 40P01), a read-only server
//! (25006: a standby after a failover) or a lost connection. Nothing of
//! the failed attempt was committed, so running the body again is safe —
//! bodies only talk to the database. A failed COMMIT is retried only when
//! the database *said* it did not commit (BUSY, 40001); a connection lost
//! during COMMIT leaves the outcome unknown, so it is returned as
//! UNAVAILABLE and never retried here (AIP-155 request ids make the
//! client's retry safe).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::{Duration, Instant};

use sea_orm::{DatabaseTransaction, DbErr, TransactionTrait};

use super::Store;
use super::revocation::{Pending, Revocation};
use crate::error::{Error, Result};

/// A boxed future borrowing the transaction for `'t`.
pub(super) type BoxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// Attempts per operation (the first and two retries).
const ATTEMPTS: u32 = 3;

/// No retry once an operation has taken this long: a pool that timed out
/// (5 s) or a database that is down would only make the caller wait more.
const RETRY_BUDGET: Duration = Duration::from_secs(2);

macro_rules! ops {
    ($($(#[$doc:meta])* $variant:ident => $label:literal,)*) => {
        /// What a write transaction does: the metric label of its latency
        /// and errors. A closed set, so label cardinality is fixed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $($(#[$doc])* $variant,)*
        }

        impl Op {
            /// Every operation, for metrics and tests.
            pub const ALL: &[Op] = &[$(Op::$variant,)*];

            /// The metric label, e.g. `create_room`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Op::$variant => $label,)*
                }
            }
        }
    };
}

ops! {
    /// `pulse account create` (and the first start's bootstrap).
    CreateAccount => "create_account",
    /// `pulse account token create`.
    RecoverAdminToken => "recover_admin_token",
    /// CreateAdminToken.
    CreateAdminToken => "create_admin_token",
    /// RevokeAdminToken.
    RevokeAdminToken => "revoke_admin_token",
    /// Last-use times of credentials.
    RecordUse => "record_use",
    /// CreateEnvironment.
    CreateEnvironment => "create_environment",
    /// UpdateEnvironment.
    RenameEnvironment => "rename_environment",
    /// DeleteEnvironment.
    DeleteEnvironment => "delete_environment",
    /// The expiry notice of a key about to expire.
    SendExpiryNotice => "send_expiry_notice",
    /// Per-key usage buckets.
    AddKeyUsage => "add_key_usage",
    /// RotateKeys.
    RotateKeys => "rotate_keys",
    /// CreateKey.
    CreateKey => "create_key",
    /// RevokeKey.
    RevokeKey => "revoke_key",
    /// InviteMember (and `pulse member invite`).
    InviteMember => "invite_member",
    /// AcceptInvite.
    AcceptInvite => "accept_invite",
    /// SignIn.
    CreateSession => "create_session",
    /// A TOTP code's step, against replays.
    UseTotpStep => "use_totp_step",
    /// UpdateMember.
    UpdateMember => "update_member",
    /// RemoveMember.
    RemoveMember => "remove_member",
    /// SignOut.
    EndSession => "end_session",
    /// EnrollTotp.
    SetTotpPending => "set_totp_pending",
    /// ConfirmTotp.
    ConfirmTotp => "confirm_totp",
    /// ChangePassword.
    ChangePassword => "change_password",
    /// CreateRoom.
    CreateRoom => "create_room",
    /// DeleteRoom.
    DeleteRoom => "delete_room",
    /// UpdateRoomAccess.
    UpdateRoomAccess => "update_room_access",
    /// The environment's signing key, created on first use.
    EnsureSigningKey => "ensure_signing_key",
    /// RotateSigningKey.
    RotateSigningKey => "rotate_signing_key",
    /// RevokeSigningKey.
    RevokeSigningKey => "revoke_signing_key",
    /// CreateThread.
    CreateThread => "create_thread",
    /// CreateComment.
    CreateComment => "create_comment",
    /// UpdateComment.
    UpdateComment => "update_comment",
    /// DeleteComment.
    DeleteComment => "delete_comment",
    /// RevokeUserTokens.
    RevokeUserTokens => "revoke_user_tokens",
    /// UpsertUser.
    UpsertUser => "upsert_user",
}

/// How a write ended, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Committed.
    Ok,
    /// Refused or failed: the error's gRPC code name, e.g. `not_found`.
    Error(&'static str),
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error(code) => code,
        }
    }
}

/// Receives each write's latency and outcome (implemented by
/// `crate::metrics::Metrics`): the store knows nothing of Prometheus.
pub trait WriteObserver: Send + Sync + std::fmt::Debug {
    /// One operation finished after `retries` retries.
    fn observe(&self, op: Op, elapsed: Duration, outcome: Outcome, retries: u32);
}

/// A write transaction handed to a body. The lifetime `'a` is the scope
/// the body borrows from (the store handle, the request's values): naming
/// it in the argument type (`&'t mut Tx<'a>`) lets the body's future
/// borrow both the transaction and that scope.
pub struct Tx<'a> {
    db: DatabaseTransaction,
    pending: Pending,
    _scope: PhantomData<&'a ()>,
}

impl Tx<'_> {
    /// The transaction, to run statements in.
    pub(super) fn db(&self) -> &DatabaseTransaction {
        &self.db
    }

    /// The transaction and the revocations collected so far, for bodies
    /// that make credentials stop working.
    pub(super) fn parts(&mut self) -> (&DatabaseTransaction, &mut Pending) {
        (&self.db, &mut self.pending)
    }
}

/// The result of a revoking change, held until the revocation is enforced.
#[must_use = "finish it with `Revoked::finish`, or the revoked credentials keep working in caches and on other replicas"]
#[derive(Debug)]
pub struct Revoked<T> {
    value: T,
    revocation: Revocation,
}

impl<T> Revoked<T> {
    /// Enforces the revocation, then returns the change's result.
    pub async fn finish(self, enforcer: &impl super::Enforcer) -> T {
        enforcer.enforce(&self.revocation).await;
        self.value
    }
}

impl Store {
    /// Runs `body` in a write transaction and commits (see the module docs
    /// for retries). For changes that revoke nothing.
    pub(super) async fn write<'a, T, F>(&'a self, op: Op, body: F) -> Result<T>
    where
        T: Send,
        F: for<'t> Fn(&'t mut Tx<'a>) -> BoxFuture<'t, Result<T>> + 'a,
    {
        let (value, revocation) = self.run(op, body).await?;
        debug_assert!(revocation.is_empty(), "{op:?} revoked through `write`");
        Ok(value)
    }

    /// Runs `body` in a write transaction, announces what it revoked (at
    /// commit, to other replicas) and commits; the result is reachable only
    /// by finishing the revocation.
    pub(super) async fn write_revoking<'a, T, F>(&'a self, op: Op, body: F) -> Result<Revoked<T>>
    where
        T: Send,
        F: for<'t> Fn(&'t mut Tx<'a>) -> BoxFuture<'t, Result<T>> + 'a,
    {
        let (value, revocation) = self.run(op, body).await?;
        Ok(Revoked { value, revocation })
    }

    async fn run<'a, T, F>(&'a self, op: Op, body: F) -> Result<(T, Revocation)>
    where
        T: Send,
        F: for<'t> Fn(&'t mut Tx<'a>) -> BoxFuture<'t, Result<T>> + 'a,
    {
        let started = Instant::now();
        let mut retries = 0;
        let result = loop {
            let attempt = self.attempt(&body).await;
            match attempt {
                Err(Failure::Safe(err))
                    if retries + 1 < ATTEMPTS && started.elapsed() < RETRY_BUDGET =>
                {
                    retries += 1;
                    tracing::debug!(op = op.as_str(), error = %err, retries, "write retried");
                    tokio::time::sleep(backoff(retries)).await;
                }
                Err(Failure::Safe(err) | Failure::Final(err)) => break Err(err),
                Ok(done) => break Ok(done),
            }
        };
        if let Some(observer) = &self.observer {
            let outcome = match &result {
                Ok(_) => Outcome::Ok,
                Err(err) => Outcome::Error(err.code_name()),
            };
            observer.observe(op, started.elapsed(), outcome, retries);
        }
        result
    }

    async fn attempt<'a, T, F>(&'a self, body: &F) -> Result<(T, Revocation), Failure>
    where
        T: Send,
        F: for<'t> Fn(&'t mut Tx<'a>) -> BoxFuture<'t, Result<T>> + 'a,
    {
        let db = self.write.begin().await.map_err(Failure::before_commit)?;
        let mut tx = Tx {
            db,
            pending: Pending::default(),
            _scope: PhantomData,
        };
        // On an error the transaction is dropped, which rolls it back.
        let value = body(&mut tx).await.map_err(Failure::from_body)?;
        let Tx { db, pending, .. } = tx;
        let revocation = self
            .announce(&db, pending)
            .await
            .map_err(Failure::from_body)?;
        db.commit().await.map_err(Failure::at_commit)?;
        Ok((value, revocation))
    }
}

/// A failed attempt: may the body run again?
enum Failure {
    /// Nothing was committed and the cause is transient.
    Safe(Error),
    /// The request's fault, or an unknown outcome.
    Final(Error),
}

impl Failure {
    fn before_commit(err: DbErr) -> Self {
        Self::from_body(err.into())
    }

    fn from_body(err: Error) -> Self {
        match err {
            Error::Unavailable(_) | Error::Aborted(_) => Failure::Safe(err),
            other => Failure::Final(other),
        }
    }

    fn at_commit(err: DbErr) -> Self {
        // Only an answer from the database says the commit did not happen.
        let said_no = crate::error::is_database_answer(&err);
        match Error::from(err) {
            err @ (Error::Unavailable(_) | Error::Aborted(_)) if said_no => Failure::Safe(err),
            err => Failure::Final(err),
        }
    }
}

/// The pause before retry `n` (1-based): 5 ms, 20 ms, with jitter so that
/// competing writers do not retry in lockstep.
fn backoff(n: u32) -> Duration {
    let base = Duration::from_millis(5 * 4u64.pow(n.saturating_sub(1)));
    let jitter = Duration::from_micros(u64::from(crate::domain::ids::random_bytes::<1>()[0]) * 20);
    base + jitter
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    use sea_orm::ConnectionTrait;

    use super::*;
    use crate::config::DatabaseSettings;

    /// Records what the helper reports.
    #[derive(Debug, Default)]
    struct Seen(Mutex<Vec<(Op, &'static str, u32)>>);

    impl WriteObserver for Seen {
        fn observe(&self, op: Op, _: Duration, outcome: Outcome, retries: u32) {
            self.0.lock().unwrap().push((op, outcome.as_str(), retries));
        }
    }

    /// A store on a real database of each backend, with a scratch table
    /// of its own (PostgreSQL: in the server of `PULSE_TEST_POSTGRES_URL`,
    /// or the tests' throwaway cluster).
    async fn stores() -> Vec<(Store, String, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let postgres = crate::server::in_process::pg::base_url();
        let table = format!(
            "pulse_write_test_{}",
            crate::domain::ids::random_bytes::<4>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut out = Vec::new();
        for (url, dir) in [(sqlite, Some(dir)), (postgres, None)] {
            let settings = DatabaseSettings {
                url: url.parse().unwrap(),
                max_connections: 4,
            };
            let store = Store::connect(&settings).await.expect("database answers");
            store
                .write
                .execute_unprepared(&format!("CREATE TABLE {table} (n INTEGER)"))
                .await
                .unwrap();
            out.push((store, table.clone(), dir));
        }
        out
    }

    #[tokio::test]
    #[cfg_attr(pulse_no_postgres, ignore = "no PostgreSQL installed")]
    async fn transient_failures_run_the_body_again_on_a_fresh_transaction() {
        for (store, table, _dir) in stores().await {
            let seen = Arc::new(Seen::default());
            let store = store.with_observer(seen.clone());
            let calls = AtomicU32::new(0);
            let insert = format!("INSERT INTO {table} (n) VALUES (1)");
            let (calls_ref, insert) = (&calls, &insert);
            let value = store
                .write(Op::CreateRoom, |w| {
                    Box::pin(async move {
                        w.db().execute_unprepared(insert).await?;
                        // The first attempt fails after writing: a lost
                        // connection. Its row must not survive.
                        if calls_ref.fetch_add(1, Ordering::SeqCst) == 0 {
                            return Err(Error::Unavailable("connection reset".into()));
                        }
                        Ok(7)
                    })
                })
                .await
                .unwrap();
            assert_eq!(value, 7);
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            let rows = store
                .read
                .query_one_raw(sea_orm::Statement::from_string(
                    store.backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap();
            assert_eq!(rows, 1, "the failed attempt was rolled back");
            assert_eq!(*seen.0.lock().unwrap(), vec![(Op::CreateRoom, "ok", 1)]);

            // The request's fault runs once and is reported with its code.
            let refused = AtomicU32::new(0);
            let refused_ref = &refused;
            let err = store
                .write(Op::DeleteRoom, |_| {
                    Box::pin(async move {
                        refused_ref.fetch_add(1, Ordering::SeqCst);
                        Err::<(), _>(Error::NotFound("room"))
                    })
                })
                .await
                .unwrap_err();
            assert!(matches!(err, Error::NotFound("room")));
            assert_eq!(refused.load(Ordering::SeqCst), 1);
            // A failure that lasts gives up after the attempts.
            let tries = AtomicU32::new(0);
            let tries_ref = &tries;
            let err = store
                .write(Op::CreateThread, |_| {
                    Box::pin(async move {
                        tries_ref.fetch_add(1, Ordering::SeqCst);
                        Err::<(), _>(Error::Aborted("40001".into()))
                    })
                })
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Aborted(_)));
            assert_eq!(tries.load(Ordering::SeqCst), ATTEMPTS);
            assert_eq!(
                seen.0.lock().unwrap()[1..],
                [
                    (Op::DeleteRoom, "not_found", 0),
                    (Op::CreateThread, "aborted", ATTEMPTS - 1)
                ]
            );
            store
                .write
                .execute_unprepared(&format!("DROP TABLE {table}"))
                .await
                .unwrap();
        }
    }

    #[test]
    fn labels_are_unique_and_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for op in Op::ALL {
            let label = op.as_str();
            assert!(seen.insert(label), "{label} twice");
            assert!(label.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn backoff_grows_and_stays_small() {
        assert!(backoff(1) < Duration::from_millis(11));
        assert!(backoff(2) >= Duration::from_millis(20));
        assert!(backoff(2) < Duration::from_millis(26));
    }
}
