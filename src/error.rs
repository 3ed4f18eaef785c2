//! The one error type, and its one mapping to `tonic::Status`.
//!
//! Messages are short, lowercase and never contain a credential: handlers
//! build errors from field names and fixed text only. Internal details are
//! logged here (at the one place errors leave the service) and replaced by a
//! generic message for the client.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// The message of every authentication failure: one generic text, so a
/// caller learns nothing about why (unknown, revoked, malformed…).
pub const INVALID_CREDENTIALS: &str = "invalid credentials";

/// Everything that can go wrong in a request.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// One or more request fields are invalid: (field, description).
    #[error("invalid argument")]
    InvalidArgument(Vec<(String, String)>),
    /// No usable credential.
    #[error("{INVALID_CREDENTIALS}")]
    Unauthenticated,
    /// A valid credential that may not call this RPC or touch this resource.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The resource does not exist in the caller's tenant (or at all).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A resource with this id already exists in the caller's tenant.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The request conflicts with the resource's state.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// Too many requests.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// A concurrent change won (a serialization failure or deadlock that
    /// outlasted the write helper's retries); nothing was written.
    #[error("aborted: {0}")]
    Aborted(String),
    /// The database cannot be reached; nothing was written.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected database error.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![(field.into(), description.into())])
    }

    /// The gRPC code's name in snake case, for metric labels.
    pub fn code_name(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "invalid_argument",
            Error::Unauthenticated => "unauthenticated",
            Error::PermissionDenied(_) => "permission_denied",
            Error::NotFound(_) => "not_found",
            Error::AlreadyExists(_) => "already_exists",
            Error::FailedPrecondition(_) => "failed_precondition",
            Error::ResourceExhausted(_) => "resource_exhausted",
            Error::Aborted(_) => "aborted",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// An unexpected failure; the detail is logged, never returned.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Error::Internal(detail.to_string())
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Error::AlreadyExists("resource");
        }
        if is_unavailable(&err) {
            return Error::Unavailable(err.to_string());
        }
        if with_code(&err, conflict_code).unwrap_or(false) {
            return Error::Aborted(err.to_string());
        }
        if is_data_error(&err) {
            // A value the database refuses (PostgreSQL SQLSTATE class 22,
            // SQLite MISMATCH/TOOBIG): the request's fault, never an outage
            // to retry. Validation should catch these first; log the detail.
            tracing::debug!(error = %err, "value refused by the database");
            return Error::invalid("request", "contains a value that cannot be stored");
        }
        Error::Internal(err.to_string())
    }
}

/// The database's own error code, tagged with whose code it is: SQLite's
/// numeric result codes and PostgreSQL's SQLSTATEs overlap as strings
/// ("22021", a NUL byte in text, is also SQLite's BUSY in its low byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DbCode<'a> {
    /// An (extended) SQLite result code.
    Sqlite(u32),
    /// A PostgreSQL SQLSTATE.
    Postgres(&'a str),
}

fn with_code<T>(err: &DbErr, f: impl FnOnce(DbCode<'_>) -> T) -> Option<T> {
    use sea_orm::sqlx::Error as Sqlx;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let Sqlx::Database(db) = &**e else {
        return None;
    };
    let code = db.code()?;
    if db
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        Some(f(DbCode::Sqlite(code.parse().ok()?)))
    } else {
        Some(f(DbCode::Postgres(&code)))
    }
}

/// Whether a database error means "cannot reach the database" rather than
/// "the statement failed".
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                Sqlx::Io(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
                | Sqlx::Tls(_) => true,
                Sqlx::Database(_) => with_code(err, unavailable_code).unwrap_or(false),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether the database refused a value of the request.
fn is_data_error(err: &DbErr) -> bool {
    with_code(err, data_code).unwrap_or(false)
}

/// Database error codes that mean "the database cannot serve this now"
/// (retryable), not "this statement is wrong".
pub(crate) fn unavailable_code(code: DbCode<'_>) -> bool {
    match code {
        // The primary code is the low byte: BUSY 5, LOCKED 6, READONLY 8,
        // IOERR 10, FULL 13, CANTOPEN 14.
        DbCode::Sqlite(n) => matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14),
        // Connection exceptions (08…), insufficient resources such as a
        // full disk (53…), operator intervention such as shutdown (57P…),
        // read-only transaction (25006).
        DbCode::Postgres(s) => {
            s.starts_with("08") || s.starts_with("53") || s.starts_with("57P") || s == "25006"
        }
    }
}

/// Whether the database itself answered with an error code (rather than
/// the connection failing): then it also says whether a COMMIT happened.
pub(crate) fn is_database_answer(err: &DbErr) -> bool {
    with_code(err, |_| ()).is_some()
}

/// Database error codes of a lost race between transactions, which a
/// retry of the whole transaction resolves: PostgreSQL serialization
/// failure (40001) and deadlock (40P01).
pub(crate) fn conflict_code(code: DbCode<'_>) -> bool {
    matches!(code, DbCode::Postgres("40001" | "40P01"))
}

/// Database error codes that mean "this value cannot be stored": SQLite
/// TOOBIG 18 and MISMATCH 20; PostgreSQL data exceptions (class 22).
pub(crate) fn data_code(code: DbCode<'_>) -> bool {
    match code {
        DbCode::Sqlite(n) => matches!(n & 0xff, 18 | 20),
        DbCode::Postgres(s) => s.starts_with("22"),
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(violations) => {
                let summary = violations
                    .iter()
                    .map(|(f, d)| format!("{f} {d}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|(f, d)| FieldViolation::new(f, d))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, summary, details)
            }
            Error::Unauthenticated => Status::unauthenticated(INVALID_CREDENTIALS),
            Error::PermissionDenied(why) => Status::permission_denied(why),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::AlreadyExists(what) => Status::already_exists(format!("{what} already exists")),
            Error::FailedPrecondition(why) => Status::failed_precondition(why),
            Error::ResourceExhausted(why) => Status::resource_exhausted(why),
            Error::Aborted(detail) => {
                tracing::warn!(error = %detail, "transaction aborted by a concurrent one");
                Status::aborted("aborted by a concurrent change, retry")
            }
            Error::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                Status::unavailable("database unavailable, retry later")
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// Result with the service's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_never_unavailability() {
        // 22021 (NUL in text) parsed as a number has SQLite BUSY's low byte.
        for sqlstate in ["22021", "22001", "22P02", "23505", "23503"] {
            assert!(!unavailable_code(DbCode::Postgres(sqlstate)), "{sqlstate}");
        }
        assert!(data_code(DbCode::Postgres("22021")));
        assert!(!data_code(DbCode::Postgres("23505")));
        assert!(unavailable_code(DbCode::Postgres("57P01")));
        assert!(unavailable_code(DbCode::Postgres("08006")));
        assert!(unavailable_code(DbCode::Sqlite(5)));
        assert!(unavailable_code(DbCode::Sqlite(261))); // BUSY_RECOVERY
        assert!(!unavailable_code(DbCode::Sqlite(19))); // CONSTRAINT
        assert!(!unavailable_code(DbCode::Sqlite(2067))); // CONSTRAINT_UNIQUE
        assert!(data_code(DbCode::Sqlite(20)));
    }
}
