//! Room access stored on rooms (STORED-mode user tokens): every rule
//! checked through the API against a table written here, changes that
//! hold at once (here and on a second replica), groups scoped to their
//! environment, and token mode untouched.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pulse::pb;
use pulse::pb::RoomAccess::{None as NoAccess, Read, Write};
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, Client, assert_code, environment, spawn_app};

both_backends!(
    every_stored_rule_is_enforced,
    changes_hold_at_once,
    groups_are_scoped_to_their_environment,
    bad_input_is_refused
);

fn map(entries: &[(&str, pb::RoomAccess)]) -> HashMap<String, i32> {
    entries
        .iter()
        .map(|(id, a)| ((*id).to_owned(), *a as i32))
        .collect()
}

/// Creates a room with stored accesses, as a backend.
async fn room(
    server: &Client,
    id: &str,
    default: Option<pb::RoomAccess>,
    users: &[(&str, pb::RoomAccess)],
    groups: &[(&str, pb::RoomAccess)],
) -> pb::Room {
    server
        .rooms_client()
        .create_room(server.request(pb::CreateRoomRequest {
            room_id: id.into(),
            default_access: default.map_or(0, |a| a as i32),
            user_accesses: map(users),
            group_accesses: map(groups),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
}

/// A STORED-mode token for `user` in `groups`.
async fn stored_token(server: &Client, user: &str, groups: &[&str]) -> String {
    server
        .mint(pb::MintUserTokenRequest {
            user_id: user.into(),
            group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
            room_access_mode: pb::RoomAccessMode::Stored as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .token
}

async fn update(
    server: &Client,
    request: pb::UpdateRoomAccessRequest,
) -> Result<pb::Room, tonic::Status> {
    server
        .rooms_client()
        .update_room_access(server.request(request))
        .await
        .map(|r| r.into_inner())
}

/// What `who` may do in `room`, as the API answers: `Write` if it may
/// create a thread, `Read` if it may only read, `NoAccess` if neither.
async fn observed(who: &Client, room: &str) -> pb::RoomAccess {
    let read = who.get_room(room).await;
    let threads = who.list_threads(room).await;
    let write = who.create_thread(room, "probe", "").await;
    match (read, threads, write) {
        (Ok(_), Ok(_), Ok(_)) => Write,
        (Ok(_), Ok(_), Err(e)) if e.code() == Code::PermissionDenied => Read,
        (Err(a), Err(b), Err(c))
            if [a.code(), b.code(), c.code()] == [Code::PermissionDenied; 3] =>
        {
            NoAccess
        }
        other => panic!("inconsistent answers for {room}: {other:?}"),
    }
}

/// Default, user, group, highest wins, NONE, creator at WRITE, lists,
/// what a user sees of a room, and token mode unchanged.
async fn every_stored_rule_is_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    let closed = room(&server, "closed", None, &[], &[]).await;
    assert_eq!(closed.default_access, NoAccess as i32, "a new room is NONE");
    room(&server, "open-read", Some(Read), &[], &[]).await;
    room(&server, "open-write", Some(Write), &[], &[]).await;
    let users = room(
        &server,
        "users",
        Some(NoAccess),
        &[("alice", Write), ("bob", Read), ("carol", NoAccess)],
        &[],
    )
    .await;
    assert_eq!(
        users.user_accesses,
        map(&[("alice", Write), ("bob", Read), ("carol", NoAccess)])
    );
    room(
        &server,
        "groups",
        None,
        &[],
        &[("eng", Write), ("ops", Read)],
    )
    .await;
    room(
        &server,
        "mixed",
        Some(Read),
        &[("dave", NoAccess)],
        &[("eng", Write)],
    )
    .await;

    let people: [(&str, &[&str]); 6] = [
        ("alice", &[]),
        ("bob", &[]),
        ("carol", &[]),
        ("dave", &["eng"]),
        ("erin", &["ops"]),
        ("frank", &["eng", "ops"]),
    ];
    // The expected access, room by room, in creation order.
    let expected: BTreeMap<&str, [pb::RoomAccess; 6]> = [
        ("closed", [NoAccess; 6]),
        ("open-read", [Read; 6]),
        ("open-write", [Write; 6]),
        (
            "users",
            [Write, Read, NoAccess, NoAccess, NoAccess, NoAccess],
        ),
        ("groups", [NoAccess, NoAccess, NoAccess, Write, Read, Write]),
        // The highest wins: a NONE entry never lowers the default.
        ("mixed", [Read, Read, Read, Write, Read, Write]),
    ]
    .into();
    let order = [
        "closed",
        "open-read",
        "open-write",
        "users",
        "groups",
        "mixed",
    ];
    for (i, (user, groups)) in people.iter().enumerate() {
        let token = stored_token(&server, user, groups).await;
        let who = app.as_frontend(&prod.pk, Some(&token));
        for room_id in order {
            assert_eq!(
                observed(&who, room_id).await,
                expected[room_id][i],
                "{user} in {room_id}"
            );
        }
        // ListRooms: exactly the readable rooms, oldest first; and the
        // backend's ListRooms for this user and groups says the same.
        let readable: Vec<&str> = order
            .iter()
            .copied()
            .filter(|r| expected[r][i] != NoAccess)
            .collect();
        let listed = who.list_rooms().await.unwrap();
        let ids: Vec<&str> = listed.rooms.iter().map(|r| r.id.as_str()).collect();
        // Rooms this user created while probing are theirs too.
        assert_eq!(ids, readable, "{user}'s rooms");
        let for_user = server
            .rooms_client()
            .list_rooms(server.request(pb::ListRoomsRequest {
                user_id: (*user).into(),
                group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        let backend_ids: Vec<&str> = for_user.rooms.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(backend_ids, readable, "backend list for {user}");
        // A user cannot ask for another user's list.
        assert_code(
            who.rooms_client()
                .list_rooms(who.request(pb::ListRoomsRequest {
                    user_id: "alice".into(),
                    ..Default::default()
                }))
                .await,
            Code::PermissionDenied,
        );
    }

    // An admin browsing the environment (the console's Data screen) sees
    // every entry.
    let browsed = app
        .as_admin()
        .list_environment_rooms(&prod.id)
        .await
        .unwrap();
    let users_room = browsed.rooms.iter().find(|r| r.id == "users").unwrap();
    assert_eq!(users_room.user_accesses, users.user_accesses);
    let groups_room = browsed.rooms.iter().find(|r| r.id == "groups").unwrap();
    assert_eq!(
        groups_room.group_accesses,
        map(&[("eng", Write), ("ops", Read)])
    );
    assert_eq!(
        browsed
            .rooms
            .iter()
            .find(|r| r.id == "open-read")
            .unwrap()
            .default_access,
        Read as i32
    );

    // A user sees the default and their own entries, not who else may enter.
    let bob = app.as_frontend(&prod.pk, Some(&stored_token(&server, "bob", &[]).await));
    let seen = bob.get_room("users").await.unwrap();
    assert_eq!(seen.user_accesses, map(&[("bob", Read)]));
    let frank = app.as_frontend(
        &prod.pk,
        Some(&stored_token(&server, "frank", &["ops"]).await),
    );
    assert_eq!(
        frank.get_room("groups").await.unwrap().group_accesses,
        map(&[("ops", Read)])
    );
    // A room that does not exist is PERMISSION_DENIED to a user (its
    // absence is not revealed), NOT_FOUND to the backend.
    assert_code(bob.get_room("nowhere").await, Code::PermissionDenied);
    assert_code(server.get_room("nowhere").await, Code::NotFound);

    // A room a STORED-mode user creates starts with them at WRITE and
    // nobody else; they may not set its accesses.
    let created = bob.create_room("bobs-room").await.unwrap();
    assert_eq!(created.user_accesses, map(&[("bob", Write)]));
    assert_eq!(created.default_access, NoAccess as i32);
    assert_eq!(observed(&bob, "bobs-room").await, Write);
    let alice = app.as_frontend(&prod.pk, Some(&stored_token(&server, "alice", &[]).await));
    assert_eq!(observed(&alice, "bobs-room").await, NoAccess);
    assert_code(
        bob.rooms_client()
            .create_room(bob.request(pb::CreateRoomRequest {
                room_id: "bobs-open-room".into(),
                default_access: Write as i32,
                ..Default::default()
            }))
            .await,
        Code::PermissionDenied,
    );

    // Token mode is untouched: no patterns open every room, whatever is
    // stored; patterns decide alone.
    let plain = server.mint_user_token("alice").await.unwrap().token;
    let plain = app.as_frontend(&prod.pk, Some(&plain));
    assert_eq!(observed(&plain, "closed").await, Write);
    let patterned = server
        .mint_with_rooms("alice", &[("open-*", Read)])
        .await
        .unwrap()
        .token;
    let patterned = app.as_frontend(&prod.pk, Some(&patterned));
    assert_eq!(observed(&patterned, "open-write").await, Read);
    assert_eq!(observed(&patterned, "users").await, NoAccess);
    // The claims other services read.
    let token = stored_token(&server, "dave", &["eng", "design"]).await;
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["room_access"], "stored");
    assert_eq!(claims["groups"], serde_json::json!(["design", "eng"]));
    assert!(claims.get("rooms").is_none());
}

/// Grants, downgrades and removals hold on the next call; so do default
/// changes and a deleted (and re-created) room.
async fn changes_hold_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    room(&server, "r", None, &[], &[]).await;
    let thread = server.create_thread("r", "seed", "zed").await.unwrap();
    let alice = app.as_frontend(
        &prod.pk,
        Some(&stored_token(&server, "alice", &["eng"]).await),
    );
    let set_user = |access: pb::RoomAccess| pb::UpdateRoomAccessRequest {
        room_id: "r".into(),
        set_user_accesses: map(&[("alice", access)]),
        ..Default::default()
    };
    // Cached as closed first.
    assert_eq!(observed(&alice, "r").await, NoAccess);
    let after = update(&server, set_user(Read)).await.unwrap();
    assert_eq!(after.user_accesses, map(&[("alice", Read)]));
    assert_eq!(observed(&alice, "r").await, Read);
    update(&server, set_user(Write)).await.unwrap();
    assert_eq!(observed(&alice, "r").await, Write);
    // The room of a thread or comment is checked too.
    alice.create_comment(&thread.id, "hi", "").await.unwrap();
    update(&server, set_user(Read)).await.unwrap();
    assert_code(
        alice.create_comment(&thread.id, "again", "").await,
        Code::PermissionDenied,
    );
    alice.list_comments(&thread.id).await.unwrap();
    update(
        &server,
        pb::UpdateRoomAccessRequest {
            room_id: "r".into(),
            remove_user_ids: vec!["alice".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(observed(&alice, "r").await, NoAccess);
    assert_code(
        alice.list_comments(&thread.id).await,
        Code::PermissionDenied,
    );
    // Groups, then the default; an unspecified default is left alone.
    update(
        &server,
        pb::UpdateRoomAccessRequest {
            room_id: "r".into(),
            set_group_accesses: map(&[("eng", Write)]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(observed(&alice, "r").await, Write);
    let r = update(
        &server,
        pb::UpdateRoomAccessRequest {
            room_id: "r".into(),
            default_access: Read as i32,
            remove_group_ids: vec!["eng".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.default_access, Read as i32);
    assert!(r.group_accesses.is_empty());
    assert_eq!(observed(&alice, "r").await, Read);
    let r = update(
        &server,
        pb::UpdateRoomAccessRequest {
            room_id: "r".into(),
            set_user_accesses: map(&[("bob", Write)]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        r.default_access, Read as i32,
        "unspecified leaves the default"
    );
    // A deleted room's accesses are forgotten: the same id re-created
    // closed opens nothing.
    server.delete_room("r").await.unwrap();
    assert_code(alice.get_room("r").await, Code::PermissionDenied);
    room(&server, "r", None, &[], &[]).await;
    assert_eq!(observed(&alice, "r").await, NoAccess);

    // Only a backend changes accesses: a user token and a restricted key
    // without rooms.write are refused, one with it is not.
    assert_code(
        update(&alice, set_user(Write)).await,
        Code::PermissionDenied,
    );
    let admin = app.as_admin();
    let reader = admin
        .create_restricted_key(&prod.id, &["rooms.read"])
        .await
        .unwrap()
        .secret_key;
    assert_code(
        update(&app.as_secret(&reader), set_user(Write)).await,
        Code::PermissionDenied,
    );
    let writer = admin
        .create_restricted_key(&prod.id, &["rooms.write"])
        .await
        .unwrap()
        .secret_key;
    update(&app.as_secret(&writer), set_user(Write))
        .await
        .unwrap();
    assert_eq!(observed(&alice, "r").await, Write);
    assert_code(
        update(
            &server,
            pb::UpdateRoomAccessRequest {
                room_id: "nowhere".into(),
                ..Default::default()
            },
        )
        .await,
        Code::NotFound,
    );
}

/// A group is a name inside one environment: Staging's `eng` entries open
/// nothing in Production, and Staging's backend cannot touch Production's
/// rooms.
async fn groups_are_scoped_to_their_environment(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let staging = environment(&app, "Staging").await;
    let prod_server = app.as_secret(&prod.sk);
    let staging_server = app.as_secret(&staging.sk);
    room(&prod_server, "shared", None, &[], &[]).await;
    room(&prod_server, "prod-only", None, &[], &[]).await;
    room(
        &staging_server,
        "shared",
        None,
        &[("alice", Write)],
        &[("eng", Write)],
    )
    .await;
    let in_staging = stored_token(&staging_server, "alice", &["eng"]).await;
    let in_prod = stored_token(&prod_server, "alice", &["eng"]).await;
    let staging_alice = app.as_frontend(&staging.pk, Some(&in_staging));
    let prod_alice = app.as_frontend(&prod.pk, Some(&in_prod));
    assert_eq!(observed(&staging_alice, "shared").await, Write);
    assert_eq!(observed(&prod_alice, "shared").await, NoAccess);
    assert!(prod_alice.list_rooms().await.unwrap().rooms.is_empty());
    // Staging's token with Production's publishable key: not Production's user.
    assert_code(
        app.as_frontend(&prod.pk, Some(&in_staging))
            .get_room("shared")
            .await,
        Code::Unauthenticated,
    );
    // Staging's backend cannot open Production's rooms.
    let open_everything = pb::UpdateRoomAccessRequest {
        room_id: "prod-only".into(),
        default_access: Write as i32,
        ..Default::default()
    };
    assert_code(
        update(&staging_server, open_everything).await,
        Code::NotFound,
    );
    assert_eq!(observed(&prod_alice, "prod-only").await, NoAccess);
}

async fn bad_input_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    room(&server, "r", None, &[], &[]).await;
    let invalid = |r: Result<pb::Room, tonic::Status>| assert_code(r, Code::InvalidArgument);
    let create = |users: HashMap<String, i32>| pb::CreateRoomRequest {
        room_id: "bad".into(),
        user_accesses: users,
        ..Default::default()
    };
    for users in [
        HashMap::from([("a b".to_owned(), Read as i32)]),
        HashMap::from([(String::new(), Read as i32)]),
        HashMap::from([("x".repeat(129), Read as i32)]),
        HashMap::from([("ok".to_owned(), 0)]),
        HashMap::from([("ok".to_owned(), 99)]),
    ] {
        invalid(
            server
                .rooms_client()
                .create_room(server.request(create(users)))
                .await
                .map(|r| r.into_inner()),
        );
    }
    let too_many: HashMap<String, i32> =
        (0..1001).map(|i| (format!("u{i}"), Read as i32)).collect();
    invalid(
        server
            .rooms_client()
            .create_room(server.request(create(too_many)))
            .await
            .map(|r| r.into_inner()),
    );
    assert_code(server.get_room("bad").await, Code::NotFound);
    // Set and removed at once; an unknown default.
    invalid(
        update(
            &server,
            pb::UpdateRoomAccessRequest {
                room_id: "r".into(),
                set_user_accesses: map(&[("alice", Read)]),
                remove_user_ids: vec!["alice".into()],
                ..Default::default()
            },
        )
        .await,
    );
    invalid(
        update(
            &server,
            pb::UpdateRoomAccessRequest {
                room_id: "r".into(),
                default_access: 42,
                ..Default::default()
            },
        )
        .await,
    );
    // At most 1,000 entries per room, counted after the change; nothing
    // of a refused change is kept.
    let batch = |from: usize| pb::UpdateRoomAccessRequest {
        room_id: "r".into(),
        set_user_accesses: (from..from + 600)
            .map(|i| (format!("u{i}"), Read as i32))
            .collect(),
        ..Default::default()
    };
    update(&server, batch(0)).await.unwrap();
    assert_code(update(&server, batch(600)).await, Code::FailedPrecondition);
    assert_eq!(server.get_room("r").await.unwrap().user_accesses.len(), 600);
    // Tokens: more than 100 groups, a bad group id, groups without STORED
    // mode, patterns with it.
    let mint = |groups: Vec<String>, mode: pb::RoomAccessMode, rooms: &[(&str, pb::RoomAccess)]| {
        pb::MintUserTokenRequest {
            user_id: "alice".into(),
            group_ids: groups,
            room_access_mode: mode as i32,
            room_permissions: map(rooms),
            ..Default::default()
        }
    };
    for request in [
        mint(
            (0..101).map(|i| format!("g{i}")).collect(),
            pb::RoomAccessMode::Stored,
            &[],
        ),
        mint(vec!["a,b".into()], pb::RoomAccessMode::Stored, &[]),
        mint(vec!["eng".into()], pb::RoomAccessMode::Token, &[]),
        mint(vec![], pb::RoomAccessMode::Stored, &[("r", Read)]),
        // NONE is for stored entries, not token patterns.
        mint(vec![], pb::RoomAccessMode::Token, &[("r", NoAccess)]),
    ] {
        assert_code(server.mint(request).await, Code::InvalidArgument);
    }
    server
        .mint(mint(
            (0..100).map(|i| format!("g{i}")).collect(),
            pb::RoomAccessMode::Stored,
            &[],
        ))
        .await
        .unwrap();
}

/// Two replicas on one PostgreSQL: a change made through one holds on the
/// other when the call returns (its cache was warm).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(pulse_no_postgres, ignore = "no PostgreSQL installed")]
async fn postgres_room_access_changes_hold_on_a_second_replica() {
    use crate::helpers::{fresh_database, spawn_process};
    let (url, _) = fresh_database(Backend::Postgres).await;
    let first = spawn_process(&url, &[]);
    let admin = first.bootstrap_token();
    let second = spawn_process(&url, &[]);
    let on_first = Client::bearer(first.channel().await, &admin);
    let created = on_first.create_environment("Production").await.unwrap();
    let sk = created.secret_key;
    let pk = created.publishable_key.unwrap().value;
    let server = Client::bearer(first.channel().await, &sk);
    let token = stored_token(&server, "alice", &["eng"]).await;
    let alice_on_second = Client::new(
        second.channel().await,
        crate::helpers::Credential::frontend(&pk, Some(&token)),
    );
    for round in 0..5 {
        let id = format!("room-{round}");
        room(&server, &id, None, &[("alice", Read)], &[]).await;
        // Warm: the second replica has read and cached the accesses.
        alice_on_second.get_room(&id).await.unwrap();
        update(
            &server,
            pb::UpdateRoomAccessRequest {
                room_id: id.clone(),
                remove_user_ids: vec!["alice".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_code(alice_on_second.get_room(&id).await, Code::PermissionDenied);
        update(
            &server,
            pb::UpdateRoomAccessRequest {
                room_id: id.clone(),
                set_group_accesses: map(&[("eng", Write)]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        alice_on_second
            .create_thread(&id, "hello", "")
            .await
            .unwrap();
        server.delete_room(&id).await.unwrap();
        assert_code(alice_on_second.get_room(&id).await, Code::PermissionDenied);
    }
}
