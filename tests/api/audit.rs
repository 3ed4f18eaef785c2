//! The audit log: every lifecycle change leaves exactly one event, with
//! actor, request id and peer, inside the change's transaction; listing is
//! per account, filterable and paginated.

use pulse::pb;
use tonic::Code;
use tonic::metadata::MetadataValue;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_code, spawn_app};

async fn list_all(
    app: &TestApp,
    token: &str,
    environment_id: &str,
    r#type: &str,
) -> Vec<pb::AuditEvent> {
    let admin = app.as_admin_token(token);
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 3,
                page_token,
                environment_id: environment_id.into(),
                r#type: r#type.into(),
            })
            .await
            .expect("list audit events");
        events.extend(page.events);
        if page.next_page_token.is_empty() {
            return events;
        }
        page_token = page.next_page_token;
    }
}

fn types(events: &[pb::AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.r#type.as_str()).collect()
}

async fn lifecycle_changes_are_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let token_id = admin.list_admin_tokens().await.unwrap().admin_tokens[0]
        .id
        .clone();

    // A caller-chosen request id is kept, stored and echoed.
    let mut request = admin.request(pb::CreateEnvironmentRequest {
        display_name: "Production".into(),
    });
    request
        .metadata_mut()
        .insert("x-request-id", MetadataValue::from_static("deploy-42"));
    let created = admin
        .environments_client()
        .create_environment(request)
        .await
        .unwrap();
    assert_eq!(created.metadata().get("x-request-id").unwrap(), "deploy-42");
    let created = created.into_inner();
    let env_id = created.environment.unwrap().id;
    let sk_id = created.secret_key_info.unwrap().id;

    admin.rename_environment(&env_id, "Prod").await.unwrap();
    let rotated = admin
        .environments_client()
        .rotate_keys(admin.request(pb::RotateKeysRequest {
            environment_id: env_id.clone(),
            old_key_expire_seconds: 60,
        }))
        .await
        .unwrap();
    // Without x-request-id the server makes one up and says which.
    let generated = rotated
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(generated.starts_with("req_"), "{generated}");
    admin.revoke_key(&sk_id).await.unwrap();
    // Idempotent repeat: nothing changed, nothing audited.
    admin.revoke_key(&sk_id).await.unwrap();
    admin
        .create_key(&env_id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap();
    let second = admin
        .create_admin_token("ci")
        .await
        .unwrap()
        .admin_token
        .unwrap()
        .id;
    admin.revoke_admin_token(&second).await.unwrap();
    // Failed changes leave no trace.
    assert_code(
        admin.rotate_keys("env_doesnotexist", 0).await,
        Code::NotFound,
    );
    admin.delete_environment(&env_id).await.unwrap();

    let all = list_all(&app, &app.admin_token, "", "").await;
    assert_eq!(
        types(&all),
        [
            "account.created",
            "admin_token.created",
            "environment.created",
            "key.created",
            "key.created",
            "signing_key.created",
            "environment.renamed",
            "keys.rotated",
            "key.revoked",
            "key.revoked",
            "key.created",
            "key.created",
            "key.revoked",
            "key.created",
            "admin_token.created",
            "admin_token.revoked",
            "environment.deleted",
        ]
    );
    assert!(
        all[..2]
            .iter()
            .all(|e| e.actor == "bootstrap" && e.peer == "local")
    );
    for event in &all[2..] {
        assert_eq!(event.actor, token_id);
        assert!(event.peer.starts_with("127.0.0.1:"), "{event:?}");
        assert!(event.id.starts_with("evt_") && event.create_time.is_some());
    }
    assert!(all[2..6].iter().all(|e| e.request_id == "deploy-42"));
    assert!(all[7..12].iter().all(|e| e.request_id == generated));
    assert_eq!(all[12].target_id, sk_id);
    assert_eq!(all[15].target_id, second);

    // The environment's events outlive it; filters combine.
    let env_events = list_all(&app, &app.admin_token, &env_id, "").await;
    assert_eq!(env_events.len(), 13);
    assert!(env_events.iter().all(|e| e.environment_id == env_id));
    let revoked = list_all(&app, &app.admin_token, &env_id, "key.revoked").await;
    assert_eq!(revoked.len(), 3);
    let tokens = list_all(&app, &app.admin_token, "", "admin_token.created").await;
    assert_eq!(tokens.len(), 2);
}

async fn audit_requests_are_validated_and_scoped(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_environment("Production").await;
    let admin = app.as_admin();
    let bad = |environment_id: &str, r#type: &str, page_token: &str| pb::ListAuditEventsRequest {
        page_size: 1,
        page_token: page_token.into(),
        environment_id: environment_id.into(),
        r#type: r#type.into(),
    };
    assert_code(
        admin.list_audit_events(bad("", "key.deleted", "")).await,
        Code::InvalidArgument,
    );
    assert_code(
        admin.list_audit_events(bad("key_x", "", "")).await,
        Code::InvalidArgument,
    );
    let page = admin.list_audit_events(bad("", "", "")).await.unwrap();
    assert_eq!(page.events.len(), 1);
    // A token of one filter is refused by another.
    assert_code(
        admin
            .list_audit_events(bad("", "key.created", &page.next_page_token))
            .await,
        Code::InvalidArgument,
    );
    // Only admin tokens read the log; another account sees only its own.
    let created = app.create_environment("Staging").await;
    assert_code(
        app.as_secret(&created.secret_key)
            .list_audit_events(pb::ListAuditEventsRequest::default())
            .await,
        Code::PermissionDenied,
    );
    let other = app.create_account("other", "cli").await;
    let theirs = list_all(&app, &other, "", "").await;
    assert_eq!(types(&theirs), ["account.created", "admin_token.created"]);
    assert!(
        theirs
            .iter()
            .all(|e| e.actor == "cli" && e.target_id != app.account_id)
    );
    assert!(
        list_all(&app, &other, &created.environment.unwrap().id, "")
            .await
            .is_empty()
    );
}

both_backends!(
    lifecycle_changes_are_audited,
    audit_requests_are_validated_and_scoped
);
