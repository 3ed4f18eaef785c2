//! Issue 13: `EventService.WatchEvents` (live audit events, resumable with
//! no gap and no duplicate) and `key.expiring` notices.

use std::time::Duration;

use pulse::pb;
use pulse::pb::event_service_client::EventServiceClient;
use tonic::transport::Endpoint;
use tonic::{Code, Status, Streaming};

use crate::both_backends;
use crate::helpers::{
    Backend, Client, TestApp, assert_code, spawn_app, spawn_app_on, spawn_app_with,
};

/// How long a test waits for an event that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// Opens a watch.
async fn watch(
    client: &Client,
    environment_id: &str,
    types: &[&str],
    after_event_id: &str,
) -> Result<Streaming<pb::AuditEvent>, Status> {
    let request = client.request(pb::WatchEventsRequest {
        environment_id: environment_id.to_owned(),
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        after_event_id: after_event_id.to_owned(),
    });
    EventServiceClient::new(client.channel())
        .watch_events(request)
        .await
        .map(tonic::Response::into_inner)
}

/// The next event, or the status that ended the stream.
async fn next(stream: &mut Streaming<pb::AuditEvent>) -> Result<pb::AuditEvent, Status> {
    match tokio::time::timeout(PATIENCE, stream.message()).await {
        Err(_) => panic!("no event within {PATIENCE:?}"),
        Ok(Ok(Some(event))) => Ok(event),
        Ok(Ok(None)) => panic!("the stream ended without a status"),
        Ok(Err(status)) => Err(status),
    }
}

/// Events until (and with) the first one `last` accepts.
async fn until(
    stream: &mut Streaming<pb::AuditEvent>,
    last: impl Fn(&pb::AuditEvent) -> bool,
) -> Vec<pb::AuditEvent> {
    let mut events = Vec::new();
    loop {
        let event = next(stream).await.expect("an event");
        let done = last(&event);
        events.push(event);
        if done {
            return events;
        }
    }
}

/// Asserts that nothing arrives for `wait`.
async fn quiet_for(stream: &mut Streaming<pb::AuditEvent>, wait: Duration) {
    if let Ok(got) = tokio::time::timeout(wait, stream.message()).await {
        panic!("expected nothing, got {got:?}");
    }
}

/// The account's whole audit log, oldest first.
async fn audit_log(admin: &Client) -> Vec<pb::AuditEvent> {
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 100,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap();
        events.extend(page.events);
        if page.next_page_token.is_empty() {
            return events;
        }
        page_token = page.next_page_token;
    }
}

fn ids(events: &[pb::AuditEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

fn types(events: &[pb::AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.r#type.as_str()).collect()
}

/// (a) A watcher on one replica sees the create/rotate/revoke events made
/// on another, in commit order, exactly as the audit log has them. On
/// SQLite (one server per file) both are the same server.
async fn a_watcher_sees_changes_made_on_another_replica_in_order(backend: Backend) {
    let writer = spawn_app(backend).await;
    let second = match backend {
        Backend::Postgres => Some(spawn_app_on(backend, writer.database_url.clone()).await),
        Backend::Sqlite => None,
    };
    let reader: &TestApp = second.as_ref().unwrap_or(&writer);
    let mut stream = watch(&reader.as_admin_token(&writer.admin_token), "", &[], "")
        .await
        .unwrap();

    let admin = writer.as_admin();
    let created = admin.create_environment("Production").await.unwrap();
    let env = created.environment.unwrap();
    let extra = admin
        .create_key(&env.id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap()
        .key
        .unwrap();
    admin.revoke_key(&extra.id).await.unwrap();
    admin.rotate_keys(&env.id, 0).await.unwrap();

    // Every event from the first one seen, nothing left out, nothing
    // twice, nothing after: the log's tail, in its order.
    let log = audit_log(&admin).await;
    let mut seen = vec![next(&mut stream).await.unwrap()];
    let start = log.iter().position(|e| e.id == seen[0].id).unwrap();
    while seen.len() < log.len() - start {
        seen.push(next(&mut stream).await.unwrap());
    }
    quiet_for(&mut stream, Duration::from_millis(300)).await;
    assert_eq!(ids(&seen), ids(&log[start..]));
    assert_eq!(seen[0].r#type, "environment.created");
    let kinds = types(&seen);
    let revoked = kinds.iter().position(|t| *t == "key.revoked").unwrap();
    let rotated = kinds.iter().position(|t| *t == "keys.rotated").unwrap();
    assert_eq!(seen[revoked].target_id, extra.id);
    assert!(kinds[..revoked].contains(&"key.created"));
    assert!(rotated > revoked);
    assert_eq!(
        kinds[rotated..],
        [
            "keys.rotated",
            "key.revoked",
            "key.revoked",
            "key.created",
            "key.created"
        ]
    );
    assert_eq!(seen[0], log[start], "the stream's event is the log's");
}

/// (b) The server stops mid-stream; after a restart on the same database
/// the watcher resumes with the last id it received: what it got in all
/// equals the audit log exactly.
async fn resuming_after_a_restart_has_no_gap_and_no_duplicate(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let first = audit_log(&admin).await[0].clone();
    assert_eq!(first.r#type, "account.created");
    let mut stream = watch(&admin, "", &[], &first.id).await.unwrap();
    let mut got = vec![first];
    // The replay (the bootstrap's admin token), then live events.
    for name in ["One", "Two"] {
        let env = app.create_environment(name).await.environment.unwrap();
        admin.rotate_keys(&env.id, 0).await.unwrap();
    }
    let log = audit_log(&admin).await;
    while got.len() < log.len() - 3 {
        got.push(next(&mut stream).await.unwrap());
    }
    // Stopped mid-stream: the stream ends, naming where to resume.
    let stopping = tokio::spawn(app.restart());
    let ended = loop {
        match tokio::time::timeout(PATIENCE, stream.message()).await {
            Ok(Ok(Some(event))) => got.push(event),
            Ok(Ok(None)) => break None,
            Ok(Err(status)) => break Some(status),
            Err(_) => panic!("the stream outlived its server"),
        }
    };
    if let Some(status) = &ended {
        assert!(
            matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Cancelled
            ),
            "{status:?}"
        );
    }
    let app = stopping.await.unwrap();
    let admin = app.as_admin();
    // Changes while the watcher is away, then it comes back.
    let env = app.create_environment("Three").await.environment.unwrap();
    let last = got.last().unwrap().id.clone();
    let mut stream = watch(&admin, "", &[], &last).await.unwrap();
    admin.rotate_keys(&env.id, 0).await.unwrap();
    let log = audit_log(&admin).await;
    while got.len() < log.len() {
        got.push(next(&mut stream).await.unwrap());
    }
    quiet_for(&mut stream, Duration::from_millis(300)).await;
    assert_eq!(ids(&got), ids(&log));
}

/// (c) Scope and filters: a secret key sees its environment only; another
/// account's admin sees nothing of ours; a type filter; bad types and
/// foreign positions are refused.
async fn watchers_see_only_their_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let prod = app.create_environment("Production").await;
    let prod_id = prod.environment.as_ref().unwrap().id.clone();
    let staging = app.create_environment("Staging").await;
    let staging_id = staging.environment.as_ref().unwrap().id.clone();
    let other = app.as_admin_token(&app.create_account("Other", "cli").await);
    let other_env = other
        .create_environment("Theirs")
        .await
        .unwrap()
        .environment
        .unwrap();

    let sk = app.as_secret(&prod.secret_key);
    let mut as_secret = watch(&sk, "", &[], "").await.unwrap();
    let mut as_secret_named = watch(&sk, &prod_id, &[], "").await.unwrap();
    let mut as_other = watch(&other, "", &[], "").await.unwrap();
    let mut revocations = watch(&admin, "", &["key.revoked"], "").await.unwrap();
    let mut staging_only = watch(&admin, &staging_id, &[], "").await.unwrap();

    let staging_key = admin
        .create_key(&staging_id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap()
        .key
        .unwrap();
    let prod_key = admin
        .create_key(&prod_id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap()
        .key
        .unwrap();
    admin.revoke_key(&staging_key.id).await.unwrap();
    admin.revoke_key(&prod_key.id).await.unwrap();

    for stream in [&mut as_secret, &mut as_secret_named] {
        let seen = until(stream, |e| e.r#type == "key.revoked").await;
        assert_eq!(types(&seen), ["key.created", "key.revoked"]);
        assert!(
            seen.iter()
                .all(|e| e.environment_id == prod_id && e.target_id == prod_key.id)
        );
    }
    let seen = until(&mut staging_only, |e| e.r#type == "key.revoked").await;
    assert!(
        seen.iter().all(|e| e.target_id == staging_key.id),
        "{seen:?}"
    );
    let seen = until(&mut revocations, |e| e.target_id == prod_key.id).await;
    assert_eq!(types(&seen), ["key.revoked", "key.revoked"]);
    assert_eq!(seen[0].target_id, staging_key.id);
    quiet_for(&mut as_other, Duration::from_millis(500)).await;
    quiet_for(&mut as_secret, Duration::from_millis(200)).await;

    // Refusals.
    assert_code(
        watch(&admin, "", &["key.deleted"], "").await.map(drop),
        Code::InvalidArgument,
    );
    assert_code(
        watch(&admin, "env_", &[], "").await.map(drop),
        Code::InvalidArgument,
    );
    assert_code(
        watch(&admin, "", &[], "key_x").await.map(drop),
        Code::InvalidArgument,
    );
    assert_code(
        watch(&admin, &other_env.id, &[], "").await.map(drop),
        Code::NotFound,
    );
    assert_code(
        watch(&other, &prod_id, &[], "").await.map(drop),
        Code::NotFound,
    );
    assert_code(
        watch(&sk, &staging_id, &[], "").await.map(drop),
        Code::PermissionDenied,
    );
    assert_code(
        watch(&sk, &other_env.id, &[], "").await.map(drop),
        Code::PermissionDenied,
    );
    let log = audit_log(&admin).await;
    let staging_event = log.iter().find(|e| e.environment_id == staging_id).unwrap();
    let account_event = log.iter().find(|e| e.environment_id.is_empty()).unwrap();
    assert_code(
        watch(&sk, "", &[], &staging_event.id).await.map(drop),
        Code::NotFound,
    );
    assert_code(
        watch(&sk, "", &[], &account_event.id).await.map(drop),
        Code::NotFound,
    );
    assert_code(
        watch(&other, "", &[], &staging_event.id).await.map(drop),
        Code::NotFound,
    );
    assert_code(
        watch(&admin, "", &[], "evt_doesnotexist").await.map(drop),
        Code::NotFound,
    );

    // A resume with a type filter replays only that type, of its scope.
    assert_code(
        watch(&sk, "", &["key.revoked"], &log[0].id).await.map(drop),
        Code::NotFound,
    );
    let prod_first = log.iter().find(|e| e.environment_id == prod_id).unwrap();
    let mut replay = watch(&sk, "", &["key.revoked"], &prod_first.id)
        .await
        .unwrap();
    let seen = until(&mut replay, |e| e.target_id == prod_key.id).await;
    assert!(
        seen.iter()
            .all(|e| e.r#type == "key.revoked" && e.environment_id == prod_id)
    );
}

/// Who may watch: admin tokens and secret keys, restricted keys with
/// `events.read`; not a publishable key (alone or with a user token) nor
/// a restricted key without the permission. A secret key of Staging sees
/// nothing of Production. A key revoked mid-stream ends its stream.
async fn only_admins_and_backends_may_watch(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let prod = app.create_environment("Production").await;
    let prod_id = prod.environment.as_ref().unwrap().id.clone();
    let staging = app.create_environment("Staging").await;
    let pk = prod.publishable_key.as_ref().unwrap().value.clone();
    let token = app
        .as_secret(&prod.secret_key)
        .mint_user_token("alice")
        .await
        .unwrap()
        .token;

    let refused = |r: Result<Streaming<pb::AuditEvent>, Status>| {
        let code = r.map(drop).unwrap_err().code();
        assert!(
            matches!(code, Code::PermissionDenied | Code::Unauthenticated),
            "{code:?}"
        );
    };
    refused(watch(&app.as_frontend(&pk, None), "", &[], "").await);
    refused(watch(&app.as_frontend(&pk, Some(&token)), "", &[], "").await);
    refused(watch(&app.as_anonymous(), "", &[], "").await);
    let rk_rooms = admin
        .create_restricted_key(&prod_id, &["rooms.read"])
        .await
        .unwrap()
        .secret_key;
    assert_code(
        watch(&app.as_secret(&rk_rooms), "", &[], "")
            .await
            .map(drop),
        Code::PermissionDenied,
    );
    let rk_events = admin
        .create_restricted_key(&prod_id, &["events.read"])
        .await
        .unwrap();
    let mut as_rk = watch(&app.as_secret(&rk_events.secret_key), "", &[], "")
        .await
        .unwrap();
    let mut as_staging = watch(&app.as_secret(&staging.secret_key), "", &[], "")
        .await
        .unwrap();
    let sk_prod = prod.secret_key_info.as_ref().unwrap().id.clone();
    let mut as_sk = watch(&app.as_secret(&prod.secret_key), "", &[], "")
        .await
        .unwrap();

    // Revoking the watching secret key: its stream shows the revocation,
    // then ends UNAUTHENTICATED; the restricted key's stream goes on.
    admin.revoke_key(&sk_prod).await.unwrap();
    let seen = until(&mut as_sk, |e| e.target_id == sk_prod).await;
    assert_eq!(types(&seen), ["key.revoked"]);
    let ended = tokio::time::timeout(PATIENCE, as_sk.message())
        .await
        .expect("the stream ends")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    let seen = until(&mut as_rk, |e| e.target_id == sk_prod).await;
    assert_eq!(types(&seen), ["key.revoked"]);
    quiet_for(&mut as_staging, Duration::from_millis(300)).await;

    // A restricted key revoked mid-stream: ended within the liveness period
    // even when no event says so to it (it watches key.created only).
    let mut quiet = watch(
        &app.as_secret(&rk_events.secret_key),
        "",
        &["key.created"],
        "",
    )
    .await
    .unwrap();
    admin.revoke_key(&rk_events.key.unwrap().id).await.unwrap();
    let ended = tokio::time::timeout(PATIENCE, quiet.message())
        .await
        .expect("the stream ends")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
}

/// (d) A watcher that reads too slowly is ended with RESOURCE_EXHAUSTED
/// naming the last id it got; resuming from there loses nothing.
async fn a_slow_watcher_is_ended_and_resumes(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.events.events_buffer = 16).await;
    let admin = app.as_admin();
    let env = app
        .create_environment("Production")
        .await
        .environment
        .unwrap();
    // A connection whose client grants the server 1 KB of stream window:
    // the server cannot push ahead of the reader.
    let channel = Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let slow = Client::new(
        channel,
        crate::helpers::Credential::bearer(&app.admin_token),
    );
    let start = audit_log(&admin).await.last().unwrap().id.clone();
    let mut stream = watch(&slow, "", &[], &start).await.unwrap();
    for _ in 0..20 {
        admin.rotate_keys(&env.id, 0).await.unwrap();
    }
    // Let the hub run 100 events past the reader, then read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = Vec::new();
    let status = loop {
        match next(&mut stream).await {
            Ok(event) => got.push(event),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let last = got.last().map_or(start.clone(), |e| e.id.clone());
    assert!(
        status
            .message()
            .ends_with(&format!("resume with after_event_id={last}")),
        "{status:?}"
    );
    let log = audit_log(&admin).await;
    assert!(got.len() < log.len() - 1, "it fell behind before the end");
    let mut resumed = watch(&admin, "", &[], &last).await.unwrap();
    let at = log.iter().position(|e| e.id == start).unwrap() + 1;
    while got.len() < log.len() - at {
        got.push(next(&mut resumed).await.unwrap());
    }
    assert_eq!(ids(&got), ids(&log[at..]));
}

/// (f) A watcher that sends nothing outlives the idle timeout, and its
/// stream delivers afterwards; the server's 30 s RPC timeout does not
/// apply to the stream (it bounds the handler, which returns at once).
async fn an_idle_watcher_outlives_the_idle_timeout(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.connections.idle_timeout = 1).await;
    let mut stream = watch(&app.as_admin(), "", &[], "").await.unwrap();
    // Two idle timeouts without a frame from the client.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let created = app.create_environment("Later").await.environment.unwrap();
    let event = next(&mut stream).await.expect("the stream is still open");
    assert_eq!(event.r#type, "environment.created");
    assert_eq!(event.target_id, created.id);
}

/// A `key.expiring` notice is sent once: a key expiring within a day gets
/// one (`within` 1d), a key expiring within a week one (`within` 7d),
/// however many sweeps, restarts and replicas.
async fn key_expiring_is_sent_once(backend: Backend) {
    let fast = |s: &mut pulse::config::ServeSettings| s.events.expiry_sweep_ms = 50;
    let app = spawn_app_with(backend, fast).await;
    let admin = app.as_admin();
    let env = app
        .create_environment("Production")
        .await
        .environment
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |seconds: i64| {
        Some(prost_types::Timestamp {
            seconds: now + seconds,
            nanos: 0,
        })
    };
    let mut stream = watch(&admin, "", &["key.expiring"], "").await.unwrap();
    let soon = admin
        .create_key(&env.id, pb::ApiKeyKind::Secret, at(12 * 3600))
        .await
        .unwrap()
        .key
        .unwrap();
    let later = admin
        .create_key(&env.id, pb::ApiKeyKind::Secret, at(3 * 86400))
        .await
        .unwrap()
        .key
        .unwrap();
    let never = admin
        .create_key(&env.id, pb::ApiKeyKind::Secret, at(30 * 86400))
        .await
        .unwrap()
        .key
        .unwrap();
    let mut seen = [
        next(&mut stream).await.unwrap(),
        next(&mut stream).await.unwrap(),
    ];
    seen.sort_by_key(|e| e.details["within"].clone());
    assert_eq!(seen[0].target_id, soon.id);
    assert_eq!(seen[0].details["within"], "1d");
    assert_eq!(seen[1].target_id, later.id);
    assert_eq!(seen[1].details["within"], "7d");
    assert_eq!(seen[0].actor, "system");
    assert_eq!(
        seen[0].details["expire_time"],
        soon.expire_time.unwrap().to_string()
    );
    // More sweeps, a restart, and on PostgreSQL a second replica sweeping.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let app = app.restart().await;
    let replica = match backend {
        Backend::Postgres => Some(spawn_app_on(backend, app.database_url.clone()).await),
        Backend::Sqlite => None,
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = audit_log(&app.as_admin()).await;
    let expiring: Vec<_> = log.iter().filter(|e| e.r#type == "key.expiring").collect();
    assert_eq!(expiring.len(), 2, "{expiring:?}");
    assert!(expiring.iter().all(|e| e.target_id != never.id));
    drop(replica);
}

/// `pulse events watch` tails events as lines (a header, then one line per
/// event) or JSON lines, and resumes with `--after`.
async fn the_ops_cli_tails_events(backend: Backend) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let app = spawn_app(backend).await;
    let env = app
        .create_environment("Production")
        .await
        .environment
        .unwrap();
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args(["events", "watch"])
            .args(args)
            .env_remove("RUST_LOG")
            .env("PULSE_ADDR", format!("http://{}", app.addr))
            .env("PULSE_ADMIN_TOKEN", &app.admin_token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run pulse")
    };
    // Lines read on a thread, handed over a channel (reads block).
    let lines = |child: &mut std::process::Child| {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        move || rx.recv_timeout(PATIENCE).expect("a line")
    };
    let mut json = spawn(&[
        &env.id,
        "--json",
        "--type",
        "key.created",
        "--type",
        "key.revoked",
    ]);
    let mut table = spawn(&[]);
    let next_json = lines(&mut json);
    let next_line = lines(&mut table);
    let header = next_line();
    assert!(
        header.starts_with("TIME") && header.contains("TYPE"),
        "{header}"
    );
    // The watches are open once the header is out (JSON has none: wait).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let key = app
        .as_admin()
        .create_key(&env.id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap()
        .key
        .unwrap();
    app.as_admin().revoke_key(&key.id).await.unwrap();
    let first: serde_json::Value = serde_json::from_str(&next_json()).unwrap();
    let second: serde_json::Value = serde_json::from_str(&next_json()).unwrap();
    assert_eq!(first["type"], "key.created");
    assert_eq!(second["type"], "key.revoked");
    assert_eq!(first["target_id"], key.id);
    assert_eq!(first["environment_id"], env.id);
    assert!(first["id"].as_str().unwrap().starts_with("evt_"));
    let line = next_line();
    assert!(
        line.contains("key.created") && line.contains(&key.id),
        "{line}"
    );
    assert_eq!(
        header.find("TYPE"),
        line.find("key.created"),
        "columns align"
    );
    let _ = (json.kill(), table.kill(), json.wait(), table.wait());

    // --after replays from the log.
    let mut resumed = spawn(&["--json", "--after", first["id"].as_str().unwrap()]);
    let next = lines(&mut resumed);
    let replayed: serde_json::Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(replayed, second);
    let _ = (resumed.kill(), resumed.wait());
}

both_backends!(
    the_ops_cli_tails_events,
    a_watcher_sees_changes_made_on_another_replica_in_order,
    resuming_after_a_restart_has_no_gap_and_no_duplicate,
    watchers_see_only_their_scope,
    only_admins_and_backends_may_watch,
    a_slow_watcher_is_ended_and_resumes,
    an_idle_watcher_outlives_the_idle_timeout,
    key_expiring_is_sent_once,
);
