//! The `casebook` binary as an operator runs it: configuration, bound
//! address in the logs, migrations, graceful shutdown, several processes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{
    Backend, Behaviour, PASSWORD, ServerProcess, TestDb, TwoProcesses, assert_one_winner,
    bearer_client, casebook, cli_token, cookie_of, eventually, fake_llm, get_json, page,
    race_to_complete, sign_in,
};

backend_tests!(migrate_creates_the_schema_and_exits);

#[tokio::test]
async fn serve_uses_the_data_dir_from_the_environment_logs_json_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/data");
    let data_dir = data_dir.to_str().unwrap();
    let client = bearer_client(&cli_token(&["--data-dir", data_dir]).await);
    let server = ServerProcess::start(&[], &[("CASEBOOK_DATA_DIR", data_dir)]).await;
    let created = client
        .post(format!("{}/api/sessions", server.base_url))
        .json(&json!({ "title": "Survives a restart" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(
        Path::new(data_dir).join("casebook.db").exists(),
        "the SQLite file lives in the data dir"
    );

    let logs = server.logs.clone();
    let status = server.terminate().await;
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    {
        let logs = logs.lock().unwrap();
        let request_line = logs
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|l| l["span"].clone())
            .find(|span| span["route"] == "/api/sessions")
            .expect("a JSON log line per request");
        assert_eq!(request_line["status"], 201);
        assert_eq!(request_line["method"], "POST");
        assert!(request_line["latency_ms"].is_number());
        assert!(logs.iter().any(|l| l.contains("casebook stopped")));
    }

    // The same data dir serves the same data after the restart.
    let again = ServerProcess::start(&["--data-dir", data_dir], &[]).await;
    let list = get_json(&client, &format!("{}/api/sessions", again.base_url)).await;
    assert_eq!(list["items"][0]["title"], "Survives a restart");
}

async fn migrate_creates_the_schema_and_exits(backend: Backend) {
    let db = TestDb::new(backend).await;
    casebook(&["migrate", "--database-url", &db.url])
        .await
        .succeeded();
    async fn count(db: &TestDb, table: &str) -> Vec<String> {
        db.strings(&format!("select cast(count(*) as text) from {table}"))
            .await
    }
    for table in ["sessions", "session_events", "users"] {
        assert_eq!(count(&db, table).await, ["0"], "{table} exists, empty");
    }
    let applied = count(&db, "_sqlx_migrations").await;
    assert_ne!(applied, ["0"], "the migrations are recorded");
    if backend == Backend::Sqlite {
        let mode: String = db
            .sqlite()
            .query_row("pragma journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal", "the SQLite file is in WAL mode");
    }
    // Again: nothing left to apply.
    casebook(&["migrate", "--database-url", &db.url])
        .await
        .succeeded();
    assert_eq!(count(&db, "_sqlx_migrations").await, applied);

    let bad = casebook(&["migrate", "--database-url", "mysql://nope"]).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("unsupported database URL"), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_race_to_exactly_one_winner() {
    // The database first, so that it is dropped after the servers.
    let TwoProcesses {
        db: _db,
        servers: [a, b],
        client,
    } = TwoProcesses::start().await;
    let created: Value = client
        .post(format!("{}/api/sessions", a.base_url))
        .json(&json!({ "title": "Shared by two processes", "start": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["status"], "active");
    let listed_by_b = async || -> Value {
        let list = get_json(&client, &format!("{}/api/sessions", b.base_url)).await;
        list["items"][0].clone()
    };
    assert_eq!(listed_by_b().await["status"], "active");

    let servers = [a.base_url.clone(), b.base_url.clone()];
    let results = race_to_complete(&client, &servers, id, 64).await;
    let stored = get_json(&client, &format!("{}/api/sessions/{id}", b.base_url)).await;
    let events = get_json(&client, &format!("{}/api/sessions/{id}/events", a.base_url)).await;
    assert_one_winner(&results, &stored, &events);
    assert_eq!(
        listed_by_b().await,
        stored,
        "a process's list shows what another process changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_but_lets_an_in_flight_request_finish() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let (llm_url, seen) = fake_llm(Behaviour::AnswerWhenReleased(gate.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = ["--data-dir", dir.path().to_str().unwrap()];
    let client = bearer_client(&cli_token(&data_dir).await);
    let server = ServerProcess::start(
        &data_dir,
        &[
            ("CASEBOOK_LLM_URL", &llm_url),
            ("CASEBOOK_LLM_MODEL", "casebook-test"),
        ],
    )
    .await;
    let base = server.base_url.clone();
    let created: Value = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({ "title": "Summarized during shutdown", "start": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let completed = client
        .post(format!("{base}/api/sessions/{id}/complete"))
        .json(&json!({ "outcome": "resolved" }))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::OK);

    // A summary request is in flight once the model has received it.
    let in_flight = tokio::spawn({
        let (client, base, id) = (client.clone(), base.clone(), id.clone());
        async move {
            client
                .post(format!("{base}/api/sessions/{id}/summary"))
                .send()
                .await
        }
    });
    eventually("the model to receive the summary request", || async {
        (!seen.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    server.send_sigterm();
    server
        .log_line(Duration::from_secs(10), |l| {
            l.contains("shutting down").then_some(())
        })
        .await
        .expect("the server logs that it is shutting down");

    // New connections are refused (soon after the log line) while the old
    // request is still open.
    eventually("new connections to be refused", || async {
        let fresh = reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await;
        fresh.is_err().then_some(())
    })
    .await;
    assert!(
        !in_flight.is_finished(),
        "the in-flight request is still waiting"
    );

    gate.notify_one();
    let answer = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let session: Value = answer.json().await.unwrap();
    assert_eq!(
        session["summary"],
        "The VPN dropped hourly; a longer rekey timer works around it."
    );
    assert!(server.wait().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_prints_a_setup_link_that_creates_the_first_admin_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&["--data-dir", dir.path().to_str().unwrap()], &[]).await;
    let link = server
        .log_line(Duration::from_secs(30), |line| {
            let start = line.find("http://")?;
            line[start..]
                .contains("/setup?token=")
                .then(|| line[start..].trim().to_string())
        })
        .await
        .expect("serve prints the setup link");
    assert!(link.starts_with(&server.base_url));
    let logged_secret = server
        .logs
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with('{') && l.contains("token="));
    assert!(
        !logged_secret,
        "the link is printed for the operator, not logged"
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(&link).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(
        form.text()
            .await
            .unwrap()
            .contains("Create the first admin")
    );
    let token = link.split("token=").nth(1).unwrap().to_string();
    let setup = |username: &'static str| {
        client
            .post(format!("{}/setup", server.base_url))
            .form(&[
                ("token", token.as_str()),
                ("username", username),
                ("password", PASSWORD),
            ])
            .send()
    };
    let created = setup("admin").await.unwrap();
    assert_eq!(
        created.status(),
        StatusCode::SEE_OTHER,
        "signed in and on to the history page"
    );
    let (cookie, _) = cookie_of(&created);
    let account = page(&server, "/account", &cookie).await;
    assert!(account.text().await.unwrap().contains("(admin)"));

    assert_eq!(
        setup("intruder").await.unwrap().status(),
        StatusCode::GONE,
        "the link works once"
    );
    assert_eq!(
        client.get(&link).send().await.unwrap().status(),
        StatusCode::GONE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_cookie_value_reaches_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = ["--data-dir", dir.path().to_str().unwrap()];
    let token = cli_token(&data_dir).await;
    let server = ServerProcess::start(&data_dir, &[("RUST_LOG", "debug")]).await;
    let client = bearer_client(&token);
    let base = server.base_url.clone();
    // A request with the token, a sign-in with the password, one with the cookie.
    let created = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({ "title": "Logged carefully" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let signed_in = sign_in(&server, "dana", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let (cookie, _) = cookie_of(&signed_in);
    assert_eq!(
        page(&server, "/sessions", &cookie).await.status(),
        StatusCode::OK
    );
    let wrong = sign_in(&server, "dana", "hunter2-wrong-guess").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let session_id = cookie.split_once('=').unwrap().1.to_string();
    // Every line is in once the process has exited.
    let all_logs = server.logs.clone();
    assert!(server.terminate().await.success());
    let logs = all_logs.lock().unwrap().join("\n");
    assert!(logs.contains("/login"), "the requests were logged at all");
    for secret in [
        PASSWORD,
        "hunter2-wrong-guess",
        token.as_str(),
        session_id.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

/// The statements one request made: the SQLite store's statement log lines inside its
/// span, told apart by a request id of our own (the server keeps a given
/// `x-request-id`), so the late lines of earlier requests and the
/// background tasks' statements are never counted.
async fn queries_of_one_request(
    server: &ServerProcess,
    client: &reqwest::Client,
    path: &str,
) -> usize {
    let request_id = format!("count-{}", uuid::Uuid::now_v7());
    let response = client
        .get(format!("{}{path}", server.base_url))
        .header("x-request-id", &request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    let ours = format!("\"request_id\":\"{request_id}\"");
    let lines = eventually("the request's log lines", || async {
        let logs = server.logs.lock().unwrap();
        let mine: Vec<String> = logs.iter().filter(|l| l.contains(&ours)).cloned().collect();
        mine.iter()
            .any(|l| l.contains("\"finished\""))
            .then_some(mine)
    })
    .await;
    lines
        .iter()
        .filter(|l| {
            l.contains(&format!(
                "\"target\":\"{}\"",
                casebook::store::SQLITE_STATEMENT_LOG
            ))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_page_makes_as_many_queries_for_fifty_cards_as_for_ten() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = ["--data-dir", dir.path().to_str().unwrap()];
    let token = cli_token(&data_dir).await;
    let filter = format!("info,{}=debug", casebook::store::SQLITE_STATEMENT_LOG);
    let server = ServerProcess::start(&data_dir, &[("RUST_LOG", filter.as_str())]).await;
    let client = bearer_client(&token);
    let add_active = |n: usize| {
        let (client, base) = (client.clone(), server.base_url.clone());
        async move {
            for i in 0..n {
                let body = json!({ "title": format!("Session {i}"), "steps": ["a", "b", "c"], "start": true });
                let created = client
                    .post(format!("{base}/api/sessions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(created.status(), StatusCode::CREATED);
            }
        }
    };
    add_active(10).await;
    for _ in 0..3 {
        queries_of_one_request(&server, &client, "/sessions").await; // warm the pools
    }
    let at_ten = queries_of_one_request(&server, &client, "/sessions").await;
    add_active(40).await;
    let at_fifty = queries_of_one_request(&server, &client, "/sessions").await;
    let page: String = client
        .get(format!("{}/sessions", server.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("data-close").count(), 50, "fifty cards");
    assert!(at_ten > 0, "the statements are counted at all");
    assert_eq!(at_ten, at_fifty, "no query per card");
}

/// The operations settings as an operator sets them: from the environment.
#[tokio::test]
async fn metrics_token_and_auto_close_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = ServerProcess::start(
        &[],
        &[
            ("CASEBOOK_DATA_DIR", data_dir.to_str().unwrap()),
            ("CASEBOOK_METRICS_TOKEN", "scrape-4711"),
            ("CASEBOOK_AUTO_CLOSE_AFTER", "14d"),
        ],
    )
    .await;
    let announced = server
        .log_line(Duration::from_secs(30), |line| {
            line.contains("idle sessions close automatically")
                .then(|| line.to_string())
        })
        .await
        .expect("the policy is announced");
    assert!(announced.contains("14days"), "{announced}");
    let url = format!("{}/metrics", server.base_url);
    let client = reqwest::Client::new();
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // The policy's first run starts with the server.
    eventually("the first auto-close run in the metrics", || async {
        let text = client
            .get(&url)
            .bearer_auth("scrape-4711")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.contains("casebook_auto_close_runs_total 1")
            .then_some(())
    })
    .await;
    assert!(server.terminate().await.success());

    let refused = casebook(&["serve", "--auto-close-after", "soon"]).await;
    assert_ne!(refused.code, 0);
    let stderr = &refused.stderr;
    assert!(
        stderr.contains("--auto-close-after") && stderr.contains("14d"),
        "{stderr}"
    );
}
