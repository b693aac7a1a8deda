//! Engineers racing to close one session, through one server or several.

use casebook::domain::Outcome;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every outcome's value, in the domain's order.
pub const OUTCOMES: [&str; 6] = {
    let all = Outcome::ALL;
    let mut values = [""; 6];
    let mut i = 0;
    while i < values.len() {
        values[i] = all[i].as_str();
        i += 1;
    }
    values
};

/// One answer of a race: its status, the outcome and notes it asked for,
/// and its body.
pub type Attempt = (StatusCode, &'static str, String, Value);

/// Sends `requests` completes at once, each through one of `servers`, with
/// different outcomes and notes.
pub async fn race_to_complete(
    client: &reqwest::Client,
    servers: &[String],
    id: &str,
    requests: usize,
) -> Vec<Attempt> {
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
            let status = response.status();
            let body = response.json().await.unwrap_or(Value::Null);
            (status, outcome, notes, body)
        }
    });
    join_all(attempts).await
}

/// Exactly one 200, every other a 409 that says how the session was closed
/// (the winner's outcome, by whom and when), and the stored closure and the
/// timeline are the winner's.
pub fn assert_one_winner(results: &[Attempt], stored: &Value, events: &Value) {
    let winners: Vec<_> = results.iter().filter(|r| r.0 == StatusCode::OK).collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    let (_, outcome, notes, _) = winners[0];
    assert_eq!(stored["outcome"], *outcome);
    assert_eq!(stored["outcome_notes"], *notes);
    let label = Outcome::parse(outcome).unwrap().label();
    for (status, _, _, body) in results.iter().filter(|r| r.0 != StatusCode::OK) {
        assert_eq!(
            *status,
            StatusCode::CONFLICT,
            "every loser gets 409: {body}"
        );
        assert_eq!(body["current_status"], "completed", "{body}");
        assert_eq!(body["outcome"], *outcome, "{body}");
        assert_eq!(body["outcome_label"], label, "{body}");
        assert_eq!(body["completed_by"], stored["completed_by"], "{body}");
        assert_eq!(body["completed_at"], stored["completed_at"], "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("closed as {label}")), "{detail}");
    }
    let completions: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "completed")
        .collect();
    assert_eq!(completions.len(), 1, "one completion in the timeline");
    assert_eq!(completions[0]["outcome"], *outcome);
}
