//! A prepared session is edited (`PUT`) or deleted (`DELETE`) over the API;
//! once started it is a 409, and another engineer's session a 403. On both
//! backends.

use casebook::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, problem};

backend_tests!(
    editing_a_prepared_session_replaces_its_fields_and_plan_and_the_timeline_says_so,
    a_prepared_session_is_deleted_with_its_plan_and_timeline,
    editing_or_deleting_a_started_session_is_a_409_naming_its_status,
    editing_or_deleting_another_engineers_session_is_a_403_but_an_admin_may,
    an_invalid_edit_is_a_422_naming_each_field_and_changes_nothing,
);

fn edited() -> Value {
    json!({
        "title": "  Disk full on db02 ",
        "problem": "Writes fail with ENOSPC on the replica.",
        "reference": "",
        "customer": "Northwind",
        "steps": ["Check df -h", "Rotate the logs", "Check the backup job"]
    })
}

async fn put(app: &TestApp, client: &reqwest::Client, id: &str, body: &Value) -> reqwest::Response {
    client
        .put(app.url(&format!("/api/sessions/{id}")))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, client: &reqwest::Client, id: &str) -> reqwest::Response {
    client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .send()
        .await
        .unwrap()
}

async fn editing_a_prepared_session_replaces_its_fields_and_plan_and_the_timeline_says_so(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let created = app.create("Disk full on db01", &["Check df -h"]).await;
    let id = created["id"].as_str().unwrap();

    let response = put(&app, &app.client, id, &edited()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["title"], "Disk full on db02");
    assert_eq!(
        session["problem"],
        "Writes fail with ENOSPC on the replica."
    );
    assert_eq!(
        session["reference"],
        Value::Null,
        "a blank reference is none"
    );
    assert_eq!(session["customer"], "Northwind");
    assert_eq!(session["status"], "prepared");
    let texts: Vec<&str> = session["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Check df -h", "Rotate the logs", "Check the backup job"]
    );
    assert_eq!(session["steps"][2]["position"], 3);
    assert_eq!(app.session(id).await, session, "as stored");

    let events = app.events(id).await;
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "edited");
    assert_eq!(last["actor"], "dana");
    assert_eq!(last["via"], "api");
    assert_eq!(last["title"], "Disk full on db02");
    assert_eq!(last["steps"], json!(texts));

    // The new plan is the one that gets worked on.
    let started = app.post(&format!("/api/sessions/{id}/start")).await;
    assert_eq!(started.status(), StatusCode::OK);
    let step = session["steps"][1]["id"].as_str().unwrap();
    let checked = app
        .post(&format!("/api/sessions/{id}/steps/{step}/check"))
        .await;
    assert_eq!(checked.status(), StatusCode::OK);
}

async fn a_prepared_session_is_deleted_with_its_plan_and_timeline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("Printer offline", &["Power cycle"]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kept = app.create("Another one", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // An unknown surface is refused as on every other write, and nothing goes.
    let unknown_surface = app
        .client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .header("casebook-via", "carrier-pigeon")
        .send()
        .await
        .unwrap();
    problem(unknown_surface, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.get_json(&format!("/api/sessions/{id}")).await["id"], id);

    let response = delete(&app, &app.client, &id).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(
        app.get(&format!("/api/sessions/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(&format!("/api/sessions/{id}/events")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(delete(&app, &app.client, &id).await, StatusCode::NOT_FOUND).await;
    let list = app.get_json("/api/sessions").await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept.as_str()]);
    let found = app.get_json("/api/sessions?q=printer").await;
    assert_eq!(found["items"], json!([]), "gone from the search too");
}

async fn editing_or_deleting_a_started_session_is_a_409_naming_its_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let active = app.create_active("Started already").await;
    let body = problem(
        put(&app, &app.client, &active, &edited()).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "active");
    assert_eq!(
        body["detail"],
        "This session is active; only a prepared session can be edited."
    );
    let body = problem(
        delete(&app, &app.client, &active).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        body["detail"],
        "This session is active; only a prepared session can be deleted."
    );

    let completed = app.create_active("Closed already").await;
    app.complete(&completed, "resolved", None).await;
    let body = problem(
        delete(&app, &app.client, &completed).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "completed");
    assert_eq!(app.session(&completed).await["status"], "completed", "kept");
    assert_eq!(
        app.session(&active).await["title"],
        "Started already",
        "unchanged"
    );
}

async fn editing_or_deleting_another_engineers_session_is_a_403_but_an_admin_may(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("Dana's plan", &["One"]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lee = app.client_as("lee", Role::Engineer).await;
    problem(put(&app, &lee, &id, &edited()).await, StatusCode::FORBIDDEN).await;
    problem(delete(&app, &lee, &id).await, StatusCode::FORBIDDEN).await;
    assert_eq!(app.session(&id).await["title"], "Dana's plan");

    let root = app.client_as("root", Role::Admin).await;
    assert_eq!(
        put(&app, &root, &id, &edited()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        delete(&app, &root, &id).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn an_invalid_edit_is_a_422_naming_each_field_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("Keep me", &["One"]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = json!({ "title": "   ", "steps": ["fine", " "] });
    let body = problem(
        put(&app, &app.client, &id, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"title"), "{fields:?}");
    assert!(fields.contains(&"steps[1]"), "{fields:?}");
    assert_eq!(app.session(&id).await["title"], "Keep me");
    problem(
        put(&app, &app.client, "not-an-id", &edited()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
