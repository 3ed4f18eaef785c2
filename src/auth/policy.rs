//! Which credentials each RPC accepts, decided from the request path before
//! the handler runs. The table is the contract's: every RPC declares its
//! access in `proto/` (`option (pulse.v1.access) = …;`), `build.rs` turns
//! the options into [`ACCESS`] and fails the build on an RPC without one.
//! Likewise every RPC an environment credential may call declares what a
//! restricted key needs (`option (pulse.v1.permission) = …;` →
//! [`permission_of`]).
//! A `pulse.v1` path that is in no proto (tonic answers UNIMPLEMENTED)
//! still needs a full environment credential, so probing for RPCs
//! reveals nothing to the unauthenticated.

use crate::domain::permissions::Permission;
use crate::domain::roles::Role;
use crate::pb::Access;

include!(concat!(env!("OUT_DIR"), "/access_table.rs"));

/// What an RPC requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// No credential (health, reflection, paths outside `pulse.v1`).
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
    /// An admin token, or a secret key (its own environment).
    AdminOrSecret,
}

impl From<Access> for Policy {
    fn from(access: Access) -> Self {
        match access {
            Access::Admin => Policy::Admin,
            Access::Secret => Policy::Secret,
            Access::SecretOrPublishable => Policy::SecretOrPublishable,
            Access::AdminOrSecret => Policy::AdminOrSecret,
            // Signing in: the handler checks what it is given.
            Access::Public => Policy::Public,
            // The build refuses UNSPECIFIED; the strictest environment
            // policy is the safe reading anyway.
            Access::Environment | Access::Unspecified => Policy::Environment,
        }
    }
}

/// What a restricted key needs to call an RPC, from the protos'
/// `(pulse.v1.permission)` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any restricted key may call it (`PERMISSION_NONE`).
    Nothing,
    /// This permission.
    Permission(Permission),
    /// Nothing declared (a path in no proto, or an admin RPC): refused.
    Undeclared,
}

impl From<crate::pb::Permission> for Need {
    fn from(permission: crate::pb::Permission) -> Self {
        use crate::pb::Permission as P;
        match permission {
            P::None => Need::Nothing,
            P::RoomsRead => Need::Permission(Permission::RoomsRead),
            P::RoomsWrite => Need::Permission(Permission::RoomsWrite),
            P::CommentsRead => Need::Permission(Permission::CommentsRead),
            P::CommentsWrite => Need::Permission(Permission::CommentsWrite),
            P::UsersRead => Need::Permission(Permission::UsersRead),
            P::TokensWrite => Need::Permission(Permission::TokensWrite),
            P::EventsRead => Need::Permission(Permission::EventsRead),
            // The build refuses UNSPECIFIED.
            P::Unspecified => Need::Undeclared,
        }
    }
}

/// What a restricted key needs to call the RPC at `path`.
pub fn need_for_path(path: &str) -> Need {
    permission_of(path).map_or(Need::Undeclared, Need::from)
}

/// The least role an admin credential needs to call the RPC at `path`
/// (from the protos' `(pulse.v1.role)` options); the most, owner, for an
/// admin path that declares none (only paths in no proto: tonic answers
/// UNIMPLEMENTED to whoever gets that far).
pub fn role_for_path(path: &str) -> Role {
    role_of(path).map_or(Role::Owner, Role::from_pb)
}

/// The policy of a gRPC path (`/package.Service/Method`).
pub fn for_path(path: &str) -> Policy {
    if !path.starts_with("/pulse.v1.") {
        return Policy::Public;
    }
    if let Some(access) = access_of(path) {
        return access.into();
    }
    // A method in no proto (tonic answers UNIMPLEMENTED once the caller is
    // let through): its service's access when all its RPCs share one (the
    // admin services), else a full environment credential.
    let service = path[1..].split('/').next().unwrap_or_default();
    service_access(service).map_or(Policy::Environment, Policy::from)
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
        assert_eq!(for_path("/pulse.v1.SessionService/SignIn"), Policy::Public);
        assert_eq!(
            role_for_path("/pulse.v1.EnvironmentService/DeleteEnvironment"),
            Role::Admin
        );
        assert_eq!(
            role_for_path("/pulse.v1.EnvironmentService/ListEnvironments"),
            Role::Viewer
        );
        assert_eq!(role_for_path("/pulse.v1.AccountService/Nope"), Role::Owner);
        // Methods in no proto: as their service when it is uniform.
        assert_eq!(for_path("/pulse.v1.AccountService/Nope"), Policy::Admin);
        assert_eq!(for_path("/pulse.v1.AuditService/Nope"), Policy::Admin);
        assert_eq!(for_path("/pulse.v1.RoomService/Nope"), Policy::Environment);
        assert_eq!(for_path("/pulse.v1.AuthService/Nope"), Policy::Environment);
        assert_eq!(for_path("/pulse.v1.RoomService/DeleteRoom"), Policy::Secret);
        assert_eq!(for_path("/pulse.v1.UserService/ListUsers"), Policy::Secret);
        assert_eq!(
            for_path("/pulse.v1.UserService/GetUser"),
            Policy::Environment
        );
    }

    #[test]
    fn every_service_has_its_rpcs_in_the_table() {
        for service in SERVICES {
            let prefix = format!("/{service}/");
            assert!(
                ACCESS.iter().any(|(path, _)| path.starts_with(&prefix)),
                "{service} has no RPC in the access table"
            );
        }
        for (path, access) in ACCESS {
            // Every RPC an environment credential may call declares what a
            // restricted key needs (the build enforces it; this says so).
            let declared = need_for_path(path) != Need::Undeclared;
            let environment = !matches!(access, Access::Admin | Access::Public);
            assert_eq!(declared, environment, "{path}");
            // Every RPC an admin credential may call declares its least
            // role (the build enforces that too).
            let admin = matches!(access, Access::Admin | Access::AdminOrSecret);
            assert_eq!(role_of(path).is_some(), admin, "{path}");
        }
        assert_eq!(
            need_for_path("/pulse.v1.RoomService/CreateRoom"),
            Need::Permission(Permission::RoomsWrite)
        );
        assert_eq!(need_for_path("/pulse.v1.AuthService/WhoAmI"), Need::Nothing);
        let unique: std::collections::HashSet<_> = ACCESS.iter().map(|(p, _)| p).collect();
        assert_eq!(ACCESS.len(), unique.len(), "paths are unique");
        for (path, access) in ACCESS {
            assert_eq!(access_of(path), Some(*access), "{path}");
        }
    }
}
