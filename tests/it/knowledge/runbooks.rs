//! Runbooks over the API on both engines: a plan saved from a session
//! starts the next session with the same steps; only the creator or an
//! admin may change it.

use casebook::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, problem};

backend_tests!(
    a_plan_saved_as_a_runbook_starts_a_new_session_with_the_same_steps,
    only_the_creator_or_an_admin_may_edit_or_retire_a_runbook,
    retired_runbooks_are_listed_only_when_asked_for,
    invalid_runbooks_are_refused_naming_every_field,
);

const PLAN: [&str; 3] = [
    "Check the tunnel logs at the drop",
    "Compare the rekey timers of both peers",
    "Raise the lifetime to 8 hours",
];

/// A completed session whose plan worked; returns its id.
async fn solved_session(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/api/sessions",
            &json!({
                "title": "VPN tunnel drops every hour",
                "problem": "The site-to-site tunnel drops on the hour.",
                "steps": PLAN,
                "start": true
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let closed = app
        .complete(&id, "resolved", Some("Lifetimes matched"))
        .await;
    assert_eq!(closed.status(), StatusCode::OK);
    id
}

async fn create_runbook(app: &TestApp, client: &reqwest::Client, body: Value) -> Value {
    create_at(app, client, "/api/runbooks", body).await
}

/// POSTs `body` to `path`, expecting a new runbook at its `Location`.
async fn create_at(app: &TestApp, client: &reqwest::Client, path: &str, body: Value) -> Value {
    let response = client.post(app.url(path)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let runbook: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/runbooks/{}", runbook["id"].as_str().unwrap())
    );
    runbook
}

async fn a_plan_saved_as_a_runbook_starts_a_new_session_with_the_same_steps(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = solved_session(&app).await;
    let runbook = create_at(
        &app,
        &app.client,
        &format!("/api/sessions/{session}/runbook"),
        json!({ "name": "  VPN rekey mismatch " }),
    )
    .await;
    assert_eq!(runbook["name"], "VPN rekey mismatch");
    assert_eq!(runbook["steps"], json!(PLAN));
    assert_eq!(
        runbook["problem"],
        "The site-to-site tunnel drops on the hour."
    );
    assert_eq!(runbook["created_by"], "dana");
    assert_eq!(runbook["source_session_id"], session.as_str());
    assert!(runbook["retired_at"].is_null());

    // Offered by name, any case, any word order.
    let listed = app.get_json("/api/runbooks?q=rekey%20vpn").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], runbook["id"]);
    let none = app.get_json("/api/runbooks?q=printer").await;
    assert_eq!(none["items"], json!([]));

    // A new session from it has the same steps, in order.
    let id = runbook["id"].as_str().unwrap();
    let fetched = app.get_json(&format!("/api/runbooks/{id}")).await;
    let response = app
        .post_json(
            "/api/sessions",
            &json!({
                "title": "VPN drops again at Globex",
                "problem": fetched["problem"],
                "steps": fetched["steps"],
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let new: Value = response.json().await.unwrap();
    let steps: Vec<&str> = new["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(steps, PLAN);
}

async fn only_the_creator_or_an_admin_may_edit_or_retire_a_runbook(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let runbook = create_runbook(
        &app,
        &app.client,
        json!({ "name": "Disk full", "steps": ["df -h", "Rotate the logs"] }),
    )
    .await;
    let path = app.url(&format!(
        "/api/runbooks/{}",
        runbook["id"].as_str().unwrap()
    ));
    let edit = json!({ "name": "Disk full on a database host", "problem": "", "steps": ["df -h", "Rotate the logs", "Grow the volume"] });

    let sam = app.client_as("sam", Role::Engineer).await;
    let refused = sam.put(&path).json(&edit).send().await.unwrap();
    let body = problem(refused, StatusCode::FORBIDDEN).await;
    assert!(body["detail"].as_str().unwrap().contains("dana"), "{body}");
    let refused = sam.post(format!("{path}/retire")).send().await.unwrap();
    problem(refused, StatusCode::FORBIDDEN).await;
    // Anyone may create their own.
    create_runbook(&app, &sam, json!({ "name": "Sam's", "steps": ["one"] })).await;

    let edited: Value = app
        .client
        .put(&path)
        .json(&edit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["name"], "Disk full on a database host");
    assert_eq!(edited["steps"].as_array().unwrap().len(), 3);

    let root = app.client_as("root", Role::Admin).await;
    let retired = root.post(format!("{path}/retire")).send().await.unwrap();
    assert_eq!(retired.status(), StatusCode::OK);
    let retired: Value = retired.json().await.unwrap();
    assert!(retired["retired_at"].is_string());
    // Retiring again changes nothing.
    let again: Value = app
        .client
        .post(format!("{path}/retire"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["retired_at"], retired["retired_at"]);

    let missing = app
        .get("/api/runbooks/0190f1c4-0000-7000-8000-000000000000")
        .await;
    let body = problem(missing, StatusCode::NOT_FOUND).await;
    assert_eq!(body["detail"], "No runbook has this id.");
    problem(
        app.get("/api/runbooks/not-an-id").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn retired_runbooks_are_listed_only_when_asked_for(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let kept = create_runbook(
        &app,
        &app.client,
        json!({ "name": "B kept", "steps": ["x"] }),
    )
    .await;
    let gone = create_runbook(
        &app,
        &app.client,
        json!({ "name": "A retired", "steps": ["y"] }),
    )
    .await;
    let retire = app
        .post(&format!(
            "/api/runbooks/{}/retire",
            gone["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(retire.status(), StatusCode::OK);
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&app.get_json("/api/runbooks").await), ["B kept"]);
    assert_eq!(
        names(&app.get_json("/api/runbooks?include_retired=true").await),
        ["A retired", "B kept"]
    );
    assert_eq!(kept["name"], "B kept");
    let bad = app.get("/api/runbooks?include_retired=maybe&limit=0").await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
}

async fn invalid_runbooks_are_refused_naming_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post_json("/api/runbooks", &json!({ "name": " ", "steps": [] }))
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "steps"]);

    let long = "x".repeat(501);
    let response = app
        .post_json(
            "/api/runbooks",
            &json!({ "name": "ok", "steps": ["fine", long] }),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "steps[1]");

    // A session without a plan has nothing to save.
    let empty = app.create("Nothing planned", &[]).await;
    let path = format!("/api/sessions/{}/runbook", empty["id"].as_str().unwrap());
    let response = app.post_json(&path, &json!({ "name": "Empty" })).await;
    // The request is valid; the session is in no state to give a plan.
    let body = problem(response, StatusCode::CONFLICT).await;
    assert!(body["detail"].as_str().unwrap().contains("no plan"));

    // Steps added while working may take a plan past what a runbook holds:
    // the request is still valid, so the refusal is a conflict, not a 422.
    let steps: Vec<String> = (1..=100).map(|i| format!("Step {i}")).collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let full = app.create("A long hunt", &steps).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.start(&full).await;
    let added = app
        .post_json(
            &format!("/api/sessions/{full}/steps"),
            &json!({ "text": "One more" }),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let path = format!("/api/sessions/{full}/runbook");
    let response = app.post_json(&path, &json!({ "name": "Too long" })).await;
    let body = problem(response, StatusCode::CONFLICT).await;
    assert_eq!(
        body["detail"],
        "This session's plan has 101 steps; a runbook holds at most 100."
    );
    let listed = app
        .get("/api/runbooks")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "nothing was saved: {listed}"
    );

    let response = app
        .post_json(
            "/api/sessions/0190f1c4-0000-7000-8000-000000000000/runbook",
            &json!({ "name": "Ghost" }),
        )
        .await;
    problem(response, StatusCode::NOT_FOUND).await;
}
