//! The JSON API end to end on a real server, on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, problem};

backend_tests!(
    the_whole_lifecycle_works_over_http,
    completing_twice_gives_200_then_409_naming_completed,
    completing_a_prepared_session_is_a_409_naming_prepared,
    the_list_filters_and_pages_through_sessions,
    the_list_shows_each_change_to_a_listed_session_at_once,
    outcomes_and_health_are_served,
);

async fn the_whole_lifecycle_works_over_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post_json(
            "/api/sessions",
            &json!({
                "title": "  VPN drops every hour ",
                "problem": "Users report disconnects",
                "reference": "INC-4711",
                "customer": "ACME",
                "steps": ["Check tunnel logs", "Compare rekey timers"]
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/sessions/{id}"));
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(created["title"], "VPN drops every hour");
    assert_eq!(created["status"], "prepared");
    assert_eq!(created["owner"], "dana");
    assert_eq!(created["reference"], "INC-4711");
    assert_eq!(created["steps"][1]["text"], "Compare rekey timers");
    assert_eq!(created["steps"][1]["position"], 2);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.session(&id).await, created);

    let started: Value = app
        .post(&format!("/api/sessions/{id}/start"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(started["status"], "active");
    assert!(started["started_at"].is_string());

    let note = app
        .post_json(
            &format!("/api/sessions/{id}/notes"),
            &json!({ "text": "Rekey at 3600s" }),
        )
        .await;
    assert_eq!(note.status(), StatusCode::CREATED);
    let note: Value = note.json().await.unwrap();
    assert_eq!(
        (note["kind"].as_str(), note["text"].as_str()),
        (Some("note_added"), Some("Rekey at 3600s"))
    );

    let step = started["steps"][0]["id"].as_str().unwrap();
    let checked: Value = app
        .post_json(
            &format!("/api/sessions/{id}/steps/{step}/check"),
            &json!({ "finding": "timeouts at :00" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(checked["steps"][0]["finding"], "timeouts at :00");
    assert!(checked["steps"][0]["checked_at"].is_string());
    let unchecked = app
        .post(&format!("/api/sessions/{id}/steps/{step}/uncheck"))
        .await;
    assert_eq!(unchecked.status(), StatusCode::OK);
    // An optional body may be left out entirely.
    let checked_again = app
        .post(&format!("/api/sessions/{id}/steps/{step}/check"))
        .await;
    assert_eq!(checked_again.status(), StatusCode::OK);

    let completed = app
        .complete(&id, "workaround", Some("  raised the timer  "))
        .await;
    assert_eq!(completed.status(), StatusCode::OK);
    let completed: Value = completed.json().await.unwrap();
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["outcome"], "workaround");
    assert_eq!(completed["outcome_label"], "Workaround");
    assert_eq!(completed["outcome_notes"], "raised the timer");
    assert_eq!(
        completed["summary"],
        Value::Null,
        "completing never summarizes"
    );

    let reopened: Value = app
        .post(&format!("/api/sessions/{id}/reopen"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reopened["status"], "active");
    assert_eq!(reopened["outcome"], Value::Null);

    let events: Value = app.events(&id).await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "started",
            "note_added",
            "step_checked",
            "step_unchecked",
            "step_checked",
            "completed",
            "reopened"
        ]
    );
    let completion = &events["items"][6];
    assert_eq!(completion["outcome"], "workaround");
    assert_eq!(completion["outcome_notes"], "raised the timer");
    assert_eq!(
        (completion["actor"].as_str(), completion["via"].as_str()),
        (Some("dana"), Some("api"))
    );
    assert_eq!(events["next_cursor"], Value::Null);

    // Pages record their own surface through the Casebook-Via header.
    let response = app
        .client
        .post(app.url(&format!("/api/sessions/{id}/complete")))
        .header("Casebook-Via", "history")
        .json(&json!({ "outcome": "cancelled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events: Value = app.events(&id).await;
    assert_eq!(events["items"][8]["via"], "history");
    assert_eq!(
        events["items"][8]["outcome_notes"],
        Value::Null,
        "no notes means none"
    );
}

async fn completing_twice_gives_200_then_409_naming_completed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_active("Printer offline").await;
    assert_eq!(
        app.complete(&id, "resolved", None).await.status(),
        StatusCode::OK
    );
    let body = problem(
        app.complete(&id, "escalated", None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "completed");
    assert_eq!(body["outcome"], "resolved");
    assert_eq!(body["outcome_label"], "Resolved");
    assert_eq!(body["completed_by"], "dana");
    assert!(body["completed_at"].is_string());
    assert!(body["detail"].as_str().unwrap().contains("completed"));
    assert_eq!(
        app.session(&id).await["outcome"],
        "resolved",
        "the loser changed nothing"
    );
}

async fn completing_a_prepared_session_is_a_409_naming_prepared(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create("Not started", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = problem(
        app.complete(&id, "resolved", None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "prepared");
    assert!(body["detail"].as_str().unwrap().contains("prepared"));
    let body = problem(
        app.post(&format!("/api/sessions/{id}/reopen")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "prepared");
    app.start(&id).await;
    let body = problem(
        app.post(&format!("/api/sessions/{id}/start")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["current_status"], "active");
}

async fn the_list_filters_and_pages_through_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(
            app.create(&format!("Session {i}"), &[]).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let active = app.create_active("Kafka lag on orders topic").await;
    all.push(active.clone());
    all.reverse();

    let mut seen = Vec::new();
    let mut path = "/api/sessions?limit=3".to_string();
    loop {
        let page: Value = app.get_json(&path).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/sessions?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "every session once, newest first");

    let ids = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(app.get_json("/api/sessions?status=active").await),
        [active.as_str()]
    );
    assert_eq!(
        ids(app.get_json("/api/sessions?q=kafka+orders").await),
        [active.as_str()]
    );
    assert_eq!(
        ids(app.get_json("/api/sessions?owner=dana&status=active").await),
        [active.as_str()]
    );
    assert!(ids(app.get_json("/api/sessions?owner=sam").await).is_empty());
    app.complete(&active, "cancelled", None).await;
    assert_eq!(
        ids(app.get_json("/api/sessions?outcome=cancelled").await),
        [active]
    );
    let default_page: Value = app.get_json("/api/sessions?status=").await;
    assert_eq!(
        default_page["items"].as_array().unwrap().len(),
        8,
        "blank filters mean any"
    );
}

/// The list keeps each session's JSON between requests (see
/// `http::api::session_json`): after every kind of change, a listed session
/// reads exactly as the session itself does.
async fn the_list_shows_each_change_to_a_listed_session_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_active("Printer offline").await;
    let created = app.create("Disk full", &["Check df"]).await;
    let id = created["id"].as_str().unwrap().to_string();
    let listed_as_stored = async || {
        let list = app.get_json("/api/sessions?limit=10").await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        for item in items {
            let stored = app.session(item["id"].as_str().unwrap()).await;
            assert_eq!(item, &stored, "the listed session reads as stored");
        }
        items[0].clone()
    };
    assert_eq!(listed_as_stored().await["title"], "Disk full");

    let edit = json!({ "title": "Disk full on db01", "steps": ["Check df -h", "Rotate the logs"] });
    let edited = app
        .client
        .put(app.url(&format!("/api/sessions/{id}")))
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    let edited = listed_as_stored().await;
    assert_eq!(edited["title"], "Disk full on db01");
    let steps: Vec<String> = edited["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(edited["status"], "prepared");

    let changes = [
        ("start", format!("/api/sessions/{id}/start"), json!(null)),
        (
            "check",
            format!("/api/sessions/{id}/steps/{}/check", steps[0]),
            json!({ "finding": "97% used" }),
        ),
        (
            "add a step",
            format!("/api/sessions/{id}/steps"),
            json!({ "text": "Page the DBA" }),
        ),
        (
            "skip",
            format!("/api/sessions/{id}/steps/{}/skip", steps[1]),
            json!(null),
        ),
        (
            "uncheck",
            format!("/api/sessions/{id}/steps/{}/uncheck", steps[0]),
            json!(null),
        ),
        (
            "complete",
            format!("/api/sessions/{id}/complete"),
            json!({ "outcome": "workaround", "outcome_notes": "Rotated by hand" }),
        ),
    ];
    for (change, path, body) in changes {
        let response = if body.is_null() {
            app.post(&path).await
        } else {
            app.post_json(&path, &body).await
        };
        assert!(
            response.status().is_success(),
            "{change}: {}",
            response.status()
        );
        listed_as_stored().await;
    }
    let listed = listed_as_stored().await;
    assert_eq!(listed["status"], "completed");
    assert_eq!(listed["outcome"], "workaround");
    assert_eq!(listed["steps"][0]["checked_at"], Value::Null);
    assert!(listed["steps"][1]["skipped_at"].is_string());
    assert_eq!(listed["steps"][2]["text"], "Page the DBA");
}

async fn outcomes_and_health_are_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let outcomes: Value = app.get_json("/api/outcomes").await;
    let items = outcomes["items"].as_array().unwrap();
    let triples: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|o| {
            (
                o["value"].as_str().unwrap(),
                o["label"].as_str().unwrap(),
                o["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        triples,
        [
            ("resolved", "Resolved", "standard"),
            ("escalated", "Escalated", "standard"),
            ("workaround", "Workaround", "standard"),
            ("unresolved", "Unresolved", "standard"),
            ("cancelled", "Cancelled", "early_closure"),
            (
                "resolved_externally",
                "Resolved Externally",
                "early_closure"
            ),
        ]
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready: Value = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
}
