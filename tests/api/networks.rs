//! Allowed networks (`allowed_cidrs`): calls from two loopback source
//! addresses (127.0.0.1 and 127.0.0.2), and `x-forwarded-for` from a
//! trusted and from an untrusted peer.

use std::net::SocketAddr;

use hyper_util::rt::TokioIo;
use pulse::pb;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::both_backends;
use crate::helpers::environment;
use crate::helpers::{Backend, Client, Credential, assert_code, spawn_app_with};
use crate::metrics::{sample, scrape};

/// A channel to `server` whose TCP connections come from `source` (any
/// 127.0.0.0/8 address is local on Linux).
fn channel_from(source: [u8; 4], server: SocketAddr) -> Channel {
    let source = SocketAddr::from((source, 0));
    Endpoint::from_shared(format!("http://{server}"))
        .unwrap()
        .connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(source)?;
            let stream = socket.connect(server).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }))
}

/// `x-forwarded-for: <value>` on every call.
fn forwarded<T>(client: &Client, message: T, value: &str) -> tonic::Request<T> {
    let mut request = client.request(message);
    request
        .metadata_mut()
        .insert("x-forwarded-for", value.parse().unwrap());
    request
}

async fn whoami_forwarded(client: &Client, value: &str) -> Result<(), tonic::Status> {
    client
        .auth_client()
        .who_am_i(forwarded(client, pb::WhoAmIRequest {}, value))
        .await
        .map(drop)
}

async fn keys_work_only_from_their_networks(backend: Backend) {
    // 127.0.0.1 is a trusted proxy; 127.0.0.2 is not.
    let app = spawn_app_with(backend, |s| {
        s.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let admin = app.as_admin();
    let prod = environment(&app, "Production").await;
    let create = |kind: pb::ApiKeyKind, permissions: &[&str], cidr: &str| pb::CreateKeyRequest {
        environment_id: prod.id.clone(),
        kind: kind as i32,
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        allowed_cidrs: vec![cidr.to_owned()],
        ..Default::default()
    };
    let one = admin
        .create_key_with(create(pb::ApiKeyKind::Secret, &[], "127.0.0.1/32"))
        .await
        .unwrap()
        .secret_key;
    let two = admin
        .create_key_with(create(
            pb::ApiKeyKind::Restricted,
            &["rooms.read"],
            "127.0.0.2",
        ))
        .await
        .unwrap()
        .secret_key;
    let from_1 = Client::new(channel_from([127, 0, 0, 1], app.addr), Credential::None);
    let from_2 = Client::new(channel_from([127, 0, 0, 2], app.addr), Credential::None);
    let (one_at_1, one_at_2) = (
        from_1.with(Credential::bearer(&one)),
        from_2.with(Credential::bearer(&one)),
    );
    let (two_at_1, two_at_2) = (
        from_1.with(Credential::bearer(&two)),
        from_2.with(Credential::bearer(&two)),
    );

    // Each key works from its network (twice: the second is answered from
    // the remembered decision) and nowhere else, with the generic message.
    for _ in 0..2 {
        one_at_1.whoami().await.unwrap();
        two_at_2.list_rooms().await.unwrap();
    }
    let refused = assert_code(one_at_2.whoami().await, Code::Unauthenticated);
    let unknown = assert_code(
        from_2.with(Credential::bearer("sk_nope")).whoami().await,
        Code::Unauthenticated,
    );
    assert_eq!(refused.message(), unknown.message(), "one generic message");
    assert_code(two_at_1.list_rooms().await, Code::Unauthenticated);
    // An unrestricted key works from both.
    from_2
        .with(Credential::bearer(&prod.sk))
        .whoami()
        .await
        .unwrap();

    // From the trusted proxy (127.0.0.1), x-forwarded-for names the client.
    whoami_forwarded(&two_at_1, "127.0.0.2").await.unwrap();
    assert_code(
        whoami_forwarded(&one_at_1, "127.0.0.2").await,
        Code::Unauthenticated,
    );
    // The right-most untrusted hop counts, not what the client prepended.
    whoami_forwarded(&two_at_1, "127.0.0.1, 127.0.0.2")
        .await
        .unwrap();
    assert_code(
        whoami_forwarded(&one_at_1, "127.0.0.1, 127.0.0.2").await,
        Code::Unauthenticated,
    );
    // An unreadable header from the proxy names no client: refused.
    assert_code(
        whoami_forwarded(&two_at_1, "not-an-address").await,
        Code::Unauthenticated,
    );
    // From an untrusted peer (127.0.0.2) the header is ignored.
    assert_code(
        whoami_forwarded(&one_at_2, "127.0.0.1").await,
        Code::Unauthenticated,
    );
    whoami_forwarded(&two_at_2, "127.0.0.1").await.unwrap();

    // The reason is counted (the caller is told nothing more).
    let text = scrape(app.metrics_addr.unwrap());
    assert_eq!(
        sample(
            &text,
            "pulse_auth_failures_total{reason=\"not_allowed_network\"}"
        ),
        6.0,
        "the six refusals above"
    );
}

/// Without `--trusted-proxies`, `x-forwarded-for` is never believed.
async fn forwarded_for_is_ignored_without_trusted_proxies(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let prod = environment(&app, "Production").await;
    let key = app
        .as_admin()
        .create_key_with(pb::CreateKeyRequest {
            environment_id: prod.id.clone(),
            kind: pb::ApiKeyKind::Secret as i32,
            allowed_cidrs: vec!["127.0.0.2/32".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .secret_key;
    let from_1 = Client::new(
        channel_from([127, 0, 0, 1], app.addr),
        Credential::bearer(&key),
    );
    assert_code(
        whoami_forwarded(&from_1, "127.0.0.2").await,
        Code::Unauthenticated,
    );
    let from_2 = Client::new(
        channel_from([127, 0, 0, 2], app.addr),
        Credential::bearer(&key),
    );
    from_2.whoami().await.unwrap();
}

both_backends!(
    keys_work_only_from_their_networks,
    forwarded_for_is_ignored_without_trusted_proxies
);
