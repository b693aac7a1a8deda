//! During work the plan changes (a step added, reworded or skipped) and a
//! note is corrected by its author, each recorded in the timeline; on any
//! other status a 409, for anyone else a 403. On both backends.

use casebook::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, problem};

backend_tests!(
    a_step_is_added_reworded_and_skipped_while_working_and_the_timeline_keeps_each,
    a_note_is_corrected_by_its_author_and_the_timeline_keeps_both_texts,
    plan_and_note_changes_outside_an_active_session_are_409s,
    another_engineer_gets_a_403_for_the_plan_and_for_someone_elses_note,
);

async fn put(client: &reqwest::Client, url: String, body: &Value) -> reqwest::Response {
    client.put(url).json(body).send().await.unwrap()
}

fn kinds(events: &Value) -> Vec<String> {
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn active_with_step(app: &TestApp) -> (String, String) {
    let created = app.create("VPN drops", &["Check tunnel logs"]).await;
    let id = created["id"].as_str().unwrap().to_string();
    app.start(&id).await;
    (id, created["steps"][0]["id"].as_str().unwrap().to_string())
}

async fn a_step_is_added_reworded_and_skipped_while_working_and_the_timeline_keeps_each(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (id, first) = active_with_step(&app).await;

    let response = app
        .post_json(
            &format!("/api/sessions/{id}/steps"),
            &json!({ "text": " Compare rekey timers " }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["steps"][1]["text"], "Compare rekey timers");
    assert_eq!(session["steps"][1]["position"], 2);
    let second = session["steps"][1]["id"].as_str().unwrap().to_string();

    let url = app.url(&format!("/api/sessions/{id}/steps/{first}"));
    let response = put(&app.client, url, &json!({ "text": "Read the tunnel logs" })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["steps"][0]["text"], "Read the tunnel logs");

    let skipped: Value = app
        .post(&format!("/api/sessions/{id}/steps/{second}/skip"))
        .await
        .json()
        .await
        .unwrap();
    assert!(skipped["steps"][1]["skipped_at"].is_string());
    assert_eq!(skipped["steps"][0]["skipped_at"], Value::Null);
    // Checking a skipped step after all clears the skip.
    let checked: Value = app
        .post(&format!("/api/sessions/{id}/steps/{second}/check"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(checked["steps"][1]["skipped_at"], Value::Null);
    assert!(checked["steps"][1]["checked_at"].is_string());

    let events = app.events(&id).await;
    assert_eq!(
        kinds(&events),
        [
            "created",
            "started",
            "step_added",
            "step_reworded",
            "step_skipped",
            "step_checked"
        ]
    );
    let reworded = &events["items"][3];
    assert_eq!(reworded["previous"], "Check tunnel logs");
    assert_eq!(reworded["text"], "Read the tunnel logs");
    assert_eq!(reworded["step_id"], first.as_str());

    let unknown = app
        .post(&format!(
            "/api/sessions/{id}/steps/{}/skip",
            uuid::Uuid::now_v7()
        ))
        .await;
    problem(unknown, StatusCode::NOT_FOUND).await;
    let blank = app
        .post_json(
            &format!("/api/sessions/{id}/steps"),
            &json!({ "text": "  " }),
        )
        .await;
    let body = problem(blank, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "text");
}

async fn a_note_is_corrected_by_its_author_and_the_timeline_keeps_both_texts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = active_with_step(&app).await;
    let note: Value = app
        .post_json(
            &format!("/api/sessions/{id}/notes"),
            &json!({ "text": "Rekey at 360 s" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let note_id = note["id"].as_str().unwrap();
    let url = app.url(&format!("/api/sessions/{id}/notes/{note_id}"));
    let response = put(&app.client, url, &json!({ "text": "Rekey at 3600 s" })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let correction: Value = response.json().await.unwrap();
    assert_eq!(correction["kind"], "note_corrected");
    assert_eq!(correction["note_id"], note_id);
    assert_eq!(correction["text"], "Rekey at 3600 s");

    let events = app.events(&id).await;
    let items = events["items"].as_array().unwrap();
    let texts: Vec<&str> = items.iter().filter_map(|e| e["text"].as_str()).collect();
    assert_eq!(
        texts,
        ["Rekey at 360 s", "Rekey at 3600 s"],
        "both texts kept"
    );

    let not_a_note = app.url(&format!(
        "/api/sessions/{id}/notes/{}",
        items[0]["id"].as_str().unwrap()
    ));
    problem(
        put(&app.client, not_a_note, &json!({ "text": "x" })).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn plan_and_note_changes_outside_an_active_session_are_409s(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let prepared = app.create("Not started", &["One"]).await;
    let id = prepared["id"].as_str().unwrap();
    let step = prepared["steps"][0]["id"].as_str().unwrap();
    let body = problem(
        app.post_json(
            &format!("/api/sessions/{id}/steps"),
            &json!({ "text": "Two" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "prepared");
    problem(
        app.post(&format!("/api/sessions/{id}/steps/{step}/skip"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;

    let (done, step) = active_with_step(&app).await;
    let note: Value = app
        .post_json(
            &format!("/api/sessions/{done}/notes"),
            &json!({ "text": "Typo" }),
        )
        .await
        .json()
        .await
        .unwrap();
    app.complete(&done, "resolved", None).await;
    let url = app.url(&format!("/api/sessions/{done}/steps/{step}"));
    let body = problem(
        put(&app.client, url, &json!({ "text": "Later" })).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "completed");
    let url = app.url(&format!(
        "/api/sessions/{done}/notes/{}",
        note["id"].as_str().unwrap()
    ));
    problem(
        put(&app.client, url, &json!({ "text": "Fixed" })).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(kinds(&app.events(&done).await).len(), 4, "nothing recorded");
}

async fn another_engineer_gets_a_403_for_the_plan_and_for_someone_elses_note(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, step) = active_with_step(&app).await;
    let note: Value = app
        .post_json(
            &format!("/api/sessions/{id}/notes"),
            &json!({ "text": "Dana's note" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let note_url = app.url(&format!(
        "/api/sessions/{id}/notes/{}",
        note["id"].as_str().unwrap()
    ));

    let lee = app.client_as("lee", Role::Engineer).await;
    let added = lee
        .post(app.url(&format!("/api/sessions/{id}/steps")))
        .json(&json!({ "text": "Lee's step" }))
        .send()
        .await
        .unwrap();
    problem(added, StatusCode::FORBIDDEN).await;
    let skipped = lee
        .post(app.url(&format!("/api/sessions/{id}/steps/{step}/skip")))
        .send()
        .await
        .unwrap();
    problem(skipped, StatusCode::FORBIDDEN).await;
    problem(
        put(&lee, note_url.clone(), &json!({ "text": "x" })).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // An admin may change the plan, but a note only its author corrects.
    let root = app.client_as("root", Role::Admin).await;
    let body = problem(
        put(&root, note_url, &json!({ "text": "x" })).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        body["detail"],
        "Only dana, who wrote this note, can correct it."
    );
    let url = app.url(&format!("/api/sessions/{id}/steps/{step}"));
    assert_eq!(
        put(&root, url, &json!({ "text": "Fine" })).await.status(),
        StatusCode::OK
    );
}
