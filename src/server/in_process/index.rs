//! The key index's contract, on a real store, with the stack making the
//! credentials and revoking them: a found credential is read from the
//! database once, then from memory; an unknown one is a miss, then a
//! cached negative; a revocation makes it dead at once (evicted, its id
//! tombstoned, remembered decisions void); a flush forgets lookups but not
//! the dead; a distrusted index reads every credential from the database.

use super::paths::*;
use super::{Credential, TestStack, both_backends};
use crate::auth::index::Resolution;
use crate::auth::usage_counters::Outcome;
use crate::domain::credential::{self, CredentialKind, ParsedCredential};
use crate::pb;

fn parse(value: &str) -> ParsedCredential {
    credential::parse(value).expect("a well-formed credential")
}

/// Database lookups made by the index so far.
fn lookups(stack: &TestStack) -> u64 {
    stack.state.index.cache_stats().1
}

async fn an_unknown_credential_is_a_miss_then_a_cached_negative(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let stack = TestStack::start(&db).await;
    let index = &stack.state.index;
    let text = credential::generate(CredentialKind::Secret);
    let text = text.plaintext.expose();
    let unknown = parse(text);
    let before = lookups(&stack);
    assert!(matches!(
        index.resolve_detailed(&unknown, None).await.unwrap(),
        Resolution::Unknown
    ));
    assert_eq!(
        lookups(&stack),
        before + 1,
        "the first miss asks the database"
    );
    for _ in 0..3 {
        assert!(index.resolve(&unknown).await.unwrap().is_none());
    }
    // Through the stack too.
    let refused = stack
        .code(WHO_AM_I, Credential::Bearer(text), pb::WhoAmIRequest {})
        .await;
    assert_eq!(refused, tonic::Code::Unauthenticated);
    assert_eq!(lookups(&stack), before + 1, "then the negative is cached");
}

async fn a_found_credential_is_read_once_then_served_from_memory(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let stack = TestStack::start(&db).await;
    let env = stack.environment().await;
    let index = &stack.state.index;
    let sk = parse(&env.sk);
    // Creating the environment cached nothing about its secret key.
    let before = lookups(&stack);
    let first = index.resolve(&sk).await.unwrap().expect("a working key");
    assert_eq!(lookups(&stack), before + 1);
    assert_eq!(first.kind, CredentialKind::Secret);
    assert_eq!(first.environment_id.as_deref(), Some(env.id.as_str()));
    for _ in 0..3 {
        let again = index.resolve(&sk).await.unwrap().expect("a working key");
        assert!(std::sync::Arc::ptr_eq(&first, &again), "the cached record");
    }
    assert_eq!(lookups(&stack), before + 1);
    // A flush forgets it: read again.
    index.flush().await;
    index.resolve(&sk).await.unwrap().expect("a working key");
    assert_eq!(lookups(&stack), before + 2);
    // A distrusted index (the cluster's listener is down) reads every time.
    index.set_trusted(false);
    index.resolve(&sk).await.unwrap().expect("a working key");
    index.resolve(&sk).await.unwrap().expect("a working key");
    assert_eq!(lookups(&stack), before + 4);
    index.set_trusted(true);
}

async fn a_revocation_evicts_at_once_and_for_good(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let stack = TestStack::start(&db).await;
    let env = stack.environment().await;
    let index = &stack.state.index;
    let (sk, key_id) = stack.key(&env, pb::ApiKeyKind::Secret, &[]).await;
    let token = stack.user_token(&sk, "bob").await;
    let who = |caller| stack.code(WHO_AM_I, caller, pb::WhoAmIRequest {});
    // Cached, and remembered by the layer.
    for _ in 0..2 {
        assert_eq!(who(Credential::Bearer(&sk)).await, tonic::Code::Ok);
    }
    let frontend = Credential::Frontend(&env.pk, Some(&token));
    assert_eq!(who(frontend).await, tonic::Code::Ok);
    assert!(
        index
            .key_working_until(&key_id, &env.id)
            .await
            .unwrap()
            .is_some()
    );
    let generation = index.generation();

    let _: pb::ApiKey = stack
        .call(
            REVOKE_KEY,
            stack.admin(),
            pb::RevokeKeyRequest { id: key_id.clone() },
        )
        .await
        .expect("revoke the key");
    // Done before the RPC returned: dead, evicted, decisions void.
    assert!(index.is_dead(&key_id));
    assert!(index.generation() > generation);
    assert!(
        index
            .key_working_until(&key_id, &env.id)
            .await
            .unwrap()
            .is_none()
    );
    let before = lookups(&stack);
    assert!(matches!(
        index.resolve_detailed(&parse(&sk), None).await.unwrap(),
        Resolution::Ended(_, Outcome::Revoked)
    ));
    assert_eq!(
        lookups(&stack),
        before + 1,
        "the evicted entry is read again"
    );
    assert_eq!(
        who(Credential::Bearer(&sk)).await,
        tonic::Code::Unauthenticated
    );
    // Its user tokens die with it.
    assert_eq!(who(frontend).await, tonic::Code::Unauthenticated);
    // The tombstone outlives a flush.
    index.flush().await;
    assert!(index.is_dead(&key_id));
    assert_eq!(
        who(Credential::Bearer(&sk)).await,
        tonic::Code::Unauthenticated
    );
    // The environment's other keys are untouched.
    assert_eq!(who(Credential::Bearer(&env.sk)).await, tonic::Code::Ok);
}

both_backends!(
    an_unknown_credential_is_a_miss_then_a_cached_negative,
    a_found_credential_is_read_once_then_served_from_memory,
    a_revocation_evicts_at_once_and_for_good
);
