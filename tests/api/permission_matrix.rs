//! The isolation matrix's third axis: every data-plane RPC × every
//! permission set (none, each single permission, read-only, all) × each
//! credential kind. The expected outcome is generated from the permission
//! table the protos declare (`pulse::auth::policy::PERMISSIONS`, built from
//! `option (pulse.v1.permission)`), with the "write implies read" rule
//! written here again: allowed → exactly what a secret key gets for the
//! same request; not allowed → PERMISSION_DENIED `requires <permission>`.
//! A new RPC without a declared permission fails the build (`build.rs`)
//! and `every_served_rpc_declares_a_permission` here.

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, spawn_app};
use crate::helpers::{environment, mint, seed_thread};
use crate::isolation::{Target, call, request, served_rpcs};

/// The permission an RPC declares, as the API's string (`comments.write`),
/// or `None` for `PERMISSION_NONE`.
fn declared(rpc: &str) -> Option<String> {
    let path = format!("/pulse.v1.{rpc}");
    let (_, permission) = pulse::auth::policy::PERMISSIONS
        .iter()
        .find(|(p, _)| *p == path)
        .unwrap_or_else(|| panic!("{rpc} declares no permission"));
    let name = permission
        .as_str_name()
        .strip_prefix("PERMISSION_")
        .unwrap();
    if name == "NONE" {
        return None;
    }
    let (resource, access) = name.rsplit_once('_').unwrap();
    Some(format!(
        "{}.{}",
        resource.to_lowercase(),
        access.to_lowercase()
    ))
}

/// Whether a key holding `set` may use `needed` (write implies read).
fn grants(set: &[&str], needed: &str) -> bool {
    let implied = needed.strip_suffix(".read").map(|r| format!("{r}.write"));
    set.iter()
        .any(|p| *p == needed || Some(p.to_string()) == implied)
}

#[test]
fn every_served_rpc_declares_a_permission() {
    for rpc in served_rpcs() {
        // Panics naming the RPC if the generated table lacks it.
        let _ = declared(&rpc);
    }
    assert_eq!(declared("AuthService/WhoAmI"), None);
    assert_eq!(
        declared("ThreadService/UpdateComment").as_deref(),
        Some("comments.write")
    );
    assert!(grants(&["comments.write"], "comments.read"));
    assert!(!grants(&["comments.read"], "comments.write"));
    assert!(!grants(&["rooms.write"], "comments.read"));
}

async fn restricted_keys_follow_the_declared_permissions(backend: Backend) {
    let app = spawn_app(backend).await;
    let channel = app.channel().await;
    let admin = app.as_admin();
    let prod = environment(&app, "Production").await;
    mint(&channel, &prod.sk, "prod-only", 3600).await;
    let (thread, comment) = seed_thread(&channel, &prod.sk, "prod-room", "alice", "plans").await;
    // Destructive RPCs aim at things that are gone, so every call leaves
    // the same state for the next (and the sk_ baseline stays valid).
    let gone = app
        .as_secret(&prod.sk)
        .create_comment(&thread.id, "to delete", "alice")
        .await
        .unwrap();
    app.as_secret(&prod.sk)
        .delete_comment(&gone.id)
        .await
        .unwrap();
    let target = Target {
        env: prod,
        room: "prod-room".into(),
        thread: thread.id.clone(),
        comment: comment.id.clone(),
        user: "prod-only".into(),
        kid: String::new(),
    };
    let body = |rpc: &str| -> Vec<u8> {
        use prost::Message;
        match rpc {
            "RoomService/DeleteRoom" => pb::DeleteRoomRequest {
                room_id: "no-such-room".into(),
            }
            .encode_to_vec(),
            "ThreadService/DeleteComment" => pb::DeleteCommentRequest {
                id: gone.id.clone(),
            }
            .encode_to_vec(),
            _ => request(rpc, &target, "alice").unwrap(),
        }
    };
    let bearer = |key: &str| vec![("authorization", format!("Bearer {key}"))];
    let code =
        |r: &Result<Vec<u8>, tonic::Status>| r.as_ref().map_or_else(|s| s.code(), |_| Code::Ok);

    // Credential kind 1: the secret key, the reference outcome.
    let rpcs = served_rpcs();
    let mut baseline = Vec::new();
    for rpc in &rpcs {
        let result = call(&channel, rpc, body(rpc), &bearer(&target.env.sk)).await;
        assert_ne!(
            code(&result),
            Code::PermissionDenied,
            "sk_ calling {rpc}: {result:?}"
        );
        assert_ne!(
            code(&result),
            Code::Unauthenticated,
            "sk_ calling {rpc}: {result:?}"
        );
        baseline.push(code(&result));
    }

    // The empty set cannot be created (the "none" row).
    assert_code(
        admin.create_restricted_key(&target.env.id, &[]).await,
        Code::InvalidArgument,
    );
    let all = [
        "rooms.read",
        "rooms.write",
        "comments.read",
        "comments.write",
        "users.read",
        "tokens.write",
    ];
    let mut sets: Vec<Vec<&str>> = all.iter().map(|p| vec![*p]).collect();
    sets.push(vec!["rooms.read", "comments.read", "users.read"]);
    sets.push(all.to_vec());

    // Credential kind 2: restricted keys, one per set.
    let mut checked = 0;
    for set in &sets {
        let rk = admin
            .create_restricted_key(&target.env.id, set)
            .await
            .unwrap()
            .secret_key;
        for (rpc, reference) in rpcs.iter().zip(&baseline) {
            let result = call(&channel, rpc, body(rpc), &bearer(&rk)).await;
            match declared(rpc) {
                Some(needed) if !grants(set, &needed) => {
                    let status = result.expect_err(rpc);
                    assert_eq!(status.code(), Code::PermissionDenied, "{set:?} {rpc}");
                    assert_eq!(status.message(), format!("requires {needed}"), "{rpc}");
                }
                _ => assert_eq!(
                    code(&result),
                    *reference,
                    "{set:?} calling {rpc}: {result:?}"
                ),
            }
            checked += 1;
        }
        // Admin RPCs stay out of reach of any environment key.
        assert_code(
            app.as_secret(&rk).list_environments().await,
            Code::PermissionDenied,
        );
    }
    assert_eq!(checked, sets.len() * rpcs.len());

    // Credential kind 3: a user token is governed by the per-RPC user
    // rules (the isolation matrix), never by key permissions: the same
    // RPCs answer the same with the widest and a room-limited token.
    let user = mint(&channel, &target.env.sk, "mallory", 3600).await;
    let frontend = vec![
        ("x-pulse-publishable-key", target.env.pk.clone()),
        ("authorization", format!("Bearer {user}")),
    ];
    for rpc in [
        "AuthService/WhoAmI",
        "RoomService/GetRoom",
        "ThreadService/ListComments",
    ] {
        let result = call(&channel, rpc, body(rpc), &frontend).await;
        assert_eq!(
            code(&result),
            Code::Ok,
            "a user token calling {rpc}: {result:?}"
        );
    }
}

both_backends!(restricted_keys_follow_the_declared_permissions);
