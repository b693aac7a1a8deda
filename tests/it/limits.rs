//! Limits: a request that takes too long, more requests than the server
//! takes at once, and clients that trickle their headers all get a clear,
//! quick answer, and the server keeps serving everyone else.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use casebook::config::Limits;
use casebook::summary::OpenAiSettings;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, Behaviour, TestApp, TestDb, fake_llm, problem};

async fn app_with(limits: Limits, llm_url: Option<String>) -> TestApp {
    TestApp::spawn_with(TestDb::new(Backend::Sqlite).await, |settings| {
        settings.limits = limits;
        settings.llm = llm_url.map(|base_url| OpenAiSettings {
            base_url,
            model: "casebook-test".into(),
            api_key: None,
            timeout: Duration::from_secs(120),
        });
    })
    .await
}

async fn completed_session(app: &TestApp) -> String {
    let id = app.create_active("Held by the model").await;
    assert_eq!(
        app.complete(&id, "resolved", None).await.status(),
        StatusCode::OK
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_gets_503_problem_json_and_changes_nothing() {
    let (llm_url, seen) = fake_llm(Behaviour::Hang).await;
    let limits = Limits {
        request_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let app = app_with(limits, Some(llm_url)).await;
    let id = completed_session(&app).await;

    let started = Instant::now();
    let body = problem(
        app.post(&format!("/api/sessions/{id}/summary")).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    let took = started.elapsed();
    assert_eq!(body["type"], "/problems/timeout");
    assert_eq!(seen.lock().unwrap().len(), 1, "the model was asked");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "answered at the timeout, not before and not much after: {took:?}"
    );
    assert_eq!(app.session(&id).await["summary"], Value::Null);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_limit_requests_are_shed_with_503_and_retry_after() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let (llm_url, seen) = fake_llm(Behaviour::AnswerWhenReleased(gate.clone())).await;
    let limits = Limits {
        max_concurrent_requests: 2,
        ..Limits::default()
    };
    let app = app_with(limits, Some(llm_url)).await;
    let ids = [completed_session(&app).await, completed_session(&app).await];

    // Two summaries wait on the model: the server is at its limit.
    let held: Vec<_> = ids
        .iter()
        .map(|id| {
            let (client, url) = (
                app.client.clone(),
                app.url(&format!("/api/sessions/{id}/summary")),
            );
            tokio::spawn(async move { client.post(url).send().await.unwrap().status() })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "both summaries reach the model");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut shed = 0;
    for path in ["/api/sessions", "/sessions", "/healthz"] {
        let started = Instant::now();
        let response = app.get(path).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "refused at once, not queued"
        );
        assert_eq!(response.headers()["retry-after"], "1");
        let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["type"], "/problems/overloaded");
        shed += 1;
    }
    println!("load shedding: limit 2, 2 requests held, {shed} more refused with 503");

    // Once the held requests finish, the server takes requests again.
    gate.notify_waiters();
    for request in held {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(app.get("/api/sessions").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_sending_headers_a_byte_a_second_starve_no_one_and_are_cut_off() {
    const SLOW_CLIENTS: usize = 200;
    let limits = Limits {
        // Longer than the bound on normal requests below, so that bound
        // shows they were not merely served after the slow clients were cut off.
        header_read_timeout: Duration::from_secs(6),
        ..Limits::default()
    };
    let app = app_with(limits, None).await;
    let addr = app.addr;

    // Each slow client trickles a request line and headers that never end,
    // and notes when the server hangs up on it.
    let connected = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| {
            let connected = connected.clone();
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connects");
                connected.fetch_add(1, Ordering::SeqCst);
                let (mut read, mut write) = stream.into_split();
                let trickle = async move {
                    for byte in b"GET /healthz HTTP/1.1\r\nHost: casebook\r\nX-Slow: "
                        .iter()
                        .cycle()
                    {
                        if write.write_all(&[*byte]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                };
                let hung_up = async move {
                    let mut buffer = [0u8; 1024];
                    // Whatever the server says (a 408 or nothing), it ends with EOF.
                    while let Ok(n) = read.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                    }
                };
                tokio::select! {
                    () = hung_up => Some(Instant::now()),
                    () = trickle => None,
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while connected.load(Ordering::SeqCst) < SLOW_CLIENTS {
        assert!(Instant::now() < deadline, "all slow clients connect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Meanwhile everyone else is served promptly.
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let asked = Instant::now();
        let response = if i % 2 == 0 {
            app.get("/api/sessions").await
        } else {
            app.get("/sessions").await
        };
        assert_eq!(response.status(), StatusCode::OK);
        slowest = slowest.max(asked.elapsed());
    }
    // Generous for a loaded machine; unstarved, they take milliseconds.
    assert!(
        slowest < Duration::from_secs(4),
        "normal requests wait behind slow clients: {slowest:?}"
    );

    let mut cut_off = Vec::new();
    for client in slow {
        let hung_up = tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("the server hangs up on a slow client")
            .unwrap()
            .expect("the server hangs up");
        cut_off.push(hung_up.duration_since(started));
    }
    let last = cut_off.iter().max().unwrap();
    assert!(
        *last < Duration::from_secs(25),
        "slow clients are cut off near the 6 s header timeout: {last:?}"
    );
    println!(
        "slow clients: {SLOW_CLIENTS} held open, 20 normal requests answered (slowest {slowest:?}), \
         every slow client cut off within {last:?}"
    );
}
