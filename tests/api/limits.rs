//! Limits: oversized messages and metadata, and the per-peer limit on
//! failed authentications.

use pulse::pb;
use tonic::Code;
use tonic::metadata::MetadataValue;

use crate::both_backends;
use crate::helpers::environment;
use crate::helpers::{Backend, assert_code, bearer, spawn_app, spawn_app_with};

async fn oversized_messages_and_metadata_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let mut rooms = pb::room_service_client::RoomServiceClient::new(app.channel().await)
        .max_encoding_message_size(16 * 1024 * 1024);
    let huge = (0..40)
        .map(|i| (format!("k{i}"), "v".repeat(10_000)))
        .collect();
    let status = assert_code(
        rooms
            .create_room(bearer(
                pb::CreateRoomRequest {
                    room_id: "big".into(),
                    metadata: huge,
                    ..Default::default()
                },
                &prod.sk,
            ))
            .await,
        // tonic's code for a message over the decoding limit.
        Code::OutOfRange,
    );
    assert!(
        status.message().contains("message length too large"),
        "{status:?}"
    );

    // Metadata over the cap (80 KiB: room for the largest user token) is
    // refused before any handler runs: the room exists, and the same
    // request without the padding reads it.
    let get = || {
        bearer(
            pb::GetRoomRequest {
                room_id: "small".into(),
            },
            &prod.sk,
        )
    };
    rooms
        .create_room(bearer(
            pb::CreateRoomRequest {
                room_id: "small".into(),
                ..Default::default()
            },
            &prod.sk,
        ))
        .await
        .unwrap();
    let mut padded = get();
    padded.metadata_mut().insert(
        "x-padding",
        MetadataValue::try_from("p".repeat(81 * 1024)).unwrap(),
    );
    let refused = rooms.get_room(padded).await.unwrap_err();
    assert_ne!(refused.code(), Code::NotFound, "{refused:?}");
    let mut rooms = pb::room_service_client::RoomServiceClient::new(app.channel().await);
    let mut within = get();
    within.metadata_mut().insert(
        "x-padding",
        MetadataValue::try_from("p".repeat(60 * 1024)).unwrap(),
    );
    rooms
        .get_room(within)
        .await
        .expect("under the cap is served");

    // Nothing was written, and the server still serves.
    let mut rooms = pb::room_service_client::RoomServiceClient::new(app.channel().await);
    assert_code(
        rooms
            .get_room(bearer(
                pb::GetRoomRequest {
                    room_id: "big".into(),
                },
                &prod.sk,
            ))
            .await,
        Code::NotFound,
    );
}

async fn failed_authentications_are_rate_limited_per_peer(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.failed_auth_per_second = 1;
        s.failed_auth_burst = 20;
    })
    .await;
    let prod = environment(&app, "Production").await;
    let mut auth = pb::auth_service_client::AuthServiceClient::new(app.channel().await);
    // The valid key is in use before the attack starts: a key first seen
    // from an address that is failing is charged like a failure.
    auth.who_am_i(bearer(pb::WhoAmIRequest {}, &prod.sk))
        .await
        .unwrap();
    let (mut unauthenticated, mut limited) = (0, 0);
    for i in 0..2000 {
        let bogus =
            pulse::auth::credential::generate(pulse::auth::credential::CredentialKind::Secret);
        let bad = if i % 2 == 0 {
            bogus.plaintext.expose().to_owned()
        } else {
            format!("sk_garbage{i}")
        };
        match auth.who_am_i(bearer(pb::WhoAmIRequest {}, &bad)).await {
            Err(s) if s.code() == Code::Unauthenticated => unauthenticated += 1,
            Err(s) if s.code() == Code::ResourceExhausted => {
                let retry: u64 = s
                    .metadata()
                    .get("retry-after")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
        // A valid caller from the same address is never limited.
        if i % 100 == 0 {
            auth.who_am_i(bearer(pb::WhoAmIRequest {}, &prod.sk))
                .await
                .unwrap();
        }
    }
    assert!(
        (20..=40).contains(&unauthenticated),
        "the burst, then ~1/s: {unauthenticated}"
    );
    assert_eq!(unauthenticated + limited, 2000);
}

both_backends!(
    oversized_messages_and_metadata_are_refused,
    failed_authentications_are_rate_limited_per_peer
);
