//! SIGTERM under load: in-flight calls finish, no new ones are accepted,
//! nothing acknowledged is lost, and the process exits cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tonic::Code;

use crate::both_backends;
use crate::helpers::{
    Backend, Client, count_accounts, eventually, fresh_database, query_count, spawn_process,
};

async fn sigterm_under_load_drains_in_flight_calls(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let mut server = spawn_process(&url, &[]);
    let admin = Client::bearer(server.channel().await, &server.bootstrap_token());
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (ok, refused, admin) = (ok.clone(), refused.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let r = admin.create_environment(format!("e{t}-{i}")).await;
                match r {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    // Refused at the connection level once shutdown began: the
                    // server's GOAWAY (NO_ERROR) tells the client which streams
                    // it never accepted; tonic reports those as an h2 error.
                    Err(s)
                        if matches!(
                            s.code(),
                            Code::Unavailable | Code::Cancelled | Code::Unknown
                        ) || format!("{s:?}").contains("GoAway") =>
                    {
                        refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(s) => panic!("an accepted call failed during shutdown: {s:?}"),
                };
            }
        }));
    }
    // Under way: every task has had calls answered, and keeps calling.
    eventually(Duration::from_secs(10), "the load is running", || async {
        Some(ok.load(Ordering::Relaxed)).filter(|n| *n >= 32)
    })
    .await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server)
    })
    .await
    .unwrap();
    assert!(
        status.0.success(),
        "clean exit after SIGTERM: {:?}",
        status.0
    );
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        refused.load(Ordering::Relaxed),
        16,
        "every caller ends refused, none hangs"
    );

    // Everything acknowledged was written (plus the bootstrap-free count check).
    let account = count_accounts(&url).await;
    assert_eq!(account, 1);
    let stored = query_count(&url, "SELECT COUNT(*) AS n FROM environments").await;
    let acknowledged = ok.load(Ordering::Relaxed) as i64;
    assert!(
        stored >= acknowledged && stored <= acknowledged + 16,
        "stored {stored}, acknowledged {acknowledged}"
    );
}

both_backends!(sigterm_under_load_drains_in_flight_calls);
