//! Which credentials each RPC accepts, decided from the request path before
//! the handler runs. One table, so a new RPC cannot silently go unguarded:
//! anything under `pulse.v1` not listed needs a full environment credential.

/// What an RPC requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// No credential (health, reflection, unknown paths that tonic answers
    /// with UNIMPLEMENTED).
    Public,
    /// An admin token.
    Admin,
    /// A secret key.
    Secret,
    /// A secret key, or a publishable key with or without a user token
    /// (public signing keys are public).
    SecretOrPublishable,
    /// A secret key, or a publishable key with a user token.
    Environment,
}

/// The policy of a gRPC path (`/package.Service/Method`).
pub fn for_path(path: &str) -> Policy {
    let Some(rest) = path.strip_prefix("/pulse.v1.") else {
        return Policy::Public;
    };
    let (service, method) = rest.split_once('/').unwrap_or((rest, ""));
    match (service, method) {
        ("AccountService" | "EnvironmentService" | "AuditService", _) => Policy::Admin,
        // Destroying other users' content and enumerating the user
        // directory are backend operations (see the proto comments).
        ("AuthService", "MintUserToken")
        | ("RoomService", "DeleteRoom")
        | ("UserService", "ListUsers") => Policy::Secret,
        ("AuthService", "ListSigningKeys") => Policy::SecretOrPublishable,
        _ => Policy::Environment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(for_path("/grpc.health.v1.Health/Check"), Policy::Public);
        assert_eq!(
            for_path("/pulse.v1.EnvironmentService/RotateKeys"),
            Policy::Admin
        );
        assert_eq!(
            for_path("/pulse.v1.AuthService/MintUserToken"),
            Policy::Secret
        );
        assert_eq!(
            for_path("/pulse.v1.AuthService/WhoAmI"),
            Policy::Environment
        );
        assert_eq!(
            for_path("/pulse.v1.RoomService/GetRoom"),
            Policy::Environment
        );
        assert_eq!(for_path("/pulse.v1.Unknown"), Policy::Environment);
        assert_eq!(for_path("/pulse.v1.RoomService/DeleteRoom"), Policy::Secret);
        assert_eq!(for_path("/pulse.v1.UserService/ListUsers"), Policy::Secret);
        assert_eq!(
            for_path("/pulse.v1.UserService/GetUser"),
            Policy::Environment
        );
    }
}
