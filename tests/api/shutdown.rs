//! SIGTERM under load: in-flight calls finish, no new ones are accepted,
//! nothing acknowledged is lost, and the process exits cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, bearer, fresh_database, spawn_process};

async fn sigterm_under_load_drains_in_flight_calls(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let mut server = spawn_process(&url, &[]);
    let admin = server.bootstrap_token();
    let channel = server.channel().await;
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let mut envs =
            pb::environment_service_client::EnvironmentServiceClient::new(channel.clone());
        let (ok, refused, admin) = (ok.clone(), refused.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let r = envs
                    .create_environment(bearer(
                        pb::CreateEnvironmentRequest {
                            display_name: format!("e{t}-{i}"),
                        },
                        &admin,
                    ))
                    .await;
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
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = ok.load(Ordering::Relaxed);
    assert!(before > 0, "load was running");
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
    let store = pulse::store::Store::connect(&pulse::config::DatabaseSettings::from_url(&url))
        .await
        .unwrap();
    let account = store.count_accounts().await.unwrap();
    assert_eq!(account, 1);
    use sea_orm::{ConnectionTrait, Statement};
    let raw = sea_orm::Database::connect(&url).await.unwrap();
    let row = raw
        .query_one_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT COUNT(*) AS n FROM environments",
        ))
        .await
        .unwrap()
        .unwrap();
    let stored: i64 = row.try_get("", "n").unwrap();
    let acknowledged = ok.load(Ordering::Relaxed) as i64;
    assert!(
        stored >= acknowledged && stored <= acknowledged + 16,
        "stored {stored}, acknowledged {acknowledged}"
    );
}

both_backends!(sigterm_under_load_drains_in_flight_calls);
