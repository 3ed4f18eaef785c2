//! Property: random interleavings of creates in two environments never let a
//! list or get in one return the other's rows.

use std::collections::BTreeSet;

use proptest::test_runner::{Config, TestRunner};
use pulse::pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::data_plane::{Env, environment, mint};
use crate::helpers::{Backend, TestApp, bearer, skip_postgres, spawn_app};

/// What one environment should contain after the ops.
#[derive(Default)]
struct Expected {
    rooms: BTreeSet<String>,
    users: BTreeSet<String>,
    threads: BTreeSet<String>,
    comments: usize,
}

async fn apply(
    channel: Channel,
    sk: String,
    seed_thread: String,
    op: u8,
    i: usize,
) -> (u8, String) {
    let mut rooms = pb::room_service_client::RoomServiceClient::new(channel.clone());
    let mut threads = pb::thread_service_client::ThreadServiceClient::new(channel.clone());
    match op {
        0 => {
            let id = format!("room-{i}");
            rooms
                .create_room(bearer(
                    pb::CreateRoomRequest {
                        room_id: id.clone(),
                        ..Default::default()
                    },
                    &sk,
                ))
                .await
                .unwrap();
            (op, id)
        }
        1 => {
            let id = format!("user-{i}");
            mint(&channel, &sk, &id, 60).await;
            (op, id)
        }
        2 => {
            let t = threads
                .create_thread(bearer(
                    pb::CreateThreadRequest {
                        room_id: "seed".into(),
                        body: format!("t{i}"),
                        user_id: "u".into(),
                    },
                    &sk,
                ))
                .await
                .unwrap()
                .into_inner();
            (op, t.id)
        }
        _ => {
            threads
                .create_comment(bearer(
                    pb::CreateCommentRequest {
                        thread_id: seed_thread,
                        body: format!("c{i}"),
                        user_id: "u".into(),
                    },
                    &sk,
                ))
                .await
                .unwrap();
            (op, String::new())
        }
    }
}

/// One environment's credentials, seed thread and expected contents.
struct Side<'a> {
    env: &'a Env,
    seed: &'a str,
    want: &'a Expected,
}

async fn check(app: &TestApp, channel: &Channel, mine: Side<'_>, other: Side<'_>) {
    let (env_id, sk, seed_thread, want) = (
        mine.env.id.as_str(),
        mine.env.sk.as_str(),
        mine.seed,
        mine.want,
    );
    let (other_thread, other) = (other.seed, other.want);
    let mut rooms = pb::room_service_client::RoomServiceClient::new(channel.clone());
    let mut users = pb::user_service_client::UserServiceClient::new(channel.clone());
    let mut threads = pb::thread_service_client::ThreadServiceClient::new(channel.clone());
    // Small pages, so the keyset walk itself is exercised.
    let mut got_rooms = BTreeSet::new();
    let mut token = String::new();
    loop {
        let page = rooms
            .list_rooms(bearer(
                pb::ListRoomsRequest {
                    page_size: 3,
                    page_token: token,
                },
                sk,
            ))
            .await
            .unwrap()
            .into_inner();
        got_rooms.extend(page.rooms.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut want_rooms = want.rooms.clone();
    want_rooms.insert("seed".into());
    assert_eq!(got_rooms, want_rooms);
    let got_users: BTreeSet<_> = users
        .list_users(bearer(
            pb::ListUsersRequest {
                page_size: 1000,
                ..Default::default()
            },
            sk,
        ))
        .await
        .unwrap()
        .into_inner()
        .users
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(&got_users, &want.users);
    let got_threads: BTreeSet<_> = threads
        .list_threads(bearer(
            pb::ListThreadsRequest {
                room_id: "seed".into(),
                page_size: 1000,
                ..Default::default()
            },
            sk,
        ))
        .await
        .unwrap()
        .into_inner()
        .threads
        .into_iter()
        .map(|t| t.id)
        .filter(|id| id != seed_thread)
        .collect();
    assert_eq!(&got_threads, &want.threads);
    let comments = threads
        .list_comments(bearer(
            pb::ListCommentsRequest {
                thread_id: seed_thread.into(),
                page_size: 1000,
                ..Default::default()
            },
            sk,
        ))
        .await
        .unwrap()
        .into_inner()
        .comments;
    assert_eq!(comments.len(), want.comments + 1);
    let stats = app
        .environments()
        .await
        .get_environment_stats(bearer(
            pb::GetEnvironmentStatsRequest {
                environment_id: env_id.into(),
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.room_count as usize, want.rooms.len() + 1);
    assert_eq!(stats.user_count as usize, want.users.len());
    assert_eq!(stats.thread_count as usize, want.threads.len() + 1);
    assert_eq!(
        stats.comment_count as usize,
        want.comments + 1 + want.threads.len()
    );

    // The other environment's rows are invisible by id.
    for room in &other.rooms {
        let r = rooms
            .get_room(bearer(
                pb::GetRoomRequest {
                    room_id: room.clone(),
                },
                sk,
            ))
            .await;
        assert_eq!(r.unwrap_err().code(), Code::NotFound);
    }
    for user in &other.users {
        let r = users
            .get_user(bearer(
                pb::GetUserRequest {
                    user_id: user.clone(),
                },
                sk,
            ))
            .await;
        assert_eq!(r.unwrap_err().code(), Code::NotFound);
    }
    for thread in other.threads.iter().chain([&other_thread.to_owned()]) {
        let r = threads
            .list_comments(bearer(
                pb::ListCommentsRequest {
                    thread_id: thread.clone(),
                    ..Default::default()
                },
                sk,
            ))
            .await;
        assert_eq!(r.unwrap_err().code(), Code::NotFound);
    }
}

fn run(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(spawn_app(backend));
    let channel = rt.block_on(app.channel());
    let mut runner = TestRunner::new(Config {
        cases: 10,
        failure_persistence: None,
        ..Config::default()
    });
    let ops = proptest::collection::vec((0..2usize, 0..4u8), 1..30);
    runner
        .run(&ops, |ops| {
            rt.block_on(async {
                let mut envs = Vec::new();
                for name in ["Production", "Staging"] {
                    let env = environment(&app, name).await;
                    let mut rooms =
                        pb::room_service_client::RoomServiceClient::new(channel.clone());
                    rooms
                        .create_room(bearer(
                            pb::CreateRoomRequest {
                                room_id: "seed".into(),
                                ..Default::default()
                            },
                            &env.sk,
                        ))
                        .await
                        .unwrap();
                    let seed = pb::thread_service_client::ThreadServiceClient::new(channel.clone())
                        .create_thread(bearer(
                            pb::CreateThreadRequest {
                                room_id: "seed".into(),
                                body: "seed".into(),
                                user_id: "u".into(),
                            },
                            &env.sk,
                        ))
                        .await
                        .unwrap()
                        .into_inner()
                        .id;
                    envs.push((env, seed));
                }
                // All ops at once: their transactions interleave for real.
                let tasks: Vec<_> = ops
                    .iter()
                    .enumerate()
                    .map(|(i, (e, op))| {
                        let (env, seed) = &envs[*e];
                        (
                            *e,
                            tokio::spawn(apply(
                                channel.clone(),
                                env.sk.clone(),
                                seed.clone(),
                                *op,
                                i,
                            )),
                        )
                    })
                    .collect();
                let mut expected = [Expected::default(), Expected::default()];
                for (e, task) in tasks {
                    let (op, id) = task.await.unwrap();
                    let want = &mut expected[e];
                    match op {
                        0 => drop(want.rooms.insert(id)),
                        1 => drop(want.users.insert(id)),
                        2 => drop(want.threads.insert(id)),
                        _ => want.comments += 1,
                    }
                }
                for (e, (env, seed)) in envs.iter().enumerate() {
                    let other = 1 - e;
                    check(
                        &app,
                        &channel,
                        Side {
                            env,
                            seed,
                            want: &expected[e],
                        },
                        Side {
                            env: &envs[other].0,
                            seed: &envs[other].1,
                            want: &expected[other],
                        },
                    )
                    .await;
                }
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn sqlite_interleaved_creates_never_cross_environments() {
    run(Backend::Sqlite);
}

#[test]
fn postgres_interleaved_creates_never_cross_environments() {
    if skip_postgres() {
        return;
    }
    run(Backend::Postgres);
}
