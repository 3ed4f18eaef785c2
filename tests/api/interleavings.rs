//! Property: random interleavings of creates in two environments never let a
//! list or get in one return the other's rows.

use std::collections::BTreeSet;

use proptest::test_runner::{Config, TestRunner};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{Backend, Client, TestApp, spawn_app};
use crate::helpers::{Env, environment, mint};

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
    let server = Client::bearer(channel.clone(), &sk);
    match op {
        0 => {
            let id = format!("room-{i}");
            server.create_room(&id).await.unwrap();
            (op, id)
        }
        1 => {
            let id = format!("user-{i}");
            mint(&channel, &sk, &id, 60).await;
            (op, id)
        }
        2 => {
            let t = server
                .create_thread("seed", format!("t{i}"), "u")
                .await
                .unwrap();
            (op, t.id)
        }
        _ => {
            server
                .create_comment(seed_thread, format!("c{i}"), "u")
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
    let server = Client::bearer(channel.clone(), sk);
    // Small pages, so the keyset walk itself is exercised.
    let mut got_rooms = BTreeSet::new();
    let mut token = String::new();
    loop {
        let page = server.list_rooms_page(3, token).await.unwrap();
        got_rooms.extend(page.rooms.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut want_rooms = want.rooms.clone();
    want_rooms.insert("seed".into());
    assert_eq!(got_rooms, want_rooms);
    let got_users: BTreeSet<_> = server
        .list_users_page(1000, "")
        .await
        .unwrap()
        .users
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(&got_users, &want.users);
    let got_threads: BTreeSet<_> = server
        .list_threads_page("seed", 1000, "")
        .await
        .unwrap()
        .threads
        .into_iter()
        .map(|t| t.id)
        .filter(|id| id != seed_thread)
        .collect();
    assert_eq!(&got_threads, &want.threads);
    let comments = server
        .list_comments_page(seed_thread, 1000, "")
        .await
        .unwrap()
        .comments;
    assert_eq!(comments.len(), want.comments + 1);
    let stats = app.as_admin().environment_stats(env_id).await.unwrap();
    assert_eq!(stats.room_count as usize, want.rooms.len() + 1);
    assert_eq!(stats.user_count as usize, want.users.len());
    assert_eq!(stats.thread_count as usize, want.threads.len() + 1);
    assert_eq!(
        stats.comment_count as usize,
        want.comments + 1 + want.threads.len()
    );

    // The other environment's rows are invisible by id.
    for room in &other.rooms {
        let r = server.get_room(room).await;
        assert_eq!(r.unwrap_err().code(), Code::NotFound);
    }
    // (Ids both environments use — the seed author — exist in both.)
    for user in other.users.difference(&want.users) {
        let r = server.get_user(user).await;
        assert_eq!(r.unwrap_err().code(), Code::NotFound);
    }
    for thread in other.threads.iter().chain([&other_thread.to_owned()]) {
        let r = server.list_comments(thread).await;
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
                    let server = Client::bearer(channel.clone(), &env.sk);
                    server.create_room("seed").await.unwrap();
                    let seed = server.create_thread("seed", "seed", "u").await.unwrap().id;
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
                // The seed thread's author "u" is a user: users are who acts.
                let mut expected = [Expected::default(), Expected::default()];
                for want in &mut expected {
                    want.users.insert("u".to_owned());
                }
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
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
fn postgres_interleaved_creates_never_cross_environments() {
    run(Backend::Postgres);
}
