//! `GET /api/stream`: every change to a session as a Server-Sent Event, on
//! one process or (on PostgreSQL) from any process.

mod events;
mod processes;

use std::time::{Duration, Instant};

use casebook::config::Limits;
use casebook::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) use events::EventStream;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDb, problem};

backend_tests!(
    a_stream_sees_the_json_of_a_completion_made_through_another_connection_within_a_second,
    every_kind_of_change_sends_one_session_event,
    a_client_reconnecting_with_last_event_id_is_sent_what_it_missed,
    a_client_reconnecting_after_a_busy_spell_is_sent_what_it_missed,
    a_change_after_the_newest_session_is_deleted_reaches_the_stream,
    a_last_event_id_the_server_never_issued_tells_the_client_to_reload,
    streams_past_the_limit_are_refused_with_503_and_counted,
    a_stream_outlives_the_request_timeout_and_leaves_the_concurrency_limit_free,
);

async fn a_stream_sees_the_json_of_a_completion_made_through_another_connection_within_a_second(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_active("Printer offline").await;
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;

    let erin = app.client_as("erin", Role::Admin).await;
    let started = Instant::now();
    let response = erin
        .post(app.url(&format!("/api/sessions/{id}/complete")))
        .json(&json!({ "outcome": "resolved", "outcome_notes": "Driver reinstalled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let event = stream
        .next_session_where(Duration::from_secs(1), |s| {
            s["id"] == id.as_str() && s["status"] == "completed"
        })
        .await
        .expect("the completion reaches the stream within a second");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(event.id.is_some(), "every session event has an id");
    assert_eq!(
        event.json(),
        app.session(&id).await,
        "the same JSON as GET /api/sessions/{{id}}"
    );
    assert_eq!(event.json()["completed_by"], "erin");
}

async fn every_kind_of_change_sends_one_session_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    let session = app.create("Disk full", &["Check df"]).await;
    let id = session["id"].as_str().unwrap().to_string();
    let step = session["steps"][0]["id"].as_str().unwrap().to_string();
    let base = format!("/api/sessions/{id}");
    let changes = [
        ("/start".to_string(), Value::Null),
        ("/notes".to_string(), json!({ "text": "Found old logs" })),
        (
            format!("/steps/{step}/check"),
            json!({ "finding": "95% used" }),
        ),
        (format!("/steps/{step}/uncheck"), Value::Null),
        ("/complete".to_string(), json!({ "outcome": "resolved" })),
        ("/summary".to_string(), Value::Null),
        ("/reopen".to_string(), Value::Null),
    ];
    let mut last_id = event_seq(
        &stream
            .next_session_where(Duration::from_secs(5), |s| s["id"] == id.as_str())
            .await
            .expect("created"),
    );
    for (path, body) in changes {
        let url = format!("{base}{path}");
        let response = if body.is_null() {
            app.post(&url).await
        } else {
            app.post_json(&url, &body).await
        };
        assert!(
            response.status().is_success(),
            "POST {url}: {}",
            response.status()
        );
        let event = stream
            .next_session_where(Duration::from_secs(5), |s| s["id"] == id.as_str())
            .await
            .unwrap_or_else(|| panic!("an event after POST {path}"));
        assert_eq!(event.json(), app.session(&id).await, "after POST {path}");
        let seq = event_seq(&event);
        assert!(seq > last_id, "ids grow: {seq} after {last_id}");
        last_id = seq;
    }
    assert!(
        stream
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "one event per change, no more"
    );
}

fn event_seq(event: &events::SseEvent) -> i64 {
    event.id.as_deref().unwrap().parse().unwrap()
}

async fn a_client_reconnecting_with_last_event_id_is_sent_what_it_missed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    let seen = app.create("Seen live", &[]).await;
    let seen_id = seen["id"].as_str().unwrap().to_string();
    let last = stream
        .next_session_where(Duration::from_secs(5), |s| s["id"] == seen_id.as_str())
        .await
        .expect("the creation arrives")
        .id
        .unwrap();
    drop(stream);

    // Away: one session changes twice, another is created.
    app.start(&seen_id).await;
    app.post_json(
        &format!("/api/sessions/{seen_id}/complete"),
        &json!({ "outcome": "escalated" }),
    )
    .await;
    let missed = app.create("Created while away", &[]).await;
    let missed_id = missed["id"].as_str().unwrap();

    let mut again = EventStream::open(&app.client, &app.url("/api/stream"), Some(&last)).await;
    let mut replayed = Vec::new();
    while let Some(event) = again.next_within(Duration::from_secs(2)).await {
        replayed.push(event);
    }
    let completed: Vec<_> = replayed
        .iter()
        .filter(|e| e.json()["id"] == seen_id.as_str())
        .collect();
    assert_eq!(completed.len(), 1, "each missed session once, as it is now");
    assert_eq!(completed[0].json(), app.session(&seen_id).await);
    assert_eq!(completed[0].json()["status"], "completed");
    let created = replayed
        .iter()
        .find(|e| e.json()["id"] == missed_id)
        .expect("the session created while away");
    assert_eq!(created.json(), app.session(missed_id).await);
    assert!(
        event_seq(replayed.last().unwrap()) > last.parse().unwrap(),
        "the replay ends at a change after the last one seen"
    );
}

/// On PostgreSQL the replay also looks back at places just before the last
/// one seen (one may have committed late); those must not crowd out the
/// changes after it.
async fn a_client_reconnecting_after_a_busy_spell_is_sent_what_it_missed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let busy = app.create_active("Busy").await;
    let path = format!("/api/sessions/{busy}/notes");
    for chunk in 0..30 {
        let bodies: Vec<Value> = (0..20)
            .map(|n| json!({ "text": format!("note {chunk}-{n}") }))
            .collect();
        let notes = bodies.iter().map(|body| app.post_json(&path, body));
        for response in futures::future::join_all(notes).await {
            assert_eq!(response.status(), StatusCode::CREATED);
        }
    }
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    let seen = app.create("Seen live", &[]).await;
    let last = stream
        .next_session_where(Duration::from_secs(5), |s| s["id"] == seen["id"])
        .await
        .expect("the creation arrives")
        .id
        .unwrap();
    let missed = app.create("Created while away", &[]).await;
    // Sent live before the client comes back: only the replay can bring it.
    stream
        .next_session_where(Duration::from_secs(5), |s| s["id"] == missed["id"])
        .await
        .expect("the creation is sent live");
    drop(stream);

    let mut again = EventStream::open(&app.client, &app.url("/api/stream"), Some(&last)).await;
    let mut replayed = Vec::new();
    while let Some(event) = again.next_within(Duration::from_secs(2)).await {
        replayed.push(event);
    }
    assert!(
        replayed.iter().any(|e| e.json()["id"] == missed["id"]),
        "the session created while away is replayed: {:?}",
        replayed
            .iter()
            .map(|e| e.json()["title"].clone())
            .collect::<Vec<_>>()
    );
}

async fn a_last_event_id_the_server_never_issued_tells_the_client_to_reload(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create("Something", &[]).await;
    for last in ["999999999", "not-a-number"] {
        let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), Some(last)).await;
        let event = stream
            .next_within(Duration::from_secs(5))
            .await
            .expect("an event");
        assert_eq!(event.event, "reload", "Last-Event-ID {last}");
        let id: i64 = event.id.as_deref().unwrap().parse().unwrap();
        assert!(id >= 1, "it says where to go on from");
    }
}

async fn streams_past_the_limit_are_refused_with_503_and_counted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn_with(db, |s| s.limits.max_streams = 2).await;
    let first = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    let _second = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    let refused = app.get("/api/stream").await;
    let body = problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["type"], "/problems/too-many-streams");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("casebook_streams_open 2"), "{metrics}");
    assert!(
        metrics.contains("casebook_streams_refused_total 1"),
        "{metrics}"
    );

    // A stream that ends gives its place back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = app.get("/api/stream").await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place is free again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_stream_outlives_the_request_timeout_and_leaves_the_concurrency_limit_free(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let limits = Limits {
        request_timeout: Duration::from_secs(1),
        max_concurrent_requests: 1,
        ..Limits::default()
    };
    let app = TestApp::spawn_with(db, |s| s.limits = limits).await;
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    // Past the timeout, with the one request slot free for others.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let id = app.create_active("Still streaming").await;
    let event = stream
        .next_session_where(Duration::from_secs(5), |s| {
            s["id"] == id.as_str() && s["status"] == "active"
        })
        .await;
    assert!(event.is_some(), "the stream is still open and live");
}

/// SQLite gives a new row one more than the largest rowid: deleting the
/// newest events must not hand their places, which streams have passed,
/// to the next change.
async fn a_change_after_the_newest_session_is_deleted_reaches_the_stream(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    let doomed = app.create("Deleted soon", &[]).await;
    stream
        .next_session_where(Duration::from_secs(5), |s| s["id"] == doomed["id"])
        .await
        .expect("the creation arrives");
    let id = doomed["id"].as_str().unwrap();
    let deleted = app
        .client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let after = app.create("Created after the deletion", &[]).await;
    assert!(
        stream
            .next_session_where(Duration::from_secs(3), |s| s["id"] == after["id"])
            .await
            .is_some(),
        "the session created after the deletion reaches the stream"
    );
}
