use casebook::domain::Outcome;
use reqwest::StatusCode;
use serde_json::json;

use super::sample;
use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDb, problem};

backend_tests!(requests_closures_and_sessions_show_in_the_metrics);

async fn scrape(app: &TestApp) -> String {
    let response = app
        .anonymous()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

async fn requests_closures_and_sessions_show_in_the_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = scrape(&app).await;
    let closures = |outcome: &str, surface: &str| {
        format!("casebook_session_closures_total{{outcome=\"{outcome}\",surface=\"{surface}\"}}")
    };
    // Every outcome and surface is there from the start, at zero.
    for outcome in Outcome::ALL {
        for surface in ["history", "workspace", "api", "system"] {
            let series = closures(outcome.as_str(), surface);
            assert_eq!(sample(&before, &series), Some(0.0), "{series}");
        }
    }

    let by_api = app.create_active("Disk full on db01").await;
    let by_workspace = app.create_active("VPN drops").await;
    let by_history = app.create_active("Printer jam").await;
    app.create_active("Still going").await;
    app.create("Not started", &[]).await;
    assert_eq!(
        app.complete(&by_api, "resolved", None).await.status(),
        StatusCode::OK
    );
    let response = app
        .client
        .post(app.url(&format!("/api/sessions/{by_workspace}/complete")))
        .header("casebook-via", "workspace")
        .json(&json!({ "outcome": "escalated" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .without_redirects()
        .post(app.url(&format!("/sessions/{by_history}/complete")))
        .form(&[
            ("outcome", "escalated"),
            ("next", "/sessions"),
            ("via", "history"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // A refused close counts as a request, not as a closure.
    assert_eq!(
        app.complete(&by_api, "resolved", None).await.status(),
        StatusCode::CONFLICT
    );

    let after = scrape(&app).await;
    assert_eq!(sample(&after, &closures("resolved", "api")), Some(1.0));
    assert_eq!(
        sample(&after, &closures("escalated", "workspace")),
        Some(1.0)
    );
    assert_eq!(sample(&after, &closures("escalated", "history")), Some(1.0));
    assert_eq!(sample(&after, &closures("resolved", "history")), Some(0.0));

    let complete = "route=\"/api/sessions/{id}/complete\"";
    let requests = |status: u16| {
        format!("casebook_http_requests_total{{method=\"POST\",{complete},status=\"{status}\"}}")
    };
    assert_eq!(sample(&after, &requests(200)), Some(2.0));
    assert_eq!(sample(&after, &requests(409)), Some(1.0));
    let latency_count =
        format!("casebook_http_request_duration_seconds_count{{method=\"POST\",{complete}}}");
    assert_eq!(sample(&after, &latency_count), Some(3.0));
    assert!(
        after.contains(&format!(
            "casebook_http_request_duration_seconds_bucket{{le=\"+Inf\",method=\"POST\",{complete}}} 3"
        )),
        "a latency histogram with buckets:\n{after}"
    );
    // Routes are templates: no session id ever becomes a label.
    assert!(
        !after.contains(&by_api),
        "a raw path leaked into the labels"
    );
    let unknown = app.get("/no/such/page").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let last = scrape(&app).await;
    let sessions = |status: &str| format!("casebook_sessions{{status=\"{status}\"}}");
    assert_eq!(sample(&last, &sessions("prepared")), Some(1.0));
    assert_eq!(sample(&last, &sessions("active")), Some(1.0));
    assert_eq!(sample(&last, &sessions("completed")), Some(3.0));
    assert_eq!(
        sample(
            &last,
            "casebook_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        Some(1.0)
    );
    assert!(!last.contains("/no/such/page"));
    let pools: Vec<&str> = match backend {
        Backend::Sqlite => vec!["sqlite_writer", "sqlite_readers"],
        Backend::Postgres => vec!["postgres"],
    };
    for pool in pools {
        let open = sample(
            &last,
            &format!("casebook_db_pool_connections{{pool=\"{pool}\"}}"),
        );
        let idle = sample(
            &last,
            &format!("casebook_db_pool_idle_connections{{pool=\"{pool}\"}}"),
        );
        assert!(open.is_some_and(|n| n >= 1.0), "{pool}: {open:?}");
        assert!(idle.is_some_and(|n| n <= open.unwrap()), "{pool}: {idle:?}");
    }
}

#[tokio::test]
async fn with_a_metrics_token_a_scrape_needs_it_and_a_user_token_is_not_it() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(db, |s| s.metrics_token = Some("scrape-me-4711".into())).await;
    let url = app.url("/metrics");
    let anonymous = app.anonymous().get(&url).send().await.unwrap();
    let body = problem(anonymous, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].as_str().unwrap().contains("metrics token"));
    // dana's personal token opens the API, not the metrics.
    let as_dana = app.get("/metrics").await;
    problem(as_dana, StatusCode::UNAUTHORIZED).await;
    let wrong = app
        .anonymous()
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    problem(wrong, StatusCode::UNAUTHORIZED).await;
    let right = app
        .anonymous()
        .get(&url)
        .bearer_auth("scrape-me-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("casebook_sessions{"));
}

#[tokio::test]
async fn without_a_token_a_scrape_through_a_proxy_is_refused() {
    // The test client is on loopback; a proxy in front would be too, and
    // says so with a forwarding header. (The decision for other addresses
    // is unit-tested in http::metrics.)
    let app = TestApp::spawn(Backend::Sqlite).await;
    let proxied = app
        .anonymous()
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    let body = problem(proxied, StatusCode::FORBIDDEN).await;
    assert!(body["detail"].as_str().unwrap().contains("--metrics-token"));
    let direct = app
        .anonymous()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::OK);
}

/// `--postgres-pool-size` bounds the connections one process opens: under
/// more concurrent requests than that, they wait for a connection and are
/// all answered.
#[tokio::test]
async fn the_postgres_pool_never_opens_more_connections_than_its_size() {
    let db = TestDb::new(Backend::Postgres).await;
    let app = TestApp::spawn_with(db, |s| s.postgres.pool_size = 2).await;
    for i in 0..5 {
        app.create(&format!("Session {i}"), &["look"]).await;
    }
    let requests = (0..40).map(|_| app.get("/api/sessions?q=session"));
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let last = scrape(&app).await;
    let open = sample(&last, "casebook_db_pool_connections{pool=\"postgres\"}");
    assert!(open.is_some_and(|n| (1.0..=2.0).contains(&n)), "{open:?}");
}
