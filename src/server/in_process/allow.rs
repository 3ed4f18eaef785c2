//! The allow matrix through the real stack: representative RPCs of every
//! access kind against every kind of caller, with real credentials made
//! through the API, asserting the gRPC code each call gets. (The decision
//! table itself is unit-tested against every RPC in `auth::layer`.)

use tonic::Code::{self, NotFound, Ok, PermissionDenied, Unauthenticated};

use super::paths::*;
use super::{Credential, TestStack, both_backends};
use crate::domain::credential::{self, CredentialKind};
use crate::pb;

/// The RPCs of the matrix, one or two per access kind.
#[derive(Clone, Copy, Debug)]
enum Rpc {
    /// Public: health.
    Health,
    /// Environment, no permission needed.
    WhoAmI,
    /// Secret or publishable.
    ListSigningKeys,
    /// Environment, `rooms.read`.
    ListRooms,
    /// Secret, `users.read`.
    ListUsers,
    /// Admin, viewer.
    ListEnvironments,
    /// Admin, developer.
    CreateKey,
    /// Admin, admin (of an environment that does not exist: NOT_FOUND
    /// once allowed).
    DeleteEnvironment,
}

const RPCS: [Rpc; 8] = [
    Rpc::Health,
    Rpc::WhoAmI,
    Rpc::ListSigningKeys,
    Rpc::ListRooms,
    Rpc::ListUsers,
    Rpc::ListEnvironments,
    Rpc::CreateKey,
    Rpc::DeleteEnvironment,
];

impl Rpc {
    async fn call(self, stack: &TestStack, env_id: &str, caller: Credential<'_>) -> Code {
        match self {
            Rpc::Health => {
                stack
                    .code(
                        "/grpc.health.v1.Health/Check",
                        caller,
                        tonic_health::pb::HealthCheckRequest::default(),
                    )
                    .await
            }
            Rpc::WhoAmI => stack.code(WHO_AM_I, caller, pb::WhoAmIRequest {}).await,
            Rpc::ListSigningKeys => {
                stack
                    .code(LIST_SIGNING_KEYS, caller, pb::ListSigningKeysRequest {})
                    .await
            }
            Rpc::ListRooms => {
                stack
                    .code(LIST_ROOMS, caller, pb::ListRoomsRequest::default())
                    .await
            }
            Rpc::ListUsers => {
                stack
                    .code(LIST_USERS, caller, pb::ListUsersRequest::default())
                    .await
            }
            Rpc::ListEnvironments => {
                stack
                    .code(
                        LIST_ENVIRONMENTS,
                        caller,
                        pb::ListEnvironmentsRequest::default(),
                    )
                    .await
            }
            Rpc::CreateKey => {
                let request = pb::CreateKeyRequest {
                    environment_id: env_id.to_owned(),
                    kind: pb::ApiKeyKind::Publishable as i32,
                    ..Default::default()
                };
                stack.code(CREATE_KEY, caller, request).await
            }
            Rpc::DeleteEnvironment => {
                let request = pb::DeleteEnvironmentRequest {
                    id: "env_missing".into(),
                };
                stack.code(DELETE_ENVIRONMENT, caller, request).await
            }
        }
    }
}

/// An admin token of `role`, made by the bootstrap owner.
async fn admin_token(stack: &TestStack, role: pb::Role) -> String {
    let created: pb::CreateAdminTokenResponse = stack
        .call(
            CREATE_ADMIN_TOKEN,
            stack.admin(),
            pb::CreateAdminTokenRequest {
                display_name: format!("{role:?}"),
                role: role as i32,
                ..Default::default()
            },
        )
        .await
        .expect("create an admin token");
    created.token
}

async fn every_caller_against_representative_rpcs(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let stack = TestStack::start(&db).await;
    let env = stack.environment().await;
    let token = stack.user_token(&env.sk, "alice").await;
    let (rk_rooms, _) = stack
        .key(&env, pb::ApiKeyKind::Restricted, &["rooms.read"])
        .await;
    let (rk_events, _) = stack
        .key(&env, pb::ApiKeyKind::Restricted, &["events.read"])
        .await;
    let owner = stack.admin_token.clone().expect("bootstrapped");
    let admin = admin_token(&stack, pb::Role::Admin).await;
    let developer = admin_token(&stack, pb::Role::Developer).await;
    let viewer = admin_token(&stack, pb::Role::Viewer).await;
    let unknown = credential::generate(CredentialKind::Secret);
    let mut bad_checksum = env.sk.clone();
    let last = if bad_checksum.ends_with('A') {
        "B"
    } else {
        "A"
    };
    bad_checksum.replace_range(bad_checksum.len() - 1.., last);

    let u = Unauthenticated;
    let d = PermissionDenied;
    // Columns: Health, WhoAmI, ListSigningKeys, ListRooms, ListUsers,
    // ListEnvironments, CreateKey, DeleteEnvironment.
    #[rustfmt::skip]
    let matrix: Vec<(&str, Credential<'_>, [Code; 8])> = vec![
        ("none", Credential::None, [Ok, u, u, u, u, u, u, u]),
        ("not bearer", Credential::Header("authorization", "Basic c2s6"), [Ok, u, u, u, u, u, u, u]),
        ("bad checksum", Credential::Bearer(&bad_checksum), [Ok, u, u, u, u, u, u, u]),
        ("unknown sk_", Credential::Bearer(unknown.plaintext.expose()), [Ok, u, u, u, u, u, u, u]),
        ("pk_ as bearer", Credential::Bearer(&env.pk), [Ok, u, u, u, u, u, u, u]),
        ("pk_ alone", Credential::Frontend(&env.pk, None), [Ok, u, Ok, u, u, u, u, u]),
        ("pk_ + bad token", Credential::Frontend(&env.pk, Some("e30.e30.e30")), [Ok, u, u, u, u, u, u, u]),
        ("pk_ + user token", Credential::Frontend(&env.pk, Some(&token)), [Ok, Ok, Ok, Ok, d, d, d, d]),
        ("sk_", Credential::Bearer(&env.sk), [Ok, Ok, Ok, Ok, Ok, d, d, d]),
        ("rk_ rooms.read", Credential::Bearer(&rk_rooms), [Ok, Ok, Ok, Ok, d, d, d, d]),
        ("rk_ events.read", Credential::Bearer(&rk_events), [Ok, Ok, Ok, d, d, d, d, d]),
        ("owner", Credential::Bearer(&owner), [Ok, d, d, d, d, Ok, Ok, NotFound]),
        ("admin", Credential::Bearer(&admin), [Ok, d, d, d, d, Ok, Ok, NotFound]),
        ("developer", Credential::Bearer(&developer), [Ok, d, d, d, d, Ok, Ok, d]),
        ("viewer", Credential::Bearer(&viewer), [Ok, d, d, d, d, Ok, d, d]),
    ];
    let mut wrong = Vec::new();
    for (name, caller, expected) in &matrix {
        for (rpc, expected) in RPCS.iter().zip(expected) {
            let got = rpc.call(&stack, &env.id, *caller).await;
            if got != *expected {
                wrong.push(format!("{name} on {rpc:?}: {got:?}, expected {expected:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A returning caller is answered from a remembered decision (no await in
/// the layer): the matrix holds for it too, call after call.
async fn remembered_callers_get_the_same_answers(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let stack = TestStack::start(&db).await;
    let env = stack.environment().await;
    let (rk_rooms, _) = stack
        .key(&env, pb::ApiKeyKind::Restricted, &["rooms.read"])
        .await;
    for _ in 0..3 {
        let sk = Credential::Bearer(&env.sk);
        assert_eq!(Rpc::ListUsers.call(&stack, &env.id, sk).await, Ok);
        assert_eq!(
            Rpc::ListEnvironments.call(&stack, &env.id, sk).await,
            PermissionDenied
        );
        let rk = Credential::Bearer(&rk_rooms);
        assert_eq!(Rpc::ListRooms.call(&stack, &env.id, rk).await, Ok);
        assert_eq!(
            Rpc::ListUsers.call(&stack, &env.id, rk).await,
            PermissionDenied
        );
    }
}

both_backends!(
    every_caller_against_representative_rpcs,
    remembered_callers_get_the_same_answers
);
