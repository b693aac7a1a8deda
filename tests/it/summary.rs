//! Summaries: the local summarizer through the API, and an OpenAI-compatible
//! endpoint played by a local server that speaks the chat-completions protocol.

use std::time::Duration;

use casebook::summary::OpenAiSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Behaviour, TestApp, TestDb, fake_llm, problem};

backend_tests!(
    the_local_summary_is_generated_on_request_and_recorded_in_the_timeline,
    an_openai_compatible_endpoint_writes_the_summary_from_the_sessions_data,
    a_failing_or_silent_endpoint_gives_a_clear_error_and_leaves_the_session_unsummarized,
);

/// Prepares, works and completes a session with findings, a note and notes.
async fn worked_session(app: &TestApp) -> String {
    let created = app
        .create(
            "VPN drops every hour",
            &["Check tunnel logs", "Compare timers", "Call vendor"],
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let started = app.post(&format!("/api/sessions/{id}/start")).await;
    assert_eq!(started.status(), StatusCode::OK);
    for (i, finding) in [(0, "rekey failures at :00"), (1, "3600 s vs 28800 s")] {
        let step = created["steps"][i]["id"].as_str().unwrap();
        let response = app
            .post_json(
                &format!("/api/sessions/{id}/steps/{step}/check"),
                &json!({ "finding": finding }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let noted = app
        .post_json(
            &format!("/api/sessions/{id}/notes"),
            &json!({ "text": "Peer runs firmware 9.1" }),
        )
        .await;
    assert_eq!(noted.status(), StatusCode::CREATED);
    let response = app
        .complete(&id, "workaround", Some("Raised the rekey timer"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    id
}

async fn the_local_summary_is_generated_on_request_and_recorded_in_the_timeline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = worked_session(&app).await;
    assert_eq!(
        app.session(&id).await["summary"],
        Value::Null,
        "closing never summarizes"
    );

    let response = app.post(&format!("/api/sessions/{id}/summary")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let session: Value = response.json().await.unwrap();
    let summary = session["summary"].as_str().unwrap().to_string();
    for expected in [
        "Workaround",
        "rekey failures at :00",
        "3600 s vs 28800 s",
        "Peer runs firmware 9.1",
        "Raised the rekey timer",
        "Outcome: Workaround after ",
    ] {
        assert!(
            summary.contains(expected),
            "{summary:?} mentions {expected:?}"
        );
    }
    let again: Value = app
        .post(&format!("/api/sessions/{id}/summary"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["summary"],
        summary.as_str(),
        "the same session gives the same summary"
    );

    let events: Value = app.events(&id).await;
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "summary_generated");
    assert_eq!(last["summarizer"], "local");

    // Only a completed session has a summary; reopening clears it.
    let reopened: Value = app
        .post(&format!("/api/sessions/{id}/reopen"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reopened["summary"], Value::Null);
    let body = problem(
        app.post(&format!("/api/sessions/{id}/summary")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "active");
    problem(
        app.post(&format!("/api/sessions/{}/summary", uuid::Uuid::now_v7()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// A server whose summaries come from the endpoint at `url`, given
/// `timeout` to answer.
async fn app_with_llm(backend: Backend, url: String, timeout: Duration) -> TestApp {
    TestApp::spawn_with(TestDb::new(backend).await, |settings| {
        settings.llm = Some(OpenAiSettings {
            base_url: url,
            model: "casebook-test".into(),
            api_key: Some("sk-test-123".into()),
            timeout,
        });
    })
    .await
}

/// Long enough for a loaded machine, where every test shares two cores.
const ANSWERS_IN: Duration = Duration::from_secs(20);

async fn an_openai_compatible_endpoint_writes_the_summary_from_the_sessions_data(backend: Backend) {
    let (url, seen) = fake_llm(Behaviour::Answer).await;
    let app = app_with_llm(backend, url, ANSWERS_IN).await;
    let id = worked_session(&app).await;
    let session: Value = app
        .post(&format!("/api/sessions/{id}/summary"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        session["summary"],
        "The VPN dropped hourly; a longer rekey timer works around it."
    );

    let seen = seen.lock().unwrap();
    let (body, auth) = &seen[0];
    assert_eq!(auth.as_deref(), Some("Bearer sk-test-123"));
    assert_eq!(body["model"], "casebook-test");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
    let prompt = messages[1]["content"].as_str().unwrap();
    for expected in [
        "VPN drops every hour",
        "rekey failures at :00",
        "Peer runs firmware 9.1",
        "Workaround",
        "Raised the rekey timer",
    ] {
        assert!(prompt.contains(expected), "the prompt carries {expected:?}");
    }
}

async fn a_failing_or_silent_endpoint_gives_a_clear_error_and_leaves_the_session_unsummarized(
    backend: Backend,
) {
    for behaviour in [Behaviour::Fail, Behaviour::Hang] {
        let (url, _) = fake_llm(behaviour.clone()).await;
        // A silent endpoint is given a second; one that fails, all the time it needs.
        let timeout = match behaviour {
            Behaviour::Hang => Duration::from_secs(1),
            _ => ANSWERS_IN,
        };
        let app = app_with_llm(backend, url, timeout).await;
        let id = worked_session(&app).await;
        let body = problem(
            app.post(&format!("/api/sessions/{id}/summary")).await,
            StatusCode::BAD_GATEWAY,
        )
        .await;
        let detail = body["detail"].as_str().unwrap();
        match behaviour {
            // What the endpoint said stays in the log (ASVS 7.4.1).
            Behaviour::Fail => assert!(
                detail.contains("answered with an error")
                    && !detail.contains("model overloaded")
                    && !detail.contains("127.0.0.1"),
                "{detail}"
            ),
            _ => assert!(detail.contains("no answer within 1 s"), "{detail}"),
        }
        let session = app.session(&id).await;
        assert_eq!(session["status"], "completed");
        assert_eq!(session["summary"], Value::Null);
        let events: Value = app.events(&id).await;
        assert!(
            events["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["kind"] != "summary_generated")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_from_the_history_page_never_calls_the_summarizer() {
    let (url, seen) = fake_llm(Behaviour::Answer).await;
    let app = app_with_llm(Backend::Sqlite, url, ANSWERS_IN).await;
    let in_place = app.create_active("Closed by the popover").await;
    let response = app
        .client
        .post(app.url(&format!("/api/sessions/{in_place}/complete")))
        .header("Casebook-Via", "history")
        .json(&json!({ "outcome": "cancelled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let by_form = app.create_active("Closed without script").await;
    let response = app
        .client
        .post(app.url(&format!("/sessions/{by_form}/complete")))
        .form(&[
            ("outcome", "resolved_externally"),
            ("next", "/sessions"),
            ("via", "history"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "redirected back to the history page"
    );
    for id in [&in_place, &by_form] {
        let session = app.session(id).await;
        assert_eq!(session["status"], "completed");
        assert_eq!(session["summary"], Value::Null);
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "the summarizer was never called"
    );
}

/// The endpoint is the operator's: a redirect is not followed (it would
/// carry the API key's request elsewhere), an answer is read only up to a
/// size cap, and what a person sees names neither the endpoint nor its
/// user-info (ASVS 12.6.1, 13.1, 7.4.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_endpoint_is_never_followed_elsewhere_nor_read_without_limit() {
    for (behaviour, expected) in [
        (Behaviour::Redirect, "answered with an error"),
        (Behaviour::Huge, "too large"),
    ] {
        let (url, _) = fake_llm(behaviour).await;
        // The user-info of the URL must not reach the page either.
        let url = url.replace("http://", "http://casebook:s3cret-pass@");
        let app = app_with_llm(Backend::Sqlite, url, ANSWERS_IN).await;
        let id = worked_session(&app).await;
        let body = problem(
            app.post(&format!("/api/sessions/{id}/summary")).await,
            StatusCode::BAD_GATEWAY,
        )
        .await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(expected), "{detail}");
        for secret in ["s3cret-pass", "casebook:", "127.0.0.1", "followed"] {
            assert!(!detail.contains(secret), "{detail}");
        }
        assert_eq!(app.session(&id).await["summary"], Value::Null);
    }
}
