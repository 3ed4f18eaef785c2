//! Room permissions in user tokens: the server's decisions against a
//! reference model written here independently of `pulse::domain::rooms`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use pulse::pb;
use pulse::pb::RoomAccess::{Read, Write};
use tonic::Code;

use crate::both_backends;
use crate::helpers::environment;
use crate::helpers::{Backend, assert_code, spawn_app};

/// The reference model: the access of the most specific matching pattern
/// (an exact id beats any prefix; a longer prefix beats a shorter one), by
/// brute force over every pattern.
fn model(patterns: &BTreeMap<String, pb::RoomAccess>, room: &str) -> Option<pb::RoomAccess> {
    let mut best: Option<((u8, usize), pb::RoomAccess)> = None;
    for (pattern, access) in patterns {
        let rank = match pattern.strip_suffix('*') {
            Some(prefix) if room.starts_with(prefix) => (1, prefix.len()),
            None if pattern == room => (2, pattern.len()),
            _ => continue,
        };
        if best.is_none_or(|(b, _)| rank > b) {
            best = Some((rank, *access));
        }
    }
    best.map(|(_, access)| access)
}

/// What a user token allows, checked room by room through the API.
async fn token_rooms_are_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    for room in ["design-1", "design-secret", "lobby", "ops"] {
        server.create_room(room).await.unwrap();
        server.create_thread(room, "seed", "alice").await.unwrap();
    }
    let token = server
        .mint_with_rooms(
            "alice",
            &[
                ("design-*", Write),
                ("design-secret", Read),
                ("lobby", Read),
            ],
        )
        .await
        .unwrap()
        .token;
    // The claim is there for other services verifying the JWT.
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["rooms"],
        serde_json::json!({"design-*": "write", "design-secret": "read", "lobby": "read"})
    );
    let alice = app.as_frontend(&prod.pk, Some(&token));
    // Reads where READ or WRITE; nothing elsewhere (PERMISSION_DENIED, the
    // room's existence is no secret from a valid user).
    alice.get_room("design-1").await.unwrap();
    alice.get_room("lobby").await.unwrap();
    let denied = assert_code(alice.get_room("ops").await, Code::PermissionDenied);
    assert!(denied.message().contains("ops"), "{denied:?}");
    assert_code(alice.list_threads("ops").await, Code::PermissionDenied);
    let ops_thread = server.list_threads("ops").await.unwrap().threads[0]
        .id
        .clone();
    assert_code(
        alice.list_comments(&ops_thread).await,
        Code::PermissionDenied,
    );
    assert_code(
        alice.create_comment(&ops_thread, "hi", "").await,
        Code::PermissionDenied,
    );
    // Writes only where WRITE (the exact id beats the prefix).
    let design = alice.create_thread("design-1", "new", "").await.unwrap();
    alice.create_comment(&design.id, "more", "").await.unwrap();
    assert_code(
        alice.create_thread("design-secret", "x", "").await,
        Code::PermissionDenied,
    );
    assert_code(
        alice.create_thread("lobby", "x", "").await,
        Code::PermissionDenied,
    );
    // Creating a room needs WRITE on its id; deleting stays backend-only.
    alice.create_room("design-2").await.unwrap();
    assert_code(alice.create_room("other").await, Code::PermissionDenied);
    assert_code(alice.delete_room("design-2").await, Code::PermissionDenied);
    // Editing one's own comment in a room the token may no longer write.
    let in_lobby = server
        .create_comment(
            &server.list_threads("lobby").await.unwrap().threads[0].id,
            "alice's",
            "alice",
        )
        .await
        .unwrap();
    assert_code(
        alice.update_comment(&in_lobby.id, "edit").await,
        Code::PermissionDenied,
    );
    assert_code(
        alice.delete_comment(&in_lobby.id).await,
        Code::PermissionDenied,
    );
    // ListRooms: only the readable rooms.
    let mut listed: Vec<String> = alice
        .list_rooms()
        .await
        .unwrap()
        .rooms
        .into_iter()
        .map(|r| r.id)
        .collect();
    listed.sort();
    assert_eq!(listed, ["design-1", "design-2", "design-secret", "lobby"]);
    // An empty map is today's full access.
    let full = server.mint_user_token("bob").await.unwrap().token;
    let bob = app.as_frontend(&prod.pk, Some(&full));
    assert_eq!(bob.list_rooms().await.unwrap().rooms.len(), 5);
    bob.create_thread("ops", "hi", "").await.unwrap();
}

/// 1,000 patterns are accepted and the token works; 1,001 are not; bad
/// patterns are INVALID_ARGUMENT.
async fn a_thousand_patterns_fit(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    server.create_room("project-0999-room").await.unwrap();
    let patterns: Vec<(String, pb::RoomAccess)> = (0..1000)
        .map(|i| (format!("project-{i:04}-room"), Read))
        .collect();
    let borrowed: Vec<(&str, pb::RoomAccess)> =
        patterns.iter().map(|(p, a)| (p.as_str(), *a)).collect();
    let token = server
        .mint_with_rooms("alice", &borrowed)
        .await
        .unwrap()
        .token;
    assert!(token.len() > 20_000, "{} bytes", token.len());
    let alice = app.as_frontend(&prod.pk, Some(&token));
    alice.get_room("project-0999-room").await.unwrap();
    assert_eq!(alice.list_rooms().await.unwrap().rooms.len(), 1);
    assert_code(
        alice.create_room("project-0001-room").await,
        Code::PermissionDenied,
    );

    let mut too_many = borrowed.clone();
    too_many.push(("one-more", Read));
    assert_code(
        server.mint_with_rooms("alice", &too_many).await,
        Code::InvalidArgument,
    );
    for bad in ["", "a*b", "**", "spaces are not ids", "é*"] {
        let status = assert_code(
            server.mint_with_rooms("alice", &[(bad, Read)]).await,
            Code::InvalidArgument,
        );
        assert!(
            format!("{status:?}").contains("room_permissions"),
            "{status:?}"
        );
    }
    let unspecified = pb::MintUserTokenRequest {
        user_id: "alice".into(),
        room_permissions: [("lobby".to_owned(), 0)].into(),
        ..Default::default()
    };
    assert_code(server.mint(unspecified).await, Code::InvalidArgument);
    // Patterns long enough to push the token past what a request may carry
    // are refused at mint time, not accepted and then unusable.
    let long: Vec<(String, pb::RoomAccess)> = (0..1000)
        .map(|i| (format!("{i:04}-{}", "x".repeat(120)), Write))
        .collect();
    let long: Vec<(&str, pb::RoomAccess)> = long.iter().map(|(p, a)| (p.as_str(), *a)).collect();
    let status = assert_code(
        server.mint_with_rooms("alice", &long).await,
        Code::InvalidArgument,
    );
    assert!(format!("{status:?}").contains("bytes"), "{status:?}");
}

/// Random pattern maps and room ids: the server's decision (GetRoom for
/// READ, CreateThread for WRITE) equals the model's.
async fn decisions_match_the_reference_model(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    // Room ids over a small alphabet, so that patterns often overlap; `_`
    // is a LIKE wildcard the listing must escape ("a_*" must not match "ax").
    let rooms: Vec<String> = [
        "a", "ab", "abc", "abd", "b", "ba", "bab", "c", "ca", "cab", "a_", "a_b", "ax", "axb",
    ]
    .iter()
    .map(|r| (*r).to_owned())
    .collect();
    for room in &rooms {
        server.create_room(room).await.unwrap();
    }
    let pattern = prop_oneof![
        "[abc_x]{1,3}".prop_map(|s| s),
        "[abc_x]{0,2}".prop_map(|s| format!("{s}*")),
    ];
    let access = prop_oneof![Just(Read), Just(Write)];
    let maps = proptest::collection::btree_map(pattern, access, 1..8);
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let mut checked = 0;
    for case in 0..40 {
        let patterns = maps.new_tree(&mut runner).unwrap().current();
        let pairs: Vec<(&str, pb::RoomAccess)> =
            patterns.iter().map(|(p, a)| (p.as_str(), *a)).collect();
        let token = server
            .mint_with_rooms(format!("user-{case}"), &pairs)
            .await
            .unwrap()
            .token;
        let user = app.as_frontend(&prod.pk, Some(&token));
        for room in &rooms {
            let expected = model(&patterns, room);
            let read = user.get_room(room).await.map(drop);
            let want_read = if expected.is_some() {
                Code::Ok
            } else {
                Code::PermissionDenied
            };
            let got = read.as_ref().map_or_else(|s| s.code(), |_| Code::Ok);
            assert_eq!(got, want_read, "read {room} with {patterns:?}");
            let write = user.create_thread(room, "x", "").await.map(drop);
            let want_write = if expected == Some(Write) {
                Code::Ok
            } else {
                Code::PermissionDenied
            };
            let got = write.as_ref().map_or_else(|s| s.code(), |_| Code::Ok);
            assert_eq!(got, want_write, "write {room} with {patterns:?}");
            checked += 1;
        }
        // And the list is exactly the readable rooms.
        let mut listed: Vec<String> = user
            .list_rooms()
            .await
            .unwrap()
            .rooms
            .into_iter()
            .map(|r| r.id)
            .collect();
        listed.sort();
        let mut readable: Vec<String> = rooms
            .iter()
            .filter(|r| model(&patterns, r).is_some())
            .cloned()
            .collect();
        readable.sort();
        assert_eq!(listed, readable, "list with {patterns:?}");
    }
    assert_eq!(checked, 40 * rooms.len());
}

#[test]
fn the_model_itself() {
    let map: BTreeMap<String, pb::RoomAccess> = [
        ("*".to_owned(), Read),
        ("ab*".to_owned(), Write),
        ("abc".to_owned(), Read),
    ]
    .into();
    assert_eq!(model(&map, "x"), Some(Read));
    assert_eq!(model(&map, "abd"), Some(Write));
    assert_eq!(model(&map, "abc"), Some(Read));
    assert_eq!(model(&BTreeMap::new(), "abc"), None);
}

both_backends!(
    token_rooms_are_enforced,
    a_thousand_patterns_fit,
    decisions_match_the_reference_model
);
