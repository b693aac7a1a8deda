//! Nothing acknowledged is lost: completions answered 200 survive a SIGKILL
//! of the server in the middle of a burst, and no session is left
//! half-completed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, OUTCOMES, ServerProcess, TestDb, bearer_client, cli_token};

backend_tests!(completions_acknowledged_before_a_sigkill_are_all_there_after_a_restart);

const SESSIONS: usize = 120;
const WORKERS: usize = 8;
/// The server is killed once this many completions have been acknowledged.
const KILL_AFTER: usize = 30;

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

async fn completions_acknowledged_before_a_sigkill_are_all_there_after_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let database = ["--database-url", db.url.as_str()];
    let client = bearer_client(&cli_token(&database).await);
    let server = ServerProcess::start(&database, &[]).await;
    let base = server.base_url.clone();

    let mut ids = Vec::new();
    for i in 0..SESSIONS {
        let created: Value = client
            .post(format!("{base}/api/sessions"))
            .json(&json!({ "title": format!("Durable {i}"), "start": true }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let ids = Arc::new(ids);

    // Workers complete the sessions, each its own share; the main task kills
    // the server once enough completions are acknowledged.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let workers = (0..WORKERS).map(|w| {
        let (client, base, ids, acknowledged) = (
            client.clone(),
            base.clone(),
            ids.clone(),
            acknowledged.clone(),
        );
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in (w..SESSIONS).step_by(WORKERS) {
                let body = json!({
                    "outcome": OUTCOMES[i % OUTCOMES.len()],
                    "outcome_notes": format!("durable notes {i}"),
                });
                let sent = client
                    .post(format!("{base}/api/sessions/{}/complete", ids[i]))
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::OK => {
                        // Acknowledged only once the whole answer is in.
                        if response.json::<Value>().await.is_ok() {
                            acknowledged.fetch_add(1, Ordering::SeqCst);
                            acked.push(i);
                        }
                    }
                    Ok(response) => panic!("complete answered {}", response.status()),
                    // The server is gone: nothing more to send.
                    Err(_) => break,
                }
            }
            acked
        })
    });
    let workers: Vec<_> = workers.collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "completions are acknowledged");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill().await;
    let acked: Vec<usize> = join_all(workers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    assert!(
        acked.len() < SESSIONS,
        "the kill came in the middle of the run"
    );

    let again = ServerProcess::start(&database, &[]).await;
    let base = again.base_url.clone();
    let mut lost = 0;
    let mut stored_unacknowledged = 0;
    for (i, id) in ids.iter().enumerate() {
        let session = get_json(&client, format!("{base}/api/sessions/{id}")).await;
        let events = get_json(&client, format!("{base}/api/sessions/{id}/events")).await;
        let completions: Vec<&Value> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "completed")
            .collect();
        let completed = session["status"] == "completed";
        // Status, closing fields and timeline agree, whatever happened.
        assert_eq!(completed, !session["completed_at"].is_null(), "{session}");
        assert_eq!(completed, !session["outcome"].is_null(), "{session}");
        assert_eq!(completed, !session["completed_by"].is_null(), "{session}");
        assert_eq!(completions.len(), usize::from(completed), "{events}");
        if completed {
            let outcome = OUTCOMES[i % OUTCOMES.len()];
            let notes = format!("durable notes {i}");
            assert_eq!(session["outcome"], outcome);
            assert_eq!(session["outcome_notes"], notes.as_str());
            assert_eq!(completions[0]["outcome"], outcome);
            assert_eq!(completions[0]["outcome_notes"], notes.as_str());
        } else {
            assert_eq!(session["status"], "active", "{session}");
            assert_eq!(session["outcome_notes"], Value::Null);
        }
        match (acked.contains(&i), completed) {
            (true, false) => lost += 1,
            (false, true) => stored_unacknowledged += 1,
            _ => {}
        }
    }
    println!(
        "durability on {backend:?}: {SESSIONS} sessions, {} completions acknowledged before SIGKILL, \
         {lost} lost, {stored_unacknowledged} in flight at the kill and stored",
        acked.len()
    );
    assert_eq!(lost, 0, "an acknowledged completion was lost");
}
