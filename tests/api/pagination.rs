//! Keyset pagination: every row exactly once, even under concurrent inserts.

use std::collections::HashSet;

use crate::both_backends;
use crate::helpers::{Backend, spawn_app};

async fn walks_1000_environments_exactly_once_while_others_are_inserted(backend: Backend) {
    let app = spawn_app(backend).await;

    // Seed 1,000 environments, 10 concurrent creators.
    let mut seeded = HashSet::new();
    for batch in 0..100 {
        let mut tasks = Vec::new();
        for i in 0..10 {
            let admin = app.as_admin();
            tasks.push(tokio::spawn(async move {
                admin
                    .create_environment(format!("env {batch}-{i}"))
                    .await
                    .unwrap()
                    .environment
                    .unwrap()
                    .id
            }));
        }
        for t in tasks {
            seeded.insert(t.await.unwrap());
        }
    }
    assert_eq!(seeded.len(), 1000);

    // Insert more while walking.
    let inserter = {
        let admin = app.as_admin();
        tokio::spawn(async move {
            for i in 0..150 {
                admin.create_environment(format!("late {i}")).await.unwrap();
            }
        })
    };

    let admin = app.as_admin();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = admin.list_environments_page(37, page_token).await.unwrap();
        assert!(page.environments.len() <= 37);
        seen.extend(page.environments.into_iter().map(|e| e.id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    inserter.await.unwrap();

    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no environment is returned twice");
    assert!(
        seeded.is_subset(&unique),
        "every seeded environment is returned"
    );
    assert!(pages >= 1000 / 37);

    // Page sizes: 0 means 50, above 1000 is coerced to 1000.
    let first = admin.list_environments_page(0, "").await.unwrap();
    assert_eq!(first.environments.len(), 50);
    let big = admin.list_environments_page(5000, "").await.unwrap();
    assert_eq!(big.environments.len(), 1000);
    assert!(!big.next_page_token.is_empty());
}

both_backends!(walks_1000_environments_exactly_once_while_others_are_inserted);
