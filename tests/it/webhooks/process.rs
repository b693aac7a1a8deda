//! The `casebook` binary: `casebook webhook …`, deliveries that survive a
//! SIGKILL, and two processes on one PostgreSQL that send each delivery once.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::receiver::{Answer, Receiver};
use crate::backend_tests;
use crate::helpers::{
    Backend, Run, ServerProcess, TestDb, bearer_client, casebook, cli_token, eventually,
};

backend_tests!(a_delivery_survives_a_sigkill_between_the_change_and_its_delivery);

const WITHIN: Duration = Duration::from_secs(30);

/// Runs `casebook <args> --database-url <database_url>`.
async fn webhook_cli(args: &[&str], database_url: &str) -> Run {
    casebook(&[args, &["--database-url", database_url]].concat()).await
}

/// `casebook webhook add`: returns the webhook's id and its secret.
async fn add_webhook(url: &str, events: &str, database_url: &str) -> (String, String) {
    let added = webhook_cli(&["webhook", "add", url, "--events", events], database_url).await;
    let secret = added.succeeded().trim().to_string();
    assert!(
        secret.starts_with("whsec_"),
        "only the secret on stdout: {secret}"
    );
    let listed = webhook_cli(&["webhook", "list"], database_url)
        .await
        .succeeded()
        .to_string();
    let row = listed.lines().find(|l| l.ends_with(url)).expect("listed");
    assert!(
        row.contains("active") && !listed.contains(&secret),
        "{listed}"
    );
    (row.split_whitespace().next().unwrap().to_string(), secret)
}

/// `casebook serve` on `database_url`, quick to retry a delivery.
async fn spawn_server(database_url: &str) -> ServerProcess {
    let args = [
        "--database-url",
        database_url,
        "--webhook-timeout",
        "2s",
        "--webhook-retry-base",
        "100ms",
        "--webhook-poll-interval",
        "50ms",
    ];
    ServerProcess::start(&args, &[]).await
}

async fn token(database_url: &str) -> reqwest::Client {
    bearer_client(&cli_token(&["--database-url", database_url]).await)
}

async fn create_active(client: &reqwest::Client, base: &str, title: &str) -> String {
    let created: Value = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({ "title": title, "start": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_string()
}

async fn complete(client: &reqwest::Client, base: &str, id: &str) {
    let response = client
        .post(format!("{base}/api/sessions/{id}/complete"))
        .json(&json!({ "outcome": "resolved" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn a_delivery_survives_a_sigkill_between_the_change_and_its_delivery(backend: Backend) {
    let db = TestDb::new(backend).await;
    let client = token(&db.url).await;
    let refused = webhook_cli(&["webhook", "add", "ftp://example.com/x"], &db.url).await;
    let why = refused.refused();
    assert!(why.contains("must start with http:// or https://"), "{why}");

    let receiver = Receiver::start(Answer::Hang).await;
    let (webhook, secret) = add_webhook(&receiver.url, "completed", &db.url).await;
    let server = spawn_server(&db.url).await;
    let id = create_active(&client, &server.base_url, "Killed mid-delivery").await;
    complete(&client, &server.base_url, &id).await;

    // The change is committed and its delivery is on the wire, unanswered.
    let first = receiver.wait_for(1, WITHIN).await.remove(0);
    server.kill().await;
    receiver.answer(Answer::Ok);

    let _restarted = spawn_server(&db.url).await;
    let received = receiver.wait_for(2, WITHIN).await;
    let again = &received[1];
    assert_eq!(again.delivery, first.delivery, "the same delivery");
    assert_eq!(again.body, first.body);
    assert!(again.signed_with(&secret));
    assert_eq!(again.json()["session"]["status"], "completed");

    // The listing shows it delivered, with the answer and the attempts.
    let row = eventually("the delivery listed as delivered", || async {
        let listed = webhook_cli(&["webhook", "deliveries", &webhook], &db.url).await;
        let listed = listed.succeeded();
        listed
            .lines()
            .find(|l| l.starts_with(&first.delivery) && l.contains("delivered"))
            .map(str::to_string)
    })
    .await;
    assert!(row.contains("completed") && row.contains("200"), "{row}");
    webhook_cli(&["webhook", "disable", &webhook], &db.url)
        .await
        .succeeded();
    let listed = webhook_cli(&["webhook", "list"], &db.url)
        .await
        .succeeded()
        .to_string();
    assert!(listed.contains("disabled"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_send_each_delivery_once() {
    const SESSIONS: usize = 20;
    let db = TestDb::new(Backend::Postgres).await;
    let client = token(&db.url).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let (webhook, _) = add_webhook(&receiver.url, "completed", &db.url).await;
    let servers = [spawn_server(&db.url).await, spawn_server(&db.url).await];

    for i in 0..SESSIONS {
        let base = &servers[i % 2].base_url;
        let id = create_active(&client, base, &format!("Shared {i}")).await;
        complete(&client, &servers[(i + 1) % 2].base_url, &id).await;
    }
    receiver.wait_for(SESSIONS, WITHIN).await;

    // Once every delivery is recorded as delivered, none can be sent again.
    eventually("every delivery listed as delivered", || async {
        let listed = webhook_cli(&["webhook", "deliveries", &webhook], &db.url).await;
        let delivered = listed
            .succeeded()
            .lines()
            .filter(|l| l.contains(" delivered "))
            .count();
        (delivered == SESSIONS).then_some(())
    })
    .await;
    let received = receiver.received();
    let ids: HashSet<&str> = received.iter().map(|r| r.delivery.as_str()).collect();
    assert_eq!(ids.len(), SESSIONS);
    assert_eq!(received.len(), SESSIONS, "no delivery was sent twice");
}
