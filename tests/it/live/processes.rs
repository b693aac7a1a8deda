//! On PostgreSQL, changes reach the streams of every process through the
//! database (LISTEN/NOTIFY), and a lost listening connection comes back.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use super::EventStream;
use crate::helpers::{Backend, TestApp, TwoProcesses, get_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_process_reaches_a_stream_on_another() {
    // The database first, so that it is dropped after the servers.
    let TwoProcesses {
        db: _db,
        servers: [a, b],
        client,
    } = TwoProcesses::start().await;
    let mut on_b = EventStream::open(&client, &format!("{}/api/stream", b.base_url), None).await;

    let created: Value = client
        .post(format!("{}/api/sessions", a.base_url))
        .json(&json!({ "title": "VPN drops every hour", "start": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let completed = client
        .post(format!("{}/api/sessions/{id}/complete", a.base_url))
        .json(&json!({ "outcome": "workaround" }))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::OK);

    let event = on_b
        .next_session_where(Duration::from_secs(2), |s| {
            s["id"] == id && s["status"] == "completed"
        })
        .await
        .expect("B's stream hears of A's completion");
    let seen_from_b = get_json(&client, &format!("{}/api/sessions/{id}", b.base_url)).await;
    assert_eq!(event.json(), seen_from_b);

    // The id means the same to every process: reconnecting to A with B's
    // last id replays only what came after.
    let last = event.id.unwrap();
    let later: Value = client
        .post(format!("{}/api/sessions", b.base_url))
        .json(&json!({ "title": "After the switch" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut on_a =
        EventStream::open(&client, &format!("{}/api/stream", a.base_url), Some(&last)).await;
    let replayed = on_a
        .next_session_where(Duration::from_secs(2), |s| s["id"] == later["id"])
        .await;
    assert!(replayed.is_some(), "A replays the change made through B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_listening_connection_is_reported_and_reopened_by_itself() {
    let (app, mut stream, id) = streaming_after_a_change("Listener goes away").await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    let mut admin = sqlx::PgConnection::connect(&app.db().url).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and query like 'LISTEN%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(terminated, [true], "one listening connection, terminated");

    // It says so while it reconnects...
    let lost = wait_until(Duration::from_secs(5), || async {
        let response = app.get("/readyz").await;
        (response.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;
    assert!(lost.is_some(), "/readyz reports the lost listener");
    // ...a change made meanwhile is not lost...
    let completed = app.complete(&id, "resolved", None).await;
    assert_eq!(completed.status(), StatusCode::OK);
    // ...and it recovers without a restart.
    let back = wait_until(Duration::from_secs(10), || async {
        (app.get("/readyz").await.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(back.is_some(), "/readyz is ready again");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("casebook_change_listener_connected 1"),
        "{metrics}"
    );
    let event = stream
        .next_session_where(Duration::from_secs(5), |s| {
            s["id"] == id.as_str() && s["status"] == "completed"
        })
        .await;
    assert!(event.is_some(), "the change reaches the open stream");
    let later = app.create("After the reconnection", &[]).await;
    let event = stream
        .next_session_where(Duration::from_secs(5), |s| s["id"] == later["id"])
        .await;
    assert!(event.is_some(), "later changes arrive as before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_commits_after_a_later_one_still_reaches_the_stream() {
    let (app, mut stream, id) = streaming_after_a_change("Committed late").await;

    // Another tool's transaction takes the timeline's next place and stays
    // open while a later change commits and is announced...
    let mut tool = sqlx::PgConnection::connect(&app.db().url).await.unwrap();
    let mut late = tool.begin().await.unwrap();
    sqlx::query("update sessions set title = 'Renamed by a slow tool' where id = $1::uuid")
        .bind(&id)
        .execute(&mut *late)
        .await
        .unwrap();
    sqlx::query(
        "insert into session_events (id, session_id, at, actor, kind, via, data) \
         select gen_random_uuid(), session_id, now(), actor, kind, via, data \
         from session_events where session_id = $1::uuid limit 1",
    )
    .bind(&id)
    .execute(&mut *late)
    .await
    .unwrap();
    let later = app.create("Committed first", &[]).await;
    assert!(
        stream
            .next_session_where(Duration::from_secs(5), |s| s["id"] == later["id"])
            .await
            .is_some()
    );

    // ...then commits, announcing nothing: the feed looks at the place it
    // found empty again, and the change reaches the stream all the same.
    late.commit().await.unwrap();
    let event = stream
        .next_session_where(Duration::from_secs(5), |s| {
            s["id"] == id.as_str() && s["title"] == "Renamed by a slow tool"
        })
        .await;
    assert!(event.is_some(), "the late change reaches the open stream");
}

/// A PostgreSQL server with a stream open that has already seen one change
/// (an active session titled `title`, whose id comes back): its listener
/// is up and its feed is following.
async fn streaming_after_a_change(title: &str) -> (TestApp, EventStream, String) {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;
    let id = app.create_active(title).await;
    assert!(
        stream
            .next_session_where(Duration::from_secs(5), |s| s["id"] == id.as_str())
            .await
            .is_some(),
        "the stream sees the first change"
    );
    (app, stream, id)
}

async fn wait_until<T, F: std::future::Future<Output = Option<T>>>(
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(found) = check().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
