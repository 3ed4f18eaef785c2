//! Seed data most tests start from: an environment with its credentials,
//! user tokens minted with its secret key, and a room with a thread.

use pulse::pb;
use tonic::transport::Channel;

use super::{Client, TestApp};

/// An environment with its credentials.
pub struct Env {
    pub id: String,
    pub pk: String,
    pub sk: String,
    pub sk_id: String,
}

/// Creates an environment with the bootstrap admin token.
pub async fn environment(app: &TestApp, name: &str) -> Env {
    let created = app.create_environment(name).await;
    Env {
        id: created.environment.unwrap().id,
        pk: created.publishable_key.unwrap().value,
        sk: created.secret_key,
        sk_id: created.secret_key_info.unwrap().id,
    }
}

/// A user token for `user`, minted with the secret key `sk`, living `ttl`
/// seconds (0: an hour).
pub async fn mint(channel: &Channel, sk: &str, user: &str, ttl: i32) -> String {
    Client::bearer(channel.clone(), sk)
        .mint(pb::MintUserTokenRequest {
            user_id: user.into(),
            user_info: Some(pb::UserInfo {
                name: format!("{user} name"),
                avatar_url: String::new(),
            }),
            ttl_seconds: ttl,
            ..Default::default()
        })
        .await
        .expect("mint user token")
        .token
}

/// Creates room `room` and a thread in it by `author` with the secret key;
/// returns the thread and its first comment.
pub async fn seed_thread(
    channel: &Channel,
    sk: &str,
    room: &str,
    author: &str,
    body: &str,
) -> (pb::Thread, pb::Comment) {
    let server = Client::bearer(channel.clone(), sk);
    server.create_room(room).await.expect("create room");
    let thread = server
        .create_thread(room, body, author)
        .await
        .expect("create thread");
    let comment = server
        .list_comments(&thread.id)
        .await
        .expect("list comments")
        .comments
        .remove(0);
    (thread, comment)
}
