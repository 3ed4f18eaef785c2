//! The isolation matrix: every environment-credential RPC, called on
//! Production's resources with every kind of wrong credential, returns the
//! contract's code and neither reads nor writes Production's data.
//!
//! The RPC list comes from the served descriptors: a new RPC on a
//! data-plane service fails `every_rpc_is_in_the_matrix` until it is given
//! a request here.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::{Buf, BufMut};
use prost::Message;
use pulse::pb;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::both_backends;
use crate::helpers::{Backend, Env, environment, eventually, mint, seed_thread, spawn_app};

/// Services under test: everything an environment credential can call.
const SERVICES: &[&str] = &["AuthService", "RoomService", "ThreadService", "UserService"];

/// A codec passing encoded protobuf through, so one client calls any RPC.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Self::Encoder {
        Raw
    }
    fn decoder(&mut self) -> Self::Decoder {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Self::Error> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n).to_vec()))
    }
}

/// Every RPC of `SERVICES`, as `Service/Method`, from the descriptor set.
pub(crate) fn served_rpcs() -> Vec<String> {
    let fds = prost_types::FileDescriptorSet::decode(pulse::pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut rpcs = Vec::new();
    for file in fds.file.iter().filter(|f| f.package() == "pulse.v1") {
        for service in file.service.iter().filter(|s| SERVICES.contains(&s.name())) {
            for method in &service.method {
                rpcs.push(format!("{}/{}", service.name(), method.name()));
            }
        }
    }
    rpcs.sort();
    rpcs
}

/// Production's resources that attackers aim at.
pub(crate) struct Target {
    pub env: Env,
    pub room: String,
    pub thread: String,
    pub comment: String,
    pub user: String,
    pub kid: String,
}

/// The request each RPC gets, aimed at Production's resources. `None` for
/// an RPC missing here (the test then fails).
pub(crate) fn request(rpc: &str, t: &Target, author: &str) -> Option<Vec<u8>> {
    Some(match rpc {
        "AuthService/MintUserToken" => pb::MintUserTokenRequest {
            user_id: t.user.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
        "AuthService/WhoAmI" => pb::WhoAmIRequest {}.encode_to_vec(),
        "AuthService/ListSigningKeys" => pb::ListSigningKeysRequest {}.encode_to_vec(),
        // Echoes the user id it is given: not one of Production's marks.
        "AuthService/RevokeUserTokens" => pb::RevokeUserTokensRequest {
            user_id: "someone".into(),
        }
        .encode_to_vec(),
        "RoomService/CreateRoom" => pb::CreateRoomRequest {
            room_id: t.room.clone(),
            metadata: Default::default(),
            ..Default::default()
        }
        .encode_to_vec(),
        "RoomService/GetRoom" => pb::GetRoomRequest {
            room_id: t.room.clone(),
        }
        .encode_to_vec(),
        "RoomService/ListRooms" => pb::ListRoomsRequest::default().encode_to_vec(),
        // Opens the room to everyone: must never land in Production.
        "RoomService/UpdateRoomAccess" => pb::UpdateRoomAccessRequest {
            room_id: t.room.clone(),
            default_access: pb::RoomAccess::Write.into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "RoomService/DeleteRoom" => pb::DeleteRoomRequest {
            room_id: t.room.clone(),
        }
        .encode_to_vec(),
        "ThreadService/CreateThread" => pb::CreateThreadRequest {
            room_id: t.room.clone(),
            body: "intrusion".into(),
            user_id: author.into(),
        }
        .encode_to_vec(),
        "ThreadService/ListThreads" => pb::ListThreadsRequest {
            room_id: t.room.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
        "ThreadService/CreateComment" => pb::CreateCommentRequest {
            thread_id: t.thread.clone(),
            body: "intrusion".into(),
            user_id: author.into(),
        }
        .encode_to_vec(),
        "ThreadService/ListComments" => pb::ListCommentsRequest {
            thread_id: t.thread.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
        "ThreadService/UpdateComment" => pb::UpdateCommentRequest {
            id: t.comment.clone(),
            body: "hacked".into(),
        }
        .encode_to_vec(),
        "ThreadService/DeleteComment" => pb::DeleteCommentRequest {
            id: t.comment.clone(),
        }
        .encode_to_vec(),
        "UserService/GetUser" => pb::GetUserRequest {
            user_id: t.user.clone(),
        }
        .encode_to_vec(),
        "UserService/ListUsers" => pb::ListUsersRequest::default().encode_to_vec(),
        _ => return None,
    })
}

/// What a valid credential of *another* environment gets: NOT_FOUND for
/// anything addressing Production's resources; its own (empty) view for
/// lists and self-description; MintUserToken per its kind.
fn expected_for_other_environment(rpc: &str, is_user: bool) -> Code {
    match rpc {
        // Backend-only RPCs: a user token is refused before any lookup.
        "AuthService/MintUserToken"
        | "AuthService/RevokeUserTokens"
        | "RoomService/DeleteRoom"
        | "RoomService/UpdateRoomAccess"
        | "UserService/ListUsers"
            if is_user =>
        {
            Code::PermissionDenied
        }
        "AuthService/MintUserToken"
        // Revokes the tokens of its own environment's user of that id.
        | "AuthService/RevokeUserTokens"
        | "AuthService/WhoAmI"
        | "AuthService/ListSigningKeys"
        | "RoomService/ListRooms"
        | "UserService/ListUsers"
        // A room id is per environment: the same id is free in Staging (and
        // ALREADY_EXISTS would leak that Production has it).
        | "RoomService/CreateRoom" => Code::Ok,
        _ => Code::NotFound,
    }
}

/// One wrong way to call.
struct Attacker {
    name: &'static str,
    metadata: Vec<(&'static str, String)>,
    /// `None`: every RPC is UNAUTHENTICATED. `Some(is_user)`: a valid
    /// credential of another environment.
    other_environment: Option<bool>,
}

fn forge(
    token: &str,
    header: Option<serde_json::Value>,
    claims: Option<serde_json::Value>,
    signature: Option<&str>,
) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    let h = header.map(enc).unwrap_or_else(|| parts[0].to_owned());
    let c = claims.map(enc).unwrap_or_else(|| parts[1].to_owned());
    let s = signature
        .map(str::to_owned)
        .unwrap_or_else(|| parts[2].to_owned());
    format!("{h}.{c}.{s}")
}

fn decode_part(token: &str, i: usize) -> serde_json::Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(i).unwrap())
            .unwrap(),
    )
    .unwrap()
}

pub(crate) async fn call(
    channel: &Channel,
    rpc: &str,
    body: Vec<u8>,
    metadata: &[(&'static str, String)],
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unknown(e.to_string()))?;
    let mut request = tonic::Request::new(body);
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, MetadataValue::try_from(value.as_str()).unwrap());
    }
    let path = http::uri::PathAndQuery::from_str(&format!("/pulse.v1.{rpc}")).unwrap();
    grpc.unary(request, path, Raw)
        .await
        .map(tonic::Response::into_inner)
}

async fn snapshot(app: &crate::helpers::TestApp, t: &Target, sk: &str) -> String {
    let server = app.as_secret(sk);
    let comments = server.list_comments(&t.thread).await.unwrap();
    let stats = app.as_admin().environment_stats(&t.env.id).await.unwrap();
    let rooms = server.list_rooms().await.unwrap();
    let users = server.list_users().await.unwrap();
    format!("{comments:?}\n{stats:?}\n{rooms:?}\n{users:?}")
}

async fn wrong_credentials_never_reach_production(backend: Backend) {
    let app = spawn_app(backend).await;
    let channel = app.channel().await;
    let admin = app.as_admin();

    // Production, seeded with sk1; its keys then go through revocation and rotation.
    let prod = environment(&app, "Production").await;
    let (sk1, pk1) = (prod.sk.clone(), prod.pk.clone());
    let t1 = mint(&channel, &sk1, "alice", 3600).await;
    mint(&channel, &sk1, "prod-only", 3600).await;
    let (thread, comment) = seed_thread(&channel, &sk1, "prod-room", "alice", "secret plans").await;

    // sk1/pk1 rotated away → sk2/pk2; t2 minted by sk2; sk2 revoked; rotate → sk3/pk3.
    let r2 = admin.rotate_keys(&prod.id, 0).await.unwrap();
    let sk2 = r2.secret_key.clone();
    let t2 = mint(&channel, &sk2, "alice", 3600).await;
    admin
        .revoke_key(r2.secret_key_info.unwrap().id)
        .await
        .unwrap();
    let r3 = admin.rotate_keys(&prod.id, 0).await.unwrap();
    let (sk3, pk3) = (r3.secret_key.clone(), r3.publishable_key.unwrap().value);
    let t3 = mint(&channel, &sk3, "alice", 3600).await;
    let expired = mint(&channel, &sk3, "alice", 1).await;

    let kid = app.as_secret(&sk3).list_signing_keys().await.unwrap().keys[0]
        .kid
        .clone();
    let target = Target {
        env: Env {
            id: prod.id.clone(),
            pk: pk3.clone(),
            sk: sk3.clone(),
            sk_id: String::new(),
        },
        room: "prod-room".into(),
        thread: thread.id.clone(),
        comment: comment.id.clone(),
        user: "prod-only".into(),
        kid,
    };

    // Two Staging environments, one per "other environment" attacker, so
    // one attacker's writes cannot change what the other sees.
    let staging_a = environment(&app, "Staging A").await;
    let staging_b = environment(&app, "Staging B").await;
    let staging_b_token = mint(&channel, &staging_b.sk, "alice", 3600).await;
    let staging_a_token = mint(&channel, &staging_a.sk, "alice", 3600).await;

    // Forgeries of a valid Production token.
    let mut sig = URL_SAFE_NO_PAD
        .decode(t3.split('.').nth(2).unwrap())
        .unwrap();
    sig[0] ^= 1;
    let flipped = forge(&t3, None, None, Some(&URL_SAFE_NO_PAD.encode(&sig)));
    let mut none_header = decode_part(&t3, 0);
    none_header["alg"] = "none".into();
    let alg_none = forge(&t3, Some(none_header), None, Some(""));
    let mut hs_header = decode_part(&t3, 0);
    hs_header["alg"] = "HS256".into();
    let alg_hs = forge(&t3, Some(hs_header), None, None);
    let mut staging_claims = decode_part(&staging_a_token, 1);
    staging_claims["env"] = prod.id.clone().into();
    let swapped_env = forge(&staging_a_token, None, Some(staging_claims), None);
    let mut longer = decode_part(&t3, 1);
    longer["exp"] = (longer["exp"].as_i64().unwrap() + 86_400 * 365).into();
    let extended = forge(&t3, None, Some(longer), None);
    let mut other_user = decode_part(&t3, 1);
    other_user["sub"] = "prod-only".into();
    let impersonated = forge(&t3, None, Some(other_user), None);

    // `expired` expires at the next second (`exp` has whole seconds).
    let as_expired = app.as_frontend(&pk3, Some(&expired));
    eventually(
        Duration::from_secs(5),
        "a one-second token expires",
        || async {
            as_expired
                .whoami()
                .await
                .err()
                .filter(|s| s.code() == Code::Unauthenticated)
        },
    )
    .await;

    let frontend = |pk: &str, token: &str| {
        vec![
            ("x-pulse-publishable-key", pk.to_owned()),
            ("authorization", format!("Bearer {token}")),
        ]
    };
    let backend = |sk: &str| vec![("authorization", format!("Bearer {sk}"))];
    let unauth = |name, metadata| Attacker {
        name,
        metadata,
        other_environment: None,
    };
    let attackers = vec![
        Attacker {
            name: "(a) Staging sk",
            metadata: backend(&staging_a.sk),
            other_environment: Some(false),
        },
        Attacker {
            name: "(b) Staging pk + Staging token",
            metadata: frontend(&staging_b.pk, &staging_b_token),
            other_environment: Some(true),
        },
        unauth(
            "(c) Production pk + Staging token",
            frontend(&pk3, &staging_a_token),
        ),
        unauth("(d) revoked sk", backend(&sk2)),
        unauth("(d) token of a revoked sk", frontend(&pk3, &t2)),
        unauth("(e) rotated-away sk", backend(&sk1)),
        unauth("(e) rotated-away pk + valid token", frontend(&pk1, &t3)),
        unauth("(e) token of a rotated-away sk", frontend(&pk3, &t1)),
        unauth("(f) expired token", frontend(&pk3, &expired)),
        unauth("(g) flipped signature", frontend(&pk3, &flipped)),
        unauth("(g) alg none", frontend(&pk3, &alg_none)),
        unauth("(g) alg HS256", frontend(&pk3, &alg_hs)),
        unauth("(g) swapped env claim", frontend(&pk3, &swapped_env)),
        unauth("(g) extended exp", frontend(&pk3, &extended)),
        unauth("(g) swapped sub", frontend(&pk3, &impersonated)),
        unauth("sk as publishable key", frontend(&sk3, &t3)),
    ];

    let before = snapshot(&app, &target, &sk3).await;
    // Strings of Production's that no other caller's response may contain.
    let production_marks = [
        prod.id.as_str(),
        thread.id.as_str(),
        comment.id.as_str(),
        "secret plans",
        "prod-only",
        target.kid.as_str(),
    ];

    let mut rpcs = served_rpcs();
    // Creates of customer-named resources last, so reads see the
    // attacker's own environment without them.
    rpcs.sort_by_key(|r| {
        (
            r.ends_with("/CreateRoom") || r.ends_with("/MintUserToken"),
            r.clone(),
        )
    });
    let mut checked = 0;
    for attacker in &attackers {
        for rpc in &rpcs {
            let author = if attacker.other_environment == Some(false) {
                "alice"
            } else {
                ""
            };
            let body = request(rpc, &target, author)
                .unwrap_or_else(|| panic!("{rpc} is not in the isolation matrix"));
            let result = call(&channel, rpc, body, &attacker.metadata).await;
            let expected = match attacker.other_environment {
                None => Code::Unauthenticated,
                Some(is_user) => expected_for_other_environment(rpc, is_user),
            };
            let got = result
                .as_ref()
                .map(|_| Code::Ok)
                .unwrap_or_else(|s| s.code());
            assert_eq!(got, expected, "{} calling {rpc}: {result:?}", attacker.name);
            if let Ok(bytes) = &result {
                for mark in production_marks {
                    assert!(
                        !bytes.windows(mark.len()).any(|w| w == mark.as_bytes()),
                        "{} calling {rpc} read Production's {mark:?}",
                        attacker.name
                    );
                }
            }
            if let Err(status) = &result {
                assert!(
                    !status.message().contains("prod"),
                    "error leaks: {status:?}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, attackers.len() * rpcs.len());
    assert_eq!(
        snapshot(&app, &target, &sk3).await,
        before,
        "Production's data changed"
    );
}

/// What a user token of Production itself may do (the proto comment of
/// each RPC): read and write as itself, never destroy others' content nor
/// enumerate the user directory. `None` for an RPC missing here.
fn expected_for_production_user(rpc: &str) -> Option<Code> {
    Some(match rpc {
        "AuthService/WhoAmI"
        | "AuthService/ListSigningKeys"
        | "RoomService/GetRoom"
        | "RoomService/ListRooms"
        | "ThreadService/CreateThread"
        | "ThreadService/ListThreads"
        | "ThreadService/CreateComment"
        | "ThreadService/ListComments"
        | "UserService/GetUser" => Code::Ok,
        // The target room exists already.
        "RoomService/CreateRoom" => Code::AlreadyExists,
        // Backend-only, or another user's comment.
        "AuthService/MintUserToken"
        | "AuthService/RevokeUserTokens"
        | "RoomService/DeleteRoom"
        | "RoomService/UpdateRoomAccess"
        | "UserService/ListUsers"
        | "ThreadService/UpdateComment"
        | "ThreadService/DeleteComment" => Code::PermissionDenied,
        _ => return None,
    })
}

/// Every data-plane RPC called by a user of Production on another user's
/// resources: the code its proto comment promises, and no other user's
/// content destroyed.
async fn production_users_do_only_what_the_proto_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let channel = app.channel().await;
    let prod = environment(&app, "Production").await;
    mint(&channel, &prod.sk, "prod-only", 3600).await;
    let mallory = mint(&channel, &prod.sk, "mallory", 3600).await;
    let (thread, comment) =
        seed_thread(&channel, &prod.sk, "prod-room", "alice", "alice's plans").await;
    let target = Target {
        env: prod,
        room: "prod-room".into(),
        thread: thread.id,
        comment: comment.id.clone(),
        user: "prod-only".into(),
        kid: String::new(),
    };
    let metadata = vec![
        ("x-pulse-publishable-key", target.env.pk.clone()),
        ("authorization", format!("Bearer {mallory}")),
    ];
    for rpc in served_rpcs() {
        let expected = expected_for_production_user(&rpc)
            .unwrap_or_else(|| panic!("{rpc} has no user-token rule in the matrix"));
        let body = request(&rpc, &target, "").unwrap();
        let result = call(&channel, &rpc, body, &metadata).await;
        let got = result
            .as_ref()
            .map(|_| Code::Ok)
            .unwrap_or_else(|s| s.code());
        assert_eq!(got, expected, "a Production user calling {rpc}: {result:?}");
    }
    // Alice's comment is untouched and the room still exists.
    let comments = app
        .as_secret(&target.env.sk)
        .list_comments(&target.thread)
        .await
        .unwrap()
        .comments;
    assert_eq!(comments[0].id, comment.id);
    assert_eq!(comments[0].body, "alice's plans");
}

#[test]
fn every_rpc_is_in_the_matrix() {
    let t = Target {
        env: Env {
            id: String::new(),
            pk: String::new(),
            sk: String::new(),
            sk_id: String::new(),
        },
        room: String::new(),
        thread: String::new(),
        comment: String::new(),
        user: String::new(),
        kid: String::new(),
    };
    let rpcs = served_rpcs();
    assert!(rpcs.len() >= 15, "descriptor walk found {rpcs:?}");
    for rpc in rpcs {
        assert!(
            request(&rpc, &t, "").is_some(),
            "{rpc} is not in the isolation matrix"
        );
        assert!(
            expected_for_production_user(&rpc).is_some(),
            "{rpc} has no user-token rule in the matrix"
        );
    }
}

both_backends!(
    wrong_credentials_never_reach_production,
    production_users_do_only_what_the_proto_says
);
