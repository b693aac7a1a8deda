//! Races across two `casebook` processes on one PostgreSQL: whatever the
//! interleaving, every answer agrees with the stored session and its
//! timeline, and each transition has exactly one winner.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{OUTCOMES, TwoProcesses};

const REQUESTS: usize = 32;

impl TwoProcesses {
    /// The base URL of the server request `i` goes to: alternating.
    fn base(&self, i: usize) -> &str {
        &self.servers[i % 2].base_url
    }

    async fn create(&self, start: bool) -> String {
        let created: Value = self
            .client
            .post(format!("{}/api/sessions", self.base(0)))
            .json(&json!({ "title": "Raced by two processes", "start": start }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["id"].as_str().unwrap().to_string()
    }

    async fn post(&self, i: usize, path: String, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base(i)));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The stored session (from one process) and its timeline kinds (from the other).
    async fn stored(&self, id: &str) -> (Value, Vec<Value>) {
        let get = |i: usize, path: String| {
            let request = self.client.get(format!("{}{path}", self.base(i)));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        let session = get(0, format!("/api/sessions/{id}")).await;
        let events = get(1, format!("/api/sessions/{id}/events")).await;
        (session, events["items"].as_array().unwrap().clone())
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

fn count(results: &[(StatusCode, Value)], status: StatusCode) -> usize {
    results.iter().filter(|r| r.0 == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_against_start_across_two_processes_has_exactly_one_winner() {
    let two = TwoProcesses::start().await;
    let id = two.create(false).await;
    let results =
        join_all((0..REQUESTS).map(|i| two.post(i, format!("/api/sessions/{id}/start"), None)))
            .await;
    assert_eq!(count(&results, StatusCode::OK), 1, "{results:?}");
    assert_eq!(count(&results, StatusCode::CONFLICT), REQUESTS - 1);
    let (session, events) = two.stored(&id).await;
    assert_eq!(session["status"], "active");
    let winner = results.iter().find(|r| r.0 == StatusCode::OK).unwrap();
    assert_eq!(winner.1["started_at"], session["started_at"]);
    for (_, body) in results.iter().filter(|r| r.0 == StatusCode::CONFLICT) {
        assert_eq!(body["current_status"], "active", "the 409 says why: {body}");
        assert_eq!(body["session_id"], session["id"], "{body}");
    }
    assert_eq!(kinds(&events), ["created", "started"]);
    println!(
        "start vs start: {REQUESTS} requests over two processes, 1 won, {} got 409",
        REQUESTS - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_against_complete_across_two_processes_keeps_answers_and_timeline_in_step() {
    let two = TwoProcesses::start().await;
    let id = two.create(true).await;
    // Half the requests complete, half reopen, interleaved over both processes.
    let results = join_all((0..REQUESTS).map(|i| {
        if i % 4 < 2 {
            let body = json!({ "outcome": OUTCOMES[i % 6], "outcome_notes": format!("try {i}") });
            two.post(i, format!("/api/sessions/{id}/complete"), Some(body))
        } else {
            two.post(i, format!("/api/sessions/{id}/reopen"), None)
        }
    }))
    .await;
    for (status, _) in &results {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::CONFLICT,
            "{results:?}"
        );
    }
    let won = |path_kind: usize| {
        results
            .iter()
            .enumerate()
            .filter(|(i, r)| i % 4 / 2 == path_kind && r.0 == StatusCode::OK)
            .count()
    };
    let (completes_won, reopens_won) = (won(0), won(1));
    assert!(completes_won >= 1, "the active session was closed once");
    // Each 409 says how the session stood when it was read again: closed
    // (as one of the winning completes chose, by dana, with the time) or
    // active, with no closure.
    let won_outcomes: Vec<&Value> = results
        .iter()
        .filter(|(status, body)| *status == StatusCode::OK && body["status"] == "completed")
        .map(|(_, body)| &body["outcome"])
        .collect();
    for (_, body) in results.iter().filter(|r| r.0 == StatusCode::CONFLICT) {
        match body["current_status"].as_str() {
            Some("completed") => {
                assert!(won_outcomes.contains(&&body["outcome"]), "{body}");
                assert_eq!(body["completed_by"], "dana", "{body}");
                assert!(body["completed_at"].is_string(), "{body}");
            }
            Some("active") => assert!(body.get("outcome").is_none(), "{body}"),
            _ => panic!("a 409 that does not say how the session stands: {body}"),
        }
    }

    let (session, events) = two.stored(&id).await;
    let kinds = kinds(&events);
    // Each transition had exactly one winner: the timeline alternates, and
    // has one event per 200.
    assert_eq!(kinds[..2], ["created", "started"]);
    for (n, kind) in kinds[2..].iter().enumerate() {
        let expected = if n % 2 == 0 { "completed" } else { "reopened" };
        assert_eq!(*kind, expected, "{kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == "completed").count(),
        completes_won
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "reopened").count(),
        reopens_won
    );
    println!(
        "reopen vs complete: {REQUESTS} requests over two processes, {completes_won} completes and \
         {reopens_won} reopens won, the rest 409; timeline in step"
    );
    // The stored session is what the last event says.
    let last = events.last().unwrap();
    if last["kind"] == "completed" {
        assert_eq!(session["status"], "completed");
        assert_eq!(session["outcome"], last["outcome"]);
        assert_eq!(session["outcome_notes"], last["outcome_notes"]);
    } else {
        assert_eq!(session["status"], "active");
        assert_eq!(session["outcome"], Value::Null);
        assert_eq!(session["completed_at"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_against_summary_across_two_processes_never_summarizes_an_open_session() {
    let two = TwoProcesses::start().await;
    let id = two.create(true).await;
    // Completes and summary requests at once: a summary needs a completed
    // session, so it wins only after the (single) completion.
    let results = join_all((0..REQUESTS).map(|i| {
        if i % 2 == 0 {
            let body = json!({ "outcome": OUTCOMES[i % 6], "outcome_notes": format!("try {i}") });
            two.post(i, format!("/api/sessions/{id}/complete"), Some(body))
        } else {
            two.post(i, format!("/api/sessions/{id}/summary"), None)
        }
    }))
    .await;
    let (completes, summaries): (Vec<_>, Vec<_>) =
        results.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let ok = |list: &[(usize, &(StatusCode, Value))]| {
        list.iter().filter(|(_, r)| r.0 == StatusCode::OK).count()
    };
    assert_eq!(ok(&completes), 1, "exactly one completion: {results:?}");
    for (_, (status, body)) in &summaries {
        match *status {
            StatusCode::OK => assert_eq!(body["status"], "completed"),
            StatusCode::CONFLICT => assert_eq!(body["current_status"], "active"),
            other => panic!("a summary answered {other}: {body}"),
        }
    }
    let winner = &completes
        .iter()
        .find(|(_, r)| r.0 == StatusCode::OK)
        .unwrap()
        .1
        .1;
    for (_, (status, body)) in &completes {
        if *status == StatusCode::CONFLICT {
            assert_eq!(body["current_status"], "completed", "{body}");
            assert_eq!(body["outcome"], winner["outcome"], "{body}");
            assert_eq!(body["completed_by"], "dana", "{body}");
            assert_eq!(body["completed_at"], winner["completed_at"], "{body}");
        }
    }

    let (session, events) = two.stored(&id).await;
    let kinds = kinds(&events);
    let summaries_won = ok(&summaries);
    assert_eq!(kinds[..3], ["created", "started", "completed"], "{kinds:?}");
    assert!(kinds[3..].iter().all(|k| *k == "summary_generated"));
    assert_eq!(
        kinds.len() - 3,
        summaries_won,
        "one event per summary written"
    );
    assert_eq!(session["outcome"], winner["outcome"]);
    assert_eq!(events[2]["outcome"], winner["outcome"]);
    println!(
        "complete vs summary: {REQUESTS} requests over two processes, 1 completion won, \
         {summaries_won} of {} summaries written after it, the rest 409",
        summaries.len()
    );
    match events.last().filter(|e| e["kind"] == "summary_generated") {
        Some(last) => assert_eq!(session["summary"], last["summary"]),
        None => assert_eq!(session["summary"], Value::Null),
    }
}
