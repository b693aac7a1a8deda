//! Random query strings, JSON bodies, form bodies, ids and cursors against
//! a live server (proptest): never a 5xx, every API refusal a problem+json,
//! and the server keeps serving.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::runtime::Handle;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    list_filters_never_fail_the_server,
    json_bodies_never_fail_the_server,
    form_bodies_never_fail_the_server,
    ids_and_cursors_never_fail_the_server,
);

/// Requests per property: a few hundred, a few seconds each.
const CASES: u32 = 200;

/// A live server, driven from proptest's synchronous runner through the
/// test's runtime.
struct Live {
    runtime: Handle,
    app: TestApp,
}

impl Live {
    async fn start(backend: Backend) -> Live {
        Live {
            runtime: Handle::current(),
            app: TestApp::spawn(backend).await,
        }
    }

    /// Runs `property` on `CASES` values of `strategy`; shrinks a failure.
    fn check<S: Strategy>(
        &self,
        strategy: S,
        property: impl Fn(&Live, S::Value) -> Result<(), TestCaseError>,
    ) {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        // The runner blocks: off the runtime's worker, which keeps serving.
        tokio::task::block_in_place(|| {
            runner
                .run(&strategy, |value| property(self, value))
                .unwrap_or_else(|e| panic!("{e}"));
            // Still serving.
            let outcomes = self.runtime.block_on(self.app.get("/api/outcomes"));
            assert_eq!(outcomes.status(), 200);
        });
    }

    /// An active session with `steps`, checked to be one: its id and its
    /// first step's id.
    async fn active_session(&self, steps: &[&str]) -> (String, String) {
        let session = self.app.create("Disk full", steps).await;
        let id = session["id"].as_str().unwrap().to_string();
        let started = self.app.post(&format!("/api/sessions/{id}/start")).await;
        assert_eq!(started.status(), StatusCode::OK, "the session starts");
        (id, session["steps"][0]["id"].as_str().unwrap().to_string())
    }

    /// The session is active again after a case: reopened if the case
    /// closed it, so that every case meets an active session.
    async fn keep_active(&self, id: &str) -> Result<(), TestCaseError> {
        let session = self.app.session(id).await;
        if session["status"] == "completed" {
            let reopened = self.app.post(&format!("/api/sessions/{id}/reopen")).await;
            prop_assert_eq!(reopened.status().as_u16(), 200);
        } else {
            prop_assert_eq!(&session["status"], "active");
        }
        Ok(())
    }
}

/// Never a server error; a refusal is a problem+json with its status.
async fn well_formed(response: Response) -> Result<(u16, Value), TestCaseError> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Value = response
        .json()
        .await
        .map_err(|e| TestCaseError::fail(format!("{status}: body is not JSON: {e}")))?;
    prop_assert!(status < 500, "{status}: {body}");
    if status >= 400 {
        prop_assert_eq!(content_type, "application/problem+json");
        prop_assert_eq!(&body["status"], &json!(status));
        prop_assert!(body["detail"].is_string() && body["type"].is_string());
    } else {
        prop_assert_eq!(content_type, "application/json");
    }
    Ok((status, body))
}

fn filter_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "status|outcome|owner|q|cursor|limit".prop_map(String::from),
        any::<String>(),
    ]
}

fn filter_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "prepared|active|completed|resolved|cancelled|-1|0|1|100|101|99999999999"
            .prop_map(String::from),
        "A[A-Za-z0-9_-]{31}",
        "[A-Za-z0-9_=+/-]{0,40}",
    ]
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "resolved|cancelled|fixed| |".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    "title|problem|reference|customer|steps|start|outcome|outcome_notes|text|finding"
                        .prop_map(String::from),
                    any::<String>(),
                ],
                inner,
                0..6,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

async fn list_filters_never_fail_the_server(backend: Backend) {
    let live = Live::start(backend).await;
    live.app.create_active("Disk full on db01").await;
    let pairs = prop::collection::vec((filter_name(), filter_value()), 0..5);
    live.check(pairs, |live, pairs| {
        let query = serde_urlencoded::to_string(&pairs).unwrap();
        live.runtime.block_on(async {
            let response = live.app.get(&format!("/api/sessions?{query}")).await;
            let (status, body) = well_formed(response).await?;
            prop_assert!(matches!(status, 200 | 400 | 422), "{status}: {body}");
            if status == 200 {
                prop_assert!(body["items"].is_array());
            }
            Ok(())
        })
    });
}

async fn json_bodies_never_fail_the_server(backend: Backend) {
    let live = Live::start(backend).await;
    let (id, step) = live.active_session(&["Check df", "Rotate logs"]).await;
    let paths = [
        "/api/sessions".to_string(),
        format!("/api/sessions/{id}/notes"),
        format!("/api/sessions/{id}/steps/{step}/check"),
        format!("/api/sessions/{id}/complete"),
    ];
    live.check((0..paths.len(), any_json()), |live, (which, body)| {
        live.runtime.block_on(async {
            let response = live.app.post_json(&paths[which], &body).await;
            well_formed(response).await?;
            live.keep_active(&id).await
        })
    });
}

async fn ids_and_cursors_never_fail_the_server(backend: Backend) {
    let live = Live::start(backend).await;
    for i in 0..3 {
        live.app.create(&format!("Session {i}"), &[]).await;
    }
    let page = live.app.get_json("/api/sessions?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let tampered = (0..cursor.len(), any::<char>()).prop_map(move |(at, c)| {
        let mut chars: Vec<char> = cursor.chars().collect();
        chars[at] = c;
        chars.into_iter().collect::<String>()
    });
    let id = prop_oneof![any::<String>(), "[0-9a-f-]{30,40}"];
    live.check((id, tampered), |live, (id, cursor)| {
        live.runtime.block_on(async {
            let segment: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
            let response = live.app.get(&format!("/api/sessions/{segment}")).await;
            let (status, _) = well_formed(response).await?;
            prop_assert!(matches!(status, 200 | 404), "id {id:?}: {status}");

            let query = serde_urlencoded::to_string([("cursor", &cursor)]).unwrap();
            let response = live.app.get(&format!("/api/sessions?{query}")).await;
            let (status, body) = well_formed(response).await?;
            prop_assert!(matches!(status, 200 | 400), "cursor {cursor:?}: {status}");
            if status == 400 {
                prop_assert_eq!(&body["type"], "/problems/malformed-request");
            }
            Ok(())
        })
    });
}

fn form_field() -> impl Strategy<Value = String> {
    prop_oneof![
        "title|problem|reference|customer|steps|intent|outcome|outcome_notes|text|finding|username|password|next|via"
            .prop_map(String::from),
        any::<String>(),
    ]
}

/// The pages' forms (prepare, complete, reopen, note, finding, sign in) with
/// random fields: a page or a redirect, never a server error. The bearer
/// token stands for the login session, so no CSRF field is needed.
async fn form_bodies_never_fail_the_server(backend: Backend) {
    let live = Live::start(backend).await;
    let (id, step) = live.active_session(&["Check df"]).await;
    let paths = [
        "/sessions/new".to_string(),
        format!("/sessions/{id}/complete"),
        format!("/sessions/{id}/reopen"),
        format!("/sessions/{id}/work/notes"),
        format!("/sessions/{id}/work/steps/{step}/check"),
        "/login".to_string(),
    ];
    let client = live.app.without_redirects();
    let anonymous = live.app.anonymous_without_redirects();
    let fields = prop::collection::vec((form_field(), filter_value()), 0..6);
    live.check((0..paths.len(), fields), |live, (which, fields)| {
        let body = serde_urlencoded::to_string(&fields).unwrap();
        live.runtime.block_on(async {
            let sender = if which == 5 { &anonymous } else { &client };
            let response = sender
                .post(live.app.url(&paths[which]))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            prop_assert!(status < 500, "{} {status}: {fields:?}", paths[which]);
            live.keep_active(&id).await
        })
    });
}
