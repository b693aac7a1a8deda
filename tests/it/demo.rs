//! `casebook seed --demo`.

use std::collections::HashSet;

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDb};

backend_tests!(demo_data_fills_an_empty_database_with_every_status_and_outcome_once,);

async fn demo_data_fills_an_empty_database_with_every_status_and_outcome_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let stores = casebook::store::connect_all(&db.url).await.unwrap();
    let added = casebook::demo::seed(&stores).await.unwrap();
    assert!(
        (25..=40).contains(&added),
        "about thirty sessions, got {added}"
    );
    let again = casebook::demo::seed(&stores).await.unwrap_err();
    assert!(
        again.to_string().contains("already has sessions"),
        "{again}"
    );
    stores.sessions.close().await;

    let app = TestApp::spawn_on(db).await;
    let list: Value = app
        .get("/api/sessions?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), added, "the refused second run added nothing");
    let statuses: HashSet<&str> = items
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, HashSet::from(["prepared", "active", "completed"]));
    let outcomes: HashSet<&str> = items.iter().filter_map(|s| s["outcome"].as_str()).collect();
    assert_eq!(outcomes.len(), 6, "every outcome: {outcomes:?}");
    let id = items[items.len() - 1]["id"].as_str().unwrap();
    let events: Value = app
        .get(&format!("/api/sessions/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        events["items"].as_array().unwrap().len() >= 3,
        "a timeline through the service"
    );
}
