//! Every bad input gets a clear problem+json answer naming what is wrong,
//! writes nothing, and the server keeps serving.

use reqwest::StatusCode;
use serde_json::{Value, json};

use casebook::domain::{NewSession, Problem, ShortText, StepText, Title};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, problem};

backend_tests!(
    bad_inputs_get_problem_details_and_change_nothing,
    the_largest_valid_session_fits_in_one_request,
);

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

async fn bad_inputs_get_problem_details_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_active("Queue backlog").await;
    let complete = format!("/api/sessions/{id}/complete");
    let send = |path: String, content_type: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url(&path))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    // 400: malformed JSON.
    let body = problem(
        send(
            complete.clone(),
            "application/json",
            b"{\"outcome\": ".to_vec(),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("JSON"));
    problem(
        send(complete.clone(), "application/json", b"[1, 2]".to_vec())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        send(
            complete.clone(),
            "application/json",
            b"{} trailing".to_vec(),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // 415: not JSON.
    problem(
        send(complete.clone(), "text/plain", b"resolved".to_vec())
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    problem(
        send(
            complete.clone(),
            "application/x-www-form-urlencoded",
            b"outcome=resolved".to_vec(),
        )
        .await
        .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    // 413: over the limit.
    let huge = serde_json::to_vec(
        &json!({ "outcome": "resolved", "outcome_notes": "x".repeat(casebook::http::BODY_LIMIT + 1) }),
    )
    .unwrap();
    problem(
        send(complete.clone(), "application/json", huge)
            .await
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;

    // 404: unknown or malformed ids, and unknown steps.
    let unknown = uuid::Uuid::now_v7();
    problem(
        app.get(&format!("/api/sessions/{unknown}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/api/sessions/not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.complete("12345", "resolved", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.complete(&unknown.to_string(), "resolved", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(&format!("/api/sessions/{unknown}/events")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.post(&format!("/api/sessions/{id}/steps/{unknown}/check"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(app.get("/api/nothing-here").await, StatusCode::NOT_FOUND).await;

    // 422: invalid values, each field named, an unknown outcome lists the six.
    let body = problem(
        app.complete(&id, "fixed", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["outcome"]);
    let message = body["errors"][0]["message"].as_str().unwrap();
    for value in [
        "resolved",
        "escalated",
        "workaround",
        "unresolved",
        "cancelled",
        "resolved_externally",
    ] {
        assert!(message.contains(value), "{message} lists {value}");
    }
    let body = problem(
        app.post_json(&complete, &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["outcome"]);
    let body = problem(
        app.complete(&id, "resolved", Some(&"n".repeat(4001))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["outcome_notes"]);
    let body = problem(
        app.post_json(&complete, &json!({ "outcome": 7 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["outcome"]);
    let body = problem(
        app.post_json(
            "/api/sessions",
            &json!({ "title": " ", "customer": "c".repeat(201), "steps": ["ok", "s".repeat(501)] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["title", "customer", "steps[1]"]);
    let body = problem(
        app.post_json("/api/sessions", &json!({ "title": "t", "steps": "one" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["steps"]);
    let body = problem(
        app.post_json(
            &format!("/api/sessions/{id}/notes"),
            &json!({ "text": "  " }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["text"]);
    let body = problem(
        app.get("/api/sessions?status=closed&limit=101").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["status", "limit"]);
    let body = problem(
        app.get("/api/sessions?outcome=fixed").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&body), ["outcome"]);
    // 400: a cursor this server did not issue.
    problem(
        app.get("/api/sessions?cursor=garbage").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // 405 is problem+json too.
    problem(
        app.client.delete(app.url(&complete)).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;

    // Nothing was written, and the server still serves.
    let session = app.session(&id).await;
    assert_eq!(session["status"], "active");
    let events: Value = app.events(&id).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2);
    let list: Value = app.get_json("/api/sessions").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.complete(&id, "resolved", None).await.status(),
        StatusCode::OK
    );
}

/// Every field at its longest, in four-byte characters: the body limit
/// refuses floods, never a plan a user may legitimately write.
async fn the_largest_valid_session_fits_in_one_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let longest = |chars: usize| "\u{1D11E}".repeat(chars);
    let body = json!({
        "title": longest(Title::MAX_CHARS),
        "problem": longest(Problem::MAX_CHARS),
        "reference": longest(ShortText::MAX_CHARS),
        "customer": longest(ShortText::MAX_CHARS),
        "steps": vec![longest(StepText::MAX_CHARS); NewSession::MAX_STEPS],
    });
    let created = app
        .client
        .post(app.url("/api/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let session: Value = created.json().await.unwrap();
    assert_eq!(
        session["steps"].as_array().unwrap().len(),
        NewSession::MAX_STEPS
    );
    assert_eq!(session["problem"], longest(Problem::MAX_CHARS));
}
