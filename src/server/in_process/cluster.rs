//! Replicas in process: two stacks over one database, each with its own
//! key index. A notice (`cluster::notice`) applied on the second one's
//! state changes what that stack accepts, and only there; on PostgreSQL,
//! a revocation served by one stack reaches the other through the real
//! listener before the RPC returns.

use std::time::{Duration, Instant};

use super::paths::*;
use super::{Credential, TestStack, both_backends};
use crate::cluster::notice::{self, Change, Notice};
use crate::domain::credential;
use crate::pb;
use crate::store::revocation::{DeadCredential, UserRevocation};

/// What a replica hears: the notice's text, parsed back.
fn heard(change: Change) -> Change {
    let sent = Notice::Change {
        revision: "other.1".into(),
        origin: "other".into(),
        change,
    };
    match sent.to_string().parse::<Notice>().expect("a notice") {
        Notice::Change { change, .. } => change,
        notice => panic!("not a change: {notice:?}"),
    }
}

async fn who(stack: &TestStack, caller: Credential<'_>) -> tonic::Code {
    stack.code(WHO_AM_I, caller, pb::WhoAmIRequest {}).await
}

async fn apply(stack: &TestStack, change: Change) {
    notice::apply(&stack.state.index, &stack.state.tokens, &heard(change)).await;
}

async fn notices_change_what_the_replica_that_hears_them_accepts(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let a = TestStack::start(&db).await;
    let b = TestStack::start(&db).await;
    assert!(b.admin_token.is_none(), "one account, made by the first");
    let env = a.environment().await;
    let (sk, key_id) = a.key(&env, pb::ApiKeyKind::Secret, &[]).await;
    let token = a.user_token(&sk, "alice").await;
    let frontend = Credential::Frontend(&env.pk, Some(&token));
    for stack in [&a, &b] {
        // Decided, then remembered.
        for _ in 0..2 {
            assert_eq!(who(stack, Credential::Bearer(&sk)).await, tonic::Code::Ok);
            assert_eq!(who(stack, frontend).await, tonic::Code::Ok);
        }
    }

    // `e`: re-read the credential (its end was scheduled): B reads it from
    // the database again, and it still works.
    let dead = DeadCredential {
        id: key_id.clone(),
        hash: credential::parse(&sk).expect("a key").hash,
    };
    let lookups = b.state.index.cache_stats().1;
    apply(&b, Change::Scheduled(vec![dead.clone()])).await;
    assert_eq!(who(&b, Credential::Bearer(&sk)).await, tonic::Code::Ok);
    assert_eq!(b.state.index.cache_stats().1, lookups + 1);

    // `u`: alice's tokens issued until now are refused on B.
    apply(
        &b,
        Change::Users(vec![UserRevocation {
            environment_id: env.id.clone(),
            user_id: "alice".into(),
            not_before: crate::domain::time::now_micros() + 1,
        }]),
    )
    .await;
    assert_eq!(who(&b, frontend).await, tonic::Code::Unauthenticated);

    // `r`: the key is dead on B, decisions made before void.
    apply(&b, Change::Dead(vec![dead])).await;
    assert!(b.state.index.is_dead(&key_id));
    assert_eq!(
        who(&b, Credential::Bearer(&sk)).await,
        tonic::Code::Unauthenticated
    );
    // A heard nothing (nothing was committed): the key and token still
    // work there; the notices changed B's state only.
    assert_eq!(who(&a, Credential::Bearer(&sk)).await, tonic::Code::Ok);
    assert_eq!(who(&a, frontend).await, tonic::Code::Ok);
    assert!(!a.state.index.is_dead(&key_id));
}

both_backends!(notices_change_what_the_replica_that_hears_them_accepts);

/// Two replicas over one PostgreSQL database, each with its cluster
/// listener: once `RevokeKey` returns on A, B refuses the key (A waited
/// for B's acknowledgement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(pulse_no_postgres, ignore = "no PostgreSQL installed")]
async fn a_revocation_reaches_the_other_replica_before_the_rpc_returns() {
    let db = super::TestDatabase::fresh(super::Backend::Postgres).await;
    let a = TestStack::start(&db).await;
    let b = TestStack::start(&db).await;
    // A waits only for replicas it has heard: let the pings go round.
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.state.revoker.cluster.others_alive().is_empty()
        || b.state.revoker.cluster.others_alive().is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the replicas never heard each other"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let env = a.environment().await;
    let (sk, key_id) = a.key(&env, pb::ApiKeyKind::Secret, &[]).await;
    for _ in 0..2 {
        assert_eq!(who(&b, Credential::Bearer(&sk)).await, tonic::Code::Ok);
    }
    let _: pb::ApiKey = a
        .call(
            REVOKE_KEY,
            a.admin(),
            pb::RevokeKeyRequest { id: key_id.clone() },
        )
        .await
        .expect("revoke the key");
    assert!(b.state.index.is_dead(&key_id), "B applied the notice");
    assert_eq!(
        who(&b, Credential::Bearer(&sk)).await,
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        who(&a, Credential::Bearer(&sk)).await,
        tonic::Code::Unauthenticated
    );
}
