//! Exactly one winner when engineers race to close the same session.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(sixty_four_concurrent_closes_of_one_session_have_exactly_one_winner);

pub const OUTCOMES: [&str; 6] = [
    "resolved",
    "escalated",
    "workaround",
    "unresolved",
    "cancelled",
    "resolved_externally",
];

/// Sends `requests` completes at once, each through one of `servers`, with
/// different outcomes and notes; returns (status, outcome, notes) per request.
pub async fn race_to_complete(
    client: &reqwest::Client,
    servers: &[String],
    id: &str,
    requests: usize,
) -> Vec<(StatusCode, &'static str, String)> {
    let attempts = (0..requests).map(|i| {
        let url = format!("{}/api/sessions/{id}/complete", servers[i % servers.len()]);
        let outcome = OUTCOMES[i % OUTCOMES.len()];
        let notes = format!("attempt {i}");
        async move {
            let response = client
                .post(url)
                .json(&json!({ "outcome": outcome, "outcome_notes": notes }))
                .send()
                .await
                .expect("the server answers");
            (response.status(), outcome, notes)
        }
    });
    join_all(attempts).await
}

/// Exactly one 200, every other a 409, and the stored closure is the winner's.
pub fn assert_one_winner(
    results: &[(StatusCode, &'static str, String)],
    stored: &Value,
    events: &Value,
) {
    let winners: Vec<_> = results.iter().filter(|r| r.0 == StatusCode::OK).collect();
    let conflicts = results
        .iter()
        .filter(|r| r.0 == StatusCode::CONFLICT)
        .count();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    assert_eq!(
        conflicts,
        results.len() - 1,
        "every loser gets 409: {results:?}"
    );
    let (_, outcome, notes) = winners[0];
    assert_eq!(stored["outcome"], *outcome);
    assert_eq!(stored["outcome_notes"], *notes);
    let completions: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "completed")
        .collect();
    assert_eq!(completions.len(), 1, "one completion in the timeline");
    assert_eq!(completions[0]["outcome"], *outcome);
}

async fn sixty_four_concurrent_closes_of_one_session_have_exactly_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_active("Everyone closes this").await;
    let results = race_to_complete(&app.client, &[app.url("")], &id, 64).await;
    let events: Value = app.events(&id).await;
    assert_one_winner(&results, &app.session(&id).await, &events);
}
