//! Team access: roles declared in the protos and enforced for every admin
//! RPC, environment scopes, no escalation, admin-token expiry, members,
//! invitations, sessions, TOTP, brute-force limits, and the audit actor.

use pulse::auth::policy::{ACCESS, ROLES};
use pulse::pb::{self, Access, Role};
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, Client, TestApp, assert_code, spawn_app};

const PASSWORD: &str = "correct horse battery staple";

/// An admin token of `role` scoped to `envs` (empty: the whole account).
async fn token(app: &TestApp, role: Role, envs: &[&str]) -> Client {
    let created = app
        .as_admin()
        .create_scoped_admin_token(role, envs, None)
        .await
        .unwrap_or_else(|e| panic!("create {role:?} token: {e:?}"));
    app.as_admin_token(&created.token)
}

/// Invites `email` with the bootstrap owner token and accepts: the
/// member's id and session client.
async fn member(app: &TestApp, email: &str, role: Role, envs: &[&str]) -> (String, Client) {
    let invited = app
        .as_admin()
        .invite_member(email, role, envs)
        .await
        .expect("invite");
    let accepted = app
        .as_anonymous()
        .accept_invite(&invited.invite_token, PASSWORD)
        .await
        .expect("accept");
    assert!(accepted.session_token.starts_with("ses_"));
    let member = accepted.member.unwrap();
    assert_eq!(member.state, pb::MemberState::Active as i32);
    (member.id, app.as_admin_token(&accepted.session_token))
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 1,
        Role::Developer => 2,
        Role::Admin => 3,
        Role::Owner => 4,
        Role::Unspecified => 9,
    }
}

/// Calls `path` with an empty request message (every admin RPC refuses an
/// empty request as invalid, or reads): the status code, or OK.
async fn call_empty(client: &Client, path: &'static str) -> Code {
    let mut grpc = tonic::client::Grpc::new(client.channel());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(path);
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let request = client.request(());
    if path.path().ends_with("/WatchEvents") {
        return match grpc.server_streaming(request, path, codec).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
    }
    match grpc.unary(request, path, codec).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Every admin RPC, called by a viewer, a scoped developer and an admin:
/// PERMISSION_DENIED exactly when the declared least role is above the
/// caller's (and for the scoped developer, environment creation).
async fn role_table_holds_for_every_admin_rpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let env = app.create_environment("Production").await;
    let env_id = env.environment.unwrap().id;
    let admin_rpcs = ACCESS
        .iter()
        .filter(|(_, a)| matches!(a, Access::Admin | Access::AdminOrSecret))
        .count();
    assert_eq!(ROLES.len(), admin_rpcs, "every admin rpc declares a role");
    assert!(ROLES.len() >= 35, "{} admin rpcs", ROLES.len());
    let callers = [
        ("viewer", Role::Viewer, token(&app, Role::Viewer, &[]).await),
        (
            "scoped developer",
            Role::Developer,
            token(&app, Role::Developer, &[&env_id]).await,
        ),
        ("admin", Role::Admin, token(&app, Role::Admin, &[]).await),
    ];
    for (path, needed) in ROLES {
        for (who, role, client) in &callers {
            let code = call_empty(client, path).await;
            let scoped_create = *who == "scoped developer" && path.ends_with("/CreateEnvironment");
            if rank(*needed) > rank(*role) || scoped_create {
                assert_eq!(code, Code::PermissionDenied, "{who} calling {path}");
            } else {
                assert!(
                    !matches!(code, Code::PermissionDenied | Code::Unauthenticated),
                    "{who} calling {path}: {code:?}"
                );
            }
        }
    }
    // The message names what is needed.
    let viewer = &callers[0].2;
    let status = assert_code(
        viewer.delete_environment(&env_id).await,
        Code::PermissionDenied,
    );
    assert!(
        status.message().contains("requires role admin"),
        "{status:?}"
    );
    // Nothing above was changed by the refused or empty calls.
    assert!(app.as_admin().get_environment(&env_id).await.is_ok());
}

/// A scoped token sees its environments only: others are NOT_FOUND and
/// absent from lists and the audit log.
async fn scoped_tokens_see_only_their_environments(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = app.create_environment("Production").await;
    let staging = app.create_environment("Staging").await;
    let (prod_id, staging_id) = (
        prod.environment.unwrap().id,
        staging.environment.unwrap().id,
    );
    let scoped = token(&app, Role::Developer, &[&staging_id]).await;

    let listed = scoped.list_environments().await.unwrap().environments;
    assert_eq!(
        listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [staging_id.as_str()]
    );
    assert_code(scoped.get_environment(&prod_id).await, Code::NotFound);
    assert_code(scoped.list_keys(&prod_id).await, Code::NotFound);
    assert_code(scoped.environment_stats(&prod_id).await, Code::NotFound);
    assert_code(scoped.rotate_keys(&prod_id, 0).await, Code::NotFound);
    assert_code(
        scoped.rename_environment(&prod_id, "Mine").await,
        Code::NotFound,
    );
    assert!(scoped.list_keys(&staging_id).await.is_ok());
    assert!(scoped.rotate_keys(&staging_id, 0).await.is_ok());
    // The audit log: only Staging's events (none of Production's, none of
    // the account's own).
    let events = scoped
        .list_audit_events(Default::default())
        .await
        .unwrap()
        .events;
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e.environment_id == staging_id),
        "{events:?}"
    );
    // A key of another environment, by id: NOT_FOUND.
    let prod_key = app.list_keys(&prod_id).await[0].id.clone();
    assert_code(scoped.revoke_key(&prod_key).await, Code::NotFound);
    assert_code(
        scoped.create_environment("New").await,
        Code::PermissionDenied,
    );
    let caller = scoped.get_caller().await.unwrap();
    assert_eq!(caller.role, Role::Developer as i32);
    assert_eq!(caller.environment_ids, vec![staging_id]);
    assert!(caller.member.is_none());
    assert!(caller.admin_token_id.starts_with("adm_"));
}

/// No escalation, bad input refused, expiry enforced, old tokens owners.
async fn admin_tokens_cannot_escalate_and_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod_id = app
        .create_environment("Production")
        .await
        .environment
        .unwrap()
        .id;
    let staging_id = app
        .create_environment("Staging")
        .await
        .environment
        .unwrap()
        .id;
    let owner = app.as_admin();
    let listed = owner.list_admin_tokens().await.unwrap().admin_tokens;
    assert_eq!(
        listed[0].role,
        Role::Owner as i32,
        "bootstrap token is an owner"
    );
    assert!(listed[0].environment_ids.is_empty());

    let admin = token(&app, Role::Admin, &[]).await;
    let dev = token(&app, Role::Developer, &[&prod_id]).await;
    // Role above the caller's, owner from a non-owner, scope outside.
    assert_code(
        admin
            .create_scoped_admin_token(Role::Owner, &[], None)
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        dev.create_scoped_admin_token(Role::Admin, &[&prod_id], None)
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        dev.create_scoped_admin_token(Role::Viewer, &[&staging_id], None)
            .await,
        Code::PermissionDenied,
    );
    // Unspecified role and empty scope: the caller's own.
    let inherited = dev
        .create_scoped_admin_token(Role::Unspecified, &[], None)
        .await
        .unwrap()
        .admin_token
        .unwrap();
    assert_eq!(inherited.role, Role::Developer as i32);
    assert_eq!(inherited.environment_ids, vec![prod_id.clone()]);
    // Bad input: unknown role, malformed id, another account's environment.
    let status = assert_code(
        owner
            .accounts_client()
            .create_admin_token(owner.request(pb::CreateAdminTokenRequest {
                display_name: "x".into(),
                role: 42,
                ..Default::default()
            }))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("unknown role"), "{status:?}");
    assert_code(
        owner
            .create_scoped_admin_token(Role::Viewer, &["prod"], None)
            .await,
        Code::InvalidArgument,
    );
    let other = app.create_account("Other", "test").await;
    let other_env = app
        .as_admin_token(&other)
        .create_environment("Theirs")
        .await
        .unwrap()
        .environment
        .unwrap()
        .id;
    assert_code(
        owner
            .create_scoped_admin_token(Role::Viewer, &[&other_env], None)
            .await,
        Code::NotFound,
    );
    // Expiry: in the past is refused (a token stopping at its expiry:
    // `tests/clock/tokens.rs`).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    assert_code(
        owner
            .create_scoped_admin_token(Role::Viewer, &[], at(now - 1))
            .await,
        Code::InvalidArgument,
    );
}

/// Invitations, acceptance, sign-in, the last owner, and bad input.
async fn members_invite_accept_and_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.as_admin();
    let anonymous = app.as_anonymous();
    // Bad input changes nothing.
    assert_code(
        owner.invite_member("not-an-email", Role::Viewer, &[]).await,
        Code::InvalidArgument,
    );
    assert_code(
        owner
            .invite_member("ada@example.com", Role::Unspecified, &["env_nope1234"])
            .await,
        Code::NotFound,
    );
    assert!(owner.list_members().await.unwrap().members.is_empty());

    let invited = owner
        .invite_member(" Ada@Example.com ", Role::Admin, &[])
        .await
        .unwrap();
    assert!(invited.invite_token.starts_with("inv_"));
    let m = invited.member.clone().unwrap();
    assert_eq!(m.email, "ada@example.com");
    assert_eq!(m.state, pb::MemberState::Invited as i32);
    assert!(m.invite_expire_time.is_some());
    assert_code(
        owner
            .invite_member("ADA@example.com", Role::Viewer, &[])
            .await,
        Code::AlreadyExists,
    );
    // An invited member cannot sign in yet.
    assert_code(
        anonymous.sign_in("ada@example.com", PASSWORD, "").await,
        Code::Unauthenticated,
    );
    // Too short, too long: refused, the invitation still good.
    assert_code(
        anonymous
            .accept_invite(&invited.invite_token, "short")
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        anonymous
            .accept_invite(&invited.invite_token, &"x".repeat(1025))
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        anonymous.accept_invite("inv_garbage", PASSWORD).await,
        Code::Unauthenticated,
    );
    let accepted = anonymous
        .accept_invite(&invited.invite_token, PASSWORD)
        .await
        .unwrap();
    // One use.
    assert_code(
        anonymous
            .accept_invite(&invited.invite_token, PASSWORD)
            .await,
        Code::Unauthenticated,
    );
    // An expired invitation is refused like an unknown one.
    let late = owner
        .invite_member("late@example.com", Role::Viewer, &[])
        .await
        .unwrap();
    let db = crate::helpers::connect(&app.database_url).await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(
        "UPDATE members SET invite_expire_time = 1 WHERE email = 'late@example.com'",
    )
    .await
    .unwrap();
    assert_code(
        anonymous.accept_invite(&late.invite_token, PASSWORD).await,
        Code::Unauthenticated,
    );
    let ada = app.as_admin_token(&accepted.session_token);
    let caller = ada.get_caller().await.unwrap();
    assert_eq!(caller.role, Role::Admin as i32);
    assert_eq!(caller.member.unwrap().email, "ada@example.com");
    assert!(caller.admin_token_id.is_empty());

    // Sign-in: one message for an unknown email and a wrong password.
    let unknown = assert_code(
        anonymous.sign_in("nobody@example.com", PASSWORD, "").await,
        Code::Unauthenticated,
    );
    let wrong = assert_code(
        anonymous
            .sign_in("ada@example.com", "wrong password!!", "")
            .await,
        Code::Unauthenticated,
    );
    assert_eq!(unknown.message(), wrong.message());
    assert_code(
        anonymous.sign_in("ada@", PASSWORD, "").await,
        Code::InvalidArgument,
    );
    let signed = anonymous
        .sign_in("ADA@example.com", PASSWORD, "")
        .await
        .unwrap();
    assert!(signed.member.unwrap().last_sign_in_time.is_some());

    // The audit log names the member, with its email.
    let ada2 = app.as_admin_token(&signed.session_token);
    let env = ada2.create_environment("Made by Ada").await.unwrap();
    let env_id = env.environment.unwrap().id;
    let events = owner
        .list_audit_events(Default::default())
        .await
        .unwrap()
        .events;
    let created = events
        .iter()
        .find(|e| e.r#type == "environment.created" && e.environment_id == env_id)
        .expect("audited");
    assert_eq!(created.actor, m.id);
    let details = format!("{:?}", created.details);
    assert!(details.contains("ada@example.com"), "{details}");
    assert!(
        events.iter().any(|e| e.r#type == "member.invited"),
        "invitations are audited"
    );
    assert!(events.iter().any(|e| e.r#type == "member.joined"));

    // An admin member may not touch owners, nor grant owner.
    let (owner_id, owner_member) = member(&app, "olga@example.com", Role::Owner, &[]).await;
    assert_code(ada.remove_member(&owner_id).await, Code::PermissionDenied);
    assert_code(
        ada.invite_member("eve@example.com", Role::Owner, &[]).await,
        Code::PermissionDenied,
    );
    // The last active owner member can be neither removed nor demoted.
    let status = assert_code(
        owner_member
            .update_member_role(&owner_id, Role::Admin)
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("last active owner"), "{status:?}");
    assert_code(
        owner.remove_member(&owner_id).await,
        Code::FailedPrecondition,
    );
    // With a second owner, the first may go.
    let (second_id, _) = member(&app, "otto@example.com", Role::Owner, &[]).await;
    owner.remove_member(&owner_id).await.unwrap();
    assert_code(owner_member.get_caller().await, Code::Unauthenticated);
    assert_code(
        anonymous.sign_in("olga@example.com", PASSWORD, "").await,
        Code::Unauthenticated,
    );
    assert_code(
        owner.remove_member(&second_id).await,
        Code::FailedPrecondition,
    );
    // Viewers read members, never manage them.
    let (_, viewer) = member(&app, "vic@example.com", Role::Viewer, &[]).await;
    assert_eq!(viewer.list_members().await.unwrap().members.len(), 4);
    assert_code(
        viewer
            .invite_member("x@example.com", Role::Viewer, &[])
            .await,
        Code::PermissionDenied,
    );
}

/// A role change holds for live sessions at once; sign-out and a password
/// change end sessions.
async fn sessions_follow_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.as_admin();
    let (id, session) = member(&app, "dev@example.com", Role::Developer, &[]).await;
    let env_id = session
        .create_environment("Dev's")
        .await
        .unwrap()
        .environment
        .unwrap()
        .id;
    owner.update_member_role(&id, Role::Viewer).await.unwrap();
    assert_code(
        session.rotate_keys(&env_id, 0).await,
        Code::PermissionDenied,
    );
    assert!(session.list_environments().await.is_ok());
    // Scope change: the environment disappears for the session.
    let scoped = owner
        .members_client()
        .update_member(owner.request(pb::UpdateMemberRequest {
            member_id: id.clone(),
            role: 0,
            environment_ids: vec!["env_elsewhere0".into()],
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["environment_ids".into()],
            }),
        }))
        .await;
    assert_code(scoped, Code::NotFound);
    let other = app
        .create_environment("Other")
        .await
        .environment
        .unwrap()
        .id;
    owner
        .members_client()
        .update_member(owner.request(pb::UpdateMemberRequest {
            member_id: id.clone(),
            role: 0,
            environment_ids: vec![other.clone()],
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["environment_ids".into()],
            }),
        }))
        .await
        .unwrap();
    assert_code(session.get_environment(&env_id).await, Code::NotFound);
    assert!(session.get_environment(&other).await.is_ok());
    // Unknown mask path: refused.
    assert_code(
        owner
            .members_client()
            .update_member(owner.request(pb::UpdateMemberRequest {
                member_id: id.clone(),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["email".into()],
                }),
                ..Default::default()
            }))
            .await,
        Code::InvalidArgument,
    );

    // ChangePassword ends the member's other sessions, not this one.
    let second = app
        .as_anonymous()
        .sign_in("dev@example.com", PASSWORD, "")
        .await
        .unwrap();
    let second = app.as_admin_token(&second.session_token);
    assert!(second.get_caller().await.is_ok());
    let change = |current: &str, new: &str| pb::ChangePasswordRequest {
        current_password: current.into(),
        new_password: new.into(),
    };
    assert_code(
        session
            .sessions_client()
            .change_password(session.request(change("not the password", "a new long password")))
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        session
            .sessions_client()
            .change_password(session.request(change(PASSWORD, "short")))
            .await,
        Code::InvalidArgument,
    );
    session
        .sessions_client()
        .change_password(session.request(change(PASSWORD, "a new long password")))
        .await
        .unwrap();
    assert_code(second.get_caller().await, Code::Unauthenticated);
    assert!(session.get_caller().await.is_ok());
    assert_code(
        app.as_anonymous()
            .sign_in("dev@example.com", PASSWORD, "")
            .await,
        Code::Unauthenticated,
    );
    // Sign-out ends the session.
    session
        .sessions_client()
        .sign_out(session.request(pb::SignOutRequest {}))
        .await
        .unwrap();
    assert_code(session.get_caller().await, Code::Unauthenticated);
    // An admin token cannot act as a member.
    assert_code(
        owner
            .sessions_client()
            .enroll_totp(owner.request(pb::EnrollTotpRequest {}))
            .await,
        Code::FailedPrecondition,
    );
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// TOTP: enrolment, confirmation, sign-in with a code, replay refused.
async fn totp_is_required_once_on_and_codes_work_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, session) = member(&app, "tess@example.com", Role::Viewer, &[]).await;
    let enrolled = session
        .sessions_client()
        .enroll_totp(session.request(pb::EnrollTotpRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(enrolled.otpauth_url.starts_with("otpauth://totp/"));
    let secret = totp_rs::Secret::Encoded(enrolled.secret.clone())
        .to_bytes()
        .unwrap();
    let confirm = |code: String| {
        let session = session.clone();
        async move {
            session
                .sessions_client()
                .confirm_totp(session.request(pb::ConfirmTotpRequest { code }))
                .await
        }
    };
    assert_code(confirm("000000".into()).await, Code::InvalidArgument);
    let now = now_secs();
    let code = pulse::domain::totp::code_at(&secret, now);
    let confirmed = confirm(code.clone()).await.unwrap().into_inner();
    assert!(confirmed.totp_enabled);
    // The live session shows it at once (it was re-read).
    let caller = session.get_caller().await.unwrap();
    assert!(caller.member.unwrap().totp_enabled);
    let anonymous = app.as_anonymous();
    // Once on: no code, a wrong code, or the code just used are refused.
    for code in ["", "123456", code.as_str()] {
        let status = assert_code(
            anonymous.sign_in("tess@example.com", PASSWORD, code).await,
            Code::Unauthenticated,
        );
        assert_eq!(status.message(), "invalid credentials");
    }
    // The next step's code (within the allowed skew) works once.
    let next = pulse::domain::totp::code_at(&secret, now + 30);
    anonymous
        .sign_in("tess@example.com", PASSWORD, &next)
        .await
        .unwrap();
    assert_code(
        anonymous.sign_in("tess@example.com", PASSWORD, &next).await,
        Code::Unauthenticated,
    );
    let events = app
        .as_admin()
        .list_audit_events(Default::default())
        .await
        .unwrap()
        .events;
    assert!(events.iter().any(|e| e.r#type == "member.totp_enabled"));
}

/// More than 10 failures a minute for one email: RESOURCE_EXHAUSTED,
/// even with the right password.
async fn sign_in_failures_are_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    member(&app, "bob@example.com", Role::Viewer, &[]).await;
    let anonymous = app.as_anonymous();
    for _ in 0..10 {
        assert_code(
            anonymous
                .sign_in("bob@example.com", "not the password", "")
                .await,
            Code::Unauthenticated,
        );
    }
    assert_code(
        anonymous
            .sign_in("bob@example.com", "not the password", "")
            .await,
        Code::ResourceExhausted,
    );
    assert_code(
        anonymous.sign_in("bob@example.com", PASSWORD, "").await,
        Code::ResourceExhausted,
    );
}

/// `pulse member invite` on the server's machine prints a link whose token
/// signs the first owner in.
async fn cli_invites_the_first_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args([
            "member",
            "invite",
            "First@Example.com",
            "--role",
            "owner",
            "--json",
            "--console-url",
            &format!("http://{}/", app.addr),
            "--database-url",
            &app.database_url,
        ])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let token = json["invite_token"].as_str().unwrap();
    let url = json["invite_url"].as_str().unwrap();
    assert_eq!(url, format!("http://{}/#/accept?token={token}", app.addr));
    let accepted = app
        .as_anonymous()
        .accept_invite(token, PASSWORD)
        .await
        .unwrap();
    let first = app.as_admin_token(&accepted.session_token);
    let caller = first.get_caller().await.unwrap();
    assert_eq!(caller.role, Role::Owner as i32);
    assert_eq!(caller.account.unwrap().id, app.account_id);
    // Debug output of the stored member redacts its secrets.
    let row = format!("{:?}", accepted.member);
    assert!(!row.contains(token));
}

both_backends!(
    role_table_holds_for_every_admin_rpc,
    scoped_tokens_see_only_their_environments,
    admin_tokens_cannot_escalate_and_expire,
    members_invite_accept_and_sign_in,
    sessions_follow_changes,
    totp_is_required_once_on_and_codes_work_once,
    sign_in_failures_are_limited,
    cli_invites_the_first_owner,
);

/// Two `pulse serve` processes on one PostgreSQL database: a role change
/// made on one holds on the other when `UpdateMember` returns, and a
/// removed member's session is refused there the moment `RemoveMember`
/// returns (each repeated, on warm caches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_member_changes_hold_on_a_second_replica() {
    use crate::helpers::{fresh_database, spawn_process};
    let (url, _) = fresh_database(Backend::Postgres).await;
    let first = spawn_process(&url, &[]);
    let admin = first.bootstrap_token();
    let second = spawn_process(&url, &[]);
    let owner_on_first = Client::bearer(first.channel().await, &admin);
    let second_channel = second.channel().await;
    for round in 0..5 {
        let email = format!("rep{round}@example.com");
        let invited = owner_on_first
            .invite_member(&email, Role::Admin, &[])
            .await
            .unwrap();
        let accepted = owner_on_first
            .with(crate::helpers::Credential::None)
            .accept_invite(&invited.invite_token, PASSWORD)
            .await
            .unwrap();
        let id = accepted.member.unwrap().id;
        let on_second = Client::bearer(second_channel.clone(), &accepted.session_token);
        // Warm: the second replica has resolved and cached the session.
        assert!(on_second.list_admin_tokens().await.is_ok());
        owner_on_first
            .update_member_role(&id, Role::Viewer)
            .await
            .unwrap();
        assert_code(on_second.list_admin_tokens().await, Code::PermissionDenied);
        owner_on_first
            .update_member_role(&id, Role::Developer)
            .await
            .unwrap();
        assert!(on_second.list_admin_tokens().await.is_ok());
        owner_on_first.remove_member(&id).await.unwrap();
        assert_code(on_second.get_caller().await, Code::Unauthenticated);
    }
}
