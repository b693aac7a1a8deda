//! `GET /api/reports` on both engines: counts, medians and 90th percentiles
//! checked against sessions whose times a manual clock set.

use std::sync::Arc;

use casebook::domain::{Actor, NewSession, Outcome, OutcomeNotes, Role, Surface};
use casebook::service::{ManualClock, SessionService};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, problem, user};

backend_tests!(
    a_report_counts_outcomes_and_computes_median_and_p90_per_range_and_week,
    owner_and_customer_filters_narrow_a_report,
    a_range_without_sessions_lists_every_outcome_and_week_with_zeros,
    bad_dates_are_refused_with_a_problem_naming_the_field,
);

/// A second "process" on the server's database whose clock the test sets.
struct Clocked {
    service: SessionService,
    clock: Arc<ManualClock>,
}

impl Clocked {
    async fn on(app: &TestApp) -> Self {
        // Owners are accounts: dana has hers; sam needs one.
        user(&app.accounts, "sam", Role::Engineer).await;
        let store = casebook::store::connect(&app.db().url).await.unwrap();
        let clock = Arc::new(ManualClock::new(at("2026-03-02T09:00:00Z")));
        Clocked {
            service: SessionService::new(store, clock.clone()),
            clock,
        }
    }

    /// Opens (prepares and starts) a session owned by `owner` at the clock's time.
    async fn open(&self, owner: &str, customer: Option<&str>) -> Uuid {
        let new = NewSession::parse(Some("A problem"), None, None, customer, &[]).unwrap();
        let actor = Actor::new(owner);
        let session = self
            .service
            .prepare(&actor, Surface::Api, new)
            .await
            .unwrap();
        self.service
            .start(&actor, Surface::Api, session.id)
            .await
            .unwrap();
        session.id
    }

    /// Closes `id` at `when`.
    async fn close_at(&self, id: Uuid, when: &str, outcome: Outcome) {
        self.clock.set(at(when));
        self.service
            .complete(
                &Actor::new("dana"),
                Surface::Api,
                id,
                outcome,
                OutcomeNotes::default(),
            )
            .await
            .unwrap();
    }
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

const HOUR: f64 = 3_600.0;

/// Two weeks (from Monday 2026-03-02 to Sunday 2026-03-15):
/// week 1 opens six sessions at 09:00 on Monday and closes five of them
/// after 1, 2, 3, 4 and 10 hours; week 2 opens four, closes two after 0.5
/// and 1.5 hours, leaves one (sam's) open and closes the last one after the
/// range. Before the range, one session opened and closed does not count.
async fn seed(app: &TestApp) {
    let p = Clocked::on(app).await;
    p.clock.set(at("2026-02-20T09:00:00Z"));
    let before = p.open("dana", Some("Acme")).await;
    p.close_at(before, "2026-02-21T09:00:00Z", Outcome::Resolved)
        .await;

    p.clock.set(at("2026-03-02T09:00:00Z"));
    let week1 = [
        (Some("Acme"), Outcome::Resolved, "2026-03-02T10:00:00Z"),
        (Some("Acme"), Outcome::Escalated, "2026-03-02T11:00:00Z"),
        (Some("Acme"), Outcome::Escalated, "2026-03-02T12:00:00Z"),
        (Some("Globex"), Outcome::Workaround, "2026-03-02T13:00:00Z"),
        (Some("Globex"), Outcome::Unresolved, "2026-03-02T19:00:00Z"),
    ];
    let mut ids = Vec::new();
    for (customer, _, _) in week1 {
        ids.push(p.open("dana", customer).await);
    }
    p.open("dana", Some("Globex")).await; // stays active
    for (id, (_, outcome, when)) in ids.into_iter().zip(week1) {
        p.close_at(id, when, outcome).await;
    }

    p.clock.set(at("2026-03-09T09:00:00Z"));
    let cancelled = p.open("dana", Some("Acme")).await;
    let resolved = p.open("dana", None).await;
    p.open("sam", None).await; // stays active
    p.close_at(cancelled, "2026-03-09T09:30:00Z", Outcome::Cancelled)
        .await;
    p.close_at(resolved, "2026-03-09T10:30:00Z", Outcome::Resolved)
        .await;
    p.clock.set(at("2026-03-14T09:00:00Z"));
    let late = p.open("dana", None).await;
    p.close_at(late, "2026-03-20T09:00:00Z", Outcome::Resolved)
        .await;
}

fn outcome_counts(report: &Value) -> Vec<(String, String, u64)> {
    report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["outcome"].as_str().unwrap().to_string(),
                o["label"].as_str().unwrap().to_string(),
                o["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn counts(report: &Value) -> Vec<u64> {
    outcome_counts(report)
        .into_iter()
        .map(|(_, _, n)| n)
        .collect()
}

fn seconds(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

fn assert_close(actual: &Value, expected: f64) {
    let actual = seconds(actual);
    assert!(
        (actual - expected).abs() < 1e-3,
        "expected {expected} s, got {actual} s"
    );
}

async fn a_report_counts_outcomes_and_computes_median_and_p90_per_range_and_week(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let report = app
        .get_json("/api/reports?from=2026-03-02&to=2026-03-15")
        .await;
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some("2026-03-02"), Some("2026-03-15"))
    );
    let outcomes = outcome_counts(&report);
    let expected: Vec<(String, String, u64)> = Outcome::ALL
        .into_iter()
        .zip([2, 2, 1, 1, 1, 0])
        .map(|(o, n)| (o.as_str().to_string(), o.label().to_string(), n))
        .collect();
    assert_eq!(outcomes, expected);

    // Closed in the range: 0.5, 1, 1.5, 2, 3, 4 and 10 hours. The median is
    // the 4th; the 90th percentile lies 0.4 of the way from 4 h to 10 h.
    let ttc = &report["time_to_close"];
    assert_eq!(ttc["count"], 7);
    assert_close(&ttc["median_seconds"], 2.0 * HOUR);
    assert_close(&ttc["p90_seconds"], 6.4 * HOUR);

    let weeks = report["by_week"].as_array().unwrap();
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0]["week"], "2026-03-02");
    assert_eq!(
        (weeks[0]["opened"].as_u64(), weeks[0]["closed"].as_u64()),
        (Some(6), Some(5))
    );
    assert_close(&weeks[0]["median_seconds"], 3.0 * HOUR);
    assert_eq!(weeks[1]["week"], "2026-03-09");
    assert_eq!(
        (weeks[1]["opened"].as_u64(), weeks[1]["closed"].as_u64()),
        (Some(4), Some(2))
    );
    assert_close(&weeks[1]["median_seconds"], HOUR);

    let customers = &report["top_customers"];
    assert_eq!(
        *customers,
        serde_json::json!([
            { "customer": "Acme", "sessions": 4, "escalated": 2 },
            { "customer": "Globex", "sessions": 3, "escalated": 0 },
        ])
    );
}

async fn owner_and_customer_filters_narrow_a_report(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let acme = app
        .get_json("/api/reports?from=2026-03-02&to=2026-03-15&customer=Acme&owner=")
        .await;
    assert_eq!(counts(&acme), [1, 2, 0, 0, 1, 0]);
    // 0.5, 1, 2 and 3 hours.
    assert_close(&acme["time_to_close"]["median_seconds"], 1.5 * HOUR);
    assert_close(&acme["time_to_close"]["p90_seconds"], 2.7 * HOUR);

    let sam = app
        .get_json("/api/reports?from=2026-03-02&to=2026-03-15&owner=sam")
        .await;
    assert_eq!(counts(&sam), [0; 6]);
    assert_eq!(sam["time_to_close"]["count"], 0);
    assert!(sam["time_to_close"]["median_seconds"].is_null());
    let opened: Vec<u64> = sam["by_week"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["opened"].as_u64().unwrap())
        .collect();
    assert_eq!(opened, [0, 1]);
}

async fn a_range_without_sessions_lists_every_outcome_and_week_with_zeros(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let report = app
        .get_json("/api/reports?from=2025-01-06&to=2025-01-19")
        .await;
    let outcomes = outcome_counts(&report);
    let names: Vec<&str> = outcomes.iter().map(|(o, _, _)| o.as_str()).collect();
    assert_eq!(names, Outcome::ALL.map(Outcome::as_str));
    assert_eq!(counts(&report), [0; 6]);
    assert_eq!(
        report["time_to_close"],
        serde_json::json!({ "median_seconds": null, "p90_seconds": null, "count": 0 })
    );
    assert_eq!(
        report["by_week"],
        serde_json::json!([
            { "week": "2025-01-06", "opened": 0, "closed": 0, "median_seconds": null },
            { "week": "2025-01-13", "opened": 0, "closed": 0, "median_seconds": null },
        ])
    );
    assert_eq!(report["top_customers"], serde_json::json!([]));

    // Without dates: the last 90 days up to today (UTC), 13 or 14 weeks.
    let default = app.get_json("/api/reports").await;
    let today = Utc::now().date_naive();
    assert_eq!(default["to"], today.to_string());
    assert_eq!(default["from"], (today - TimeDelta::days(89)).to_string());
    let weeks = default["by_week"].as_array().unwrap().len();
    assert!((13..=14).contains(&weeks), "{weeks} weeks");
}

async fn bad_dates_are_refused_with_a_problem_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (query, field) in [
        ("from=2026-02-30", "from"),
        ("from=yesterday", "from"),
        ("to=2026-3-1", "to"),
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("from=2000-01-01&to=2026-01-01", "to"),
        ("customer=%00", "customer"),
    ] {
        let response = app.get(&format!("/api/reports?{query}")).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    let response = app.get("/api/reports?from=a&from=b").await;
    problem(response, StatusCode::BAD_REQUEST).await;
}
