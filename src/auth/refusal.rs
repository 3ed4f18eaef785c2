//! Why the auth layer refused a request, as one value.
//!
//! The place that finds the reason says it ([`Refusal`]); the metric label
//! ([`Refusal::label`]) and the caller's `Status` ([`Refusal::status`]) are
//! both made from it here, so they cannot disagree, and the headers are
//! never read again to guess the reason afterwards. The caller of a
//! credential that does not work always gets the one generic
//! UNAUTHENTICATED ("invalid credentials"), whatever the reason: the labels
//! are for operators, in metrics and logs only.

use std::time::Duration;

use tonic::Status;

use crate::error::Error;

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// No credential header at all.
    Missing,
    /// A credential header that cannot hold one of our credentials (not
    /// `Bearer …`, not ASCII, wrong shape or checksum, given twice).
    Malformed,
    /// A publishable key as a bearer credential: it authenticates nobody.
    PublishableKeyAlone,
    /// A well-formed credential that is unknown, revoked or expired (or a
    /// publishable key alone where a user is needed).
    UnknownOrRevoked,
    /// A publishable key with a user token that does not work with it.
    BadUserToken,
    /// A working key used from outside its allowed networks.
    NotAllowedNetwork,
    /// The peer is over its failed-authentication quota (or credential
    /// lookups are capped): retry after this long.
    RateLimited(Duration),
    /// A working credential that may not call this RPC.
    PermissionDenied(String),
    /// The check itself failed (e.g. the database is unreachable).
    Failed(Error),
}

impl Refusal {
    /// The `reason` label of `pulse_auth_failures_total`; `None` for a
    /// failure of the check itself (counted by the RPC metrics).
    pub fn label(&self) -> Option<&'static str> {
        Some(match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::PublishableKeyAlone => "publishable_key_alone",
            Refusal::UnknownOrRevoked => "unknown_or_revoked",
            Refusal::BadUserToken => "bad_user_token",
            Refusal::NotAllowedNetwork => "not_allowed_network",
            Refusal::RateLimited(_) => "rate_limited",
            Refusal::PermissionDenied(_) => "permission_denied",
            Refusal::Failed(_) => return None,
        })
    }

    /// Whether this refusal counts against the peer's failure quota (every
    /// credential that does not work, whatever the reason).
    pub fn is_failed_authentication(&self) -> bool {
        matches!(
            self,
            Refusal::Missing
                | Refusal::Malformed
                | Refusal::PublishableKeyAlone
                | Refusal::UnknownOrRevoked
                | Refusal::BadUserToken
                | Refusal::NotAllowedNetwork
        )
    }

    /// Whether the credential was well formed and went to the key index
    /// (whose database lookup was charged already if the peer was failing).
    pub fn looked_up(&self) -> bool {
        matches!(self, Refusal::UnknownOrRevoked)
    }

    /// What the caller gets.
    pub fn status(self) -> Status {
        match self {
            Refusal::RateLimited(wait) => too_many_failures(wait),
            Refusal::PermissionDenied(why) => Status::from(Error::PermissionDenied(why)),
            Refusal::Failed(error) => Status::from(error),
            _ => Status::from(Error::Unauthenticated),
        }
    }
}

impl From<Error> for Refusal {
    /// An error from below the layer (the key index, the token verifier):
    /// a credential that does not work is `UnknownOrRevoked` unless the
    /// caller knows better.
    fn from(error: Error) -> Self {
        match error {
            Error::Unauthenticated => Refusal::UnknownOrRevoked,
            Error::PermissionDenied(why) => Refusal::PermissionDenied(why),
            other => Refusal::Failed(other),
        }
    }
}

/// RESOURCE_EXHAUSTED with `retry-after` (whole seconds, at least 1).
fn too_many_failures(wait: Duration) -> Status {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut status = Status::resource_exhausted("too many failed authentications; retry later");
    if let Ok(value) = secs.to_string().parse() {
        status.metadata_mut().insert("retry-after", value);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn labels_and_statuses_agree() {
        let cases = [
            (Refusal::Missing, Some("missing"), Code::Unauthenticated),
            (Refusal::Malformed, Some("malformed"), Code::Unauthenticated),
            (
                Refusal::PublishableKeyAlone,
                Some("publishable_key_alone"),
                Code::Unauthenticated,
            ),
            (
                Refusal::UnknownOrRevoked,
                Some("unknown_or_revoked"),
                Code::Unauthenticated,
            ),
            (
                Refusal::BadUserToken,
                Some("bad_user_token"),
                Code::Unauthenticated,
            ),
            (
                Refusal::NotAllowedNetwork,
                Some("not_allowed_network"),
                Code::Unauthenticated,
            ),
            (
                Refusal::RateLimited(Duration::from_millis(1500)),
                Some("rate_limited"),
                Code::ResourceExhausted,
            ),
            (
                Refusal::PermissionDenied("requires rooms.write".into()),
                Some("permission_denied"),
                Code::PermissionDenied,
            ),
            (
                Refusal::Failed(Error::Unavailable("down".into())),
                None,
                Code::Unavailable,
            ),
        ];
        for (refusal, label, code) in cases {
            assert_eq!(refusal.label(), label, "{refusal:?}");
            let failed = refusal.is_failed_authentication();
            let status = refusal.status();
            assert_eq!(status.code(), code);
            if code == Code::Unauthenticated {
                // One generic message, whatever the reason.
                assert_eq!(status.message(), "invalid credentials");
                assert!(failed);
            }
        }
        let limited = Refusal::RateLimited(Duration::from_millis(1500)).status();
        assert_eq!(limited.metadata().get("retry-after").unwrap(), "2");
    }
}
