use std::sync::Arc;

use casebook::domain::{Actor, NewSession, Outcome, OutcomeNotes, Surface};
use casebook::service::{SessionService, SystemClock};
use casebook::store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, problem};

backend_tests!(
    the_export_holds_exactly_what_the_list_holds_for_the_same_filters,
    an_export_longer_than_a_page_has_every_session_once_in_order,
);

/// Every page of the API list for `filters`.
async fn listed(app: &TestApp, filters: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get_json(&format!("/api/sessions?limit=100&{filters}{cursor}"))
            .await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return items,
        }
    }
}

async fn export(app: &TestApp, query: &str) -> reqwest::Response {
    app.get(&format!("/api/sessions/export?{query}")).await
}

async fn jsonl(app: &TestApp, filters: &str) -> Vec<Value> {
    let response = export(app, &format!("format=jsonl&{filters}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"casebook-sessions-")
            && disposition.ends_with(".jsonl\""),
        "{disposition}"
    );
    let text = response.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The CSV export parsed back: the header and the records.
async fn csv_rows(app: &TestApp, filters: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let response = export(app, &format!("format=csv&{filters}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.ends_with(".csv\""), "{disposition}");
    let bytes = response.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_ref());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader.records().map(|r| r.unwrap()).collect();
    (header, rows)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

async fn the_export_holds_exactly_what_the_list_holds_for_the_same_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sam = app.client_as("sam", casebook::domain::Role::Engineer).await;
    // Titles and notes that need quoting: commas, quotes, line breaks.
    let tricky = app
        .post_json(
            "/api/sessions",
            &json!({
                "title": "Disk \"full\", again, on db01",
                "problem": "Line one\nline two, with a comma\r\nand \"quotes\"",
                "customer": "Contoso; Ltd",
                "steps": ["Check df", "Rotate logs"],
                "start": true,
            }),
        )
        .await;
    assert_eq!(tricky.status(), StatusCode::CREATED);
    let tricky: Value = tricky.json().await.unwrap();
    let tricky_id = text(&tricky["id"]).to_owned();
    let notes = "Rotated logs =SUM(A1), \"fixed\"\nfor now";
    assert_eq!(
        app.complete(&tricky_id, "workaround", Some(notes))
            .await
            .status(),
        StatusCode::OK
    );
    let disk = app.create_active("Disk latency on db02").await;
    assert_eq!(
        app.complete(&disk, "resolved", None).await.status(),
        StatusCode::OK
    );
    app.create_active("VPN drops every hour").await;
    app.create("Printer queue stuck", &["Restart spooler"])
        .await;
    let response = sam
        .post(app.url("/api/sessions"))
        .json(&json!({ "title": "Sam's disk alert", "start": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    for filters in [
        "",
        "status=active",
        "status=completed&outcome=resolved",
        "owner=dana",
        "owner=sam",
        "q=disk",
        "owner=dana&q=disk&status=completed",
        "outcome=cancelled",
    ] {
        let listed = listed(&app, filters).await;
        assert_eq!(
            jsonl(&app, filters).await,
            listed,
            "JSON lines for {filters:?}"
        );

        let (header, rows) = csv_rows(&app, filters).await;
        assert_eq!(
            header[..4],
            ["id", "title", "status", "outcome"],
            "{header:?}"
        );
        assert_eq!(rows.len(), listed.len(), "CSV rows for {filters:?}");
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        for (row, item) in rows.iter().zip(&listed) {
            for name in [
                "id",
                "title",
                "status",
                "outcome",
                "owner",
                "customer",
                "outcome_notes",
                "problem",
                "completed_by",
            ] {
                assert_eq!(
                    &row[column(name)],
                    text(&item[name]),
                    "{name} for {filters:?}"
                );
            }
            for name in ["created_at", "completed_at"] {
                let exported = &row[column(name)];
                let listed = text(&item[name]);
                let same = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
                assert_eq!(same(exported), same(listed), "{name} for {filters:?}");
            }
            let at = |name: &str| chrono::DateTime::parse_from_rfc3339(text(&item[name])).ok();
            let duration = match (at("started_at"), at("completed_at")) {
                (Some(start), Some(end)) => (end - start).num_seconds().to_string(),
                _ => String::new(),
            };
            assert_eq!(
                &row[column("duration_seconds")],
                duration,
                "duration for {filters:?}"
            );
        }
    }
    let (header, rows) = csv_rows(&app, "q=again").await;
    let notes_column = header.iter().position(|h| h == "outcome_notes").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        &rows[0][notes_column], notes,
        "quoted values read back exactly"
    );
}

async fn an_export_longer_than_a_page_has_every_session_once_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Straight through the service: 450 sessions over HTTP would be slow.
    let store = store::connect(&app.db().url).await.unwrap();
    let service = SessionService::new(store.clone(), Arc::new(SystemClock));
    let dana = Actor::new("dana");
    for i in 0..450 {
        let title = format!("Session {i}");
        let new = NewSession::parse(Some(&title), None, None, None, &[]).unwrap();
        let session = service.prepare(&dana, Surface::Api, new).await.unwrap();
        if i % 3 == 0 {
            service
                .start(&dana, Surface::Api, session.id)
                .await
                .unwrap();
            let notes = OutcomeNotes::parse(None).unwrap();
            service
                .complete(&dana, Surface::Api, session.id, Outcome::Resolved, notes)
                .await
                .unwrap();
        }
    }
    store.close().await;
    let exported = jsonl(&app, "").await;
    assert_eq!(exported, listed(&app, "").await);
    assert_eq!(exported.len(), 450);
    assert_eq!(text(&exported[0]["title"]), "Session 449");
    assert_eq!(text(&exported[449]["title"]), "Session 0");
    let (_, completed) = csv_rows(&app, "status=completed").await;
    assert_eq!(completed.len(), 150);
}

#[tokio::test]
async fn an_unknown_format_or_filter_is_a_clear_problem_and_anonymous_export_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = problem(export(&app, "format=xlsx").await, StatusCode::BAD_REQUEST).await;
    let detail = text(&body["detail"]);
    assert!(
        detail.contains("xlsx") && detail.contains("csv") && detail.contains("jsonl"),
        "{detail}"
    );
    let body = problem(
        export(&app, "format=csv&status=closed").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "status");
    let anonymous = app
        .anonymous()
        .get(app.url("/api/sessions/export?format=csv"))
        .send()
        .await
        .unwrap();
    problem(anonymous, StatusCode::UNAUTHORIZED).await;
    // No format means CSV.
    let plain = export(&app, "").await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(
        plain.text().await.unwrap().lines().count(),
        1,
        "the header row alone"
    );
}

#[tokio::test]
async fn the_history_page_links_to_the_export_of_its_current_view() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_active("Disk full on db01").await;
    let html = app
        .get("/sessions?status=active&q=disk")
        .await
        .text()
        .await
        .unwrap();
    let href = "/api/sessions/export?format=csv&#38;status=active&#38;owner=dana&#38;q=disk";
    assert!(
        html.contains(&format!("href=\"{href}\" download>Export CSV</a>")),
        "{html}"
    );
    // The link gives exactly that view.
    let (_, rows) = csv_rows(&app, "status=active&owner=dana&q=disk").await;
    assert_eq!(rows.len(), 1);
    let everyone = app.get("/sessions?owner=all").await.text().await.unwrap();
    assert!(everyone.contains("href=\"/api/sessions/export?format=csv\" download>"));
}
