//! Restart persistence and concurrent startup.

use crate::both_backends;
use crate::helpers::{Backend, count_accounts, fresh_database, prepare_database, spawn_app};

async fn everything_survives_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env = created.environment.unwrap();
    let app = app.restart().await;

    // Same admin token, same environment, same secret key; no second bootstrap.
    let got = app.as_admin().get_environment(&env.id).await.unwrap();
    assert_eq!(got, env);
    let who = app.as_secret(&created.secret_key).whoami().await.unwrap();
    assert_eq!(who.environment_id, env.id);
    assert_eq!(count_accounts(&app.database_url).await, 1);
}

/// Several `pulse serve` starting at once on one new database migrate and
/// bootstrap exactly once; on SQLite none fails with "database is locked"
/// however long another start holds the lock (issue 10, defect 10). Twenty
/// rounds of six, while the rest of the suite runs.
async fn concurrent_startups_migrate_and_bootstrap_once(backend: Backend) {
    for round in 0..20 {
        let (url, _dir) = fresh_database(backend).await;
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                prepare_database(&url)
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: {e}"))
            }));
        }
        let mut bootstraps = 0;
        for t in tasks {
            bootstraps += t.await.unwrap() as u32;
        }
        assert_eq!(
            bootstraps, 1,
            "exactly one start creates the default account"
        );
        assert_eq!(count_accounts(&url).await, 1);
        if backend == Backend::Postgres {
            crate::helpers::drop_postgres_database(&url).await;
        }
    }
}

both_backends!(
    everything_survives_a_restart,
    concurrent_startups_migrate_and_bootstrap_once
);
