//! The OpenAPI document at /api/openapi.json: open to everyone, describing
//! every route of the API, with the domain's outcomes, the bearer token and
//! a problem+json body for every error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use casebook::domain::Outcome;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, problem};

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

async fn document(app: &TestApp) -> Value {
    let response = app
        .anonymous()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    document
}

/// Every (method, path template) the document describes.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

/// Every string literal in the HTTP layer's source that could be an API
/// route: a path literal under src/http/api is relative to /api.
fn route_literals() -> BTreeSet<String> {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut found = BTreeSet::new();
    let mut dirs = vec![http.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let in_api = path.starts_with(http.join("api"));
            let source = std::fs::read_to_string(&path).unwrap();
            for literal in source.split('"').skip(1).step_by(2) {
                if !literal.starts_with('/') || literal.contains(char::is_whitespace) {
                    continue;
                }
                // A path built with format!("/api/sessions/{}", id), and
                // without its query string.
                let literal = &literal.replace("{}", "{id}");
                let literal = literal.split('?').next().unwrap();
                if literal == "/api" || literal.starts_with("/api/") {
                    found.insert(literal.to_string());
                } else if in_api {
                    found.insert(format!("/api{literal}"));
                }
            }
        }
    }
    found
}

/// Whether the router has a route for `method` on `path`: its fallbacks
/// answer 404 "nothing at this address" and 405.
async fn routed(app: &TestApp, method: &Method, path: &str) -> bool {
    let response = app
        .client
        .request(method.clone(), app.url(path))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return false;
    }
    if status == StatusCode::NOT_FOUND {
        let body: Value = response.json().await.unwrap();
        return body["detail"] != "There is nothing at this address.";
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_route_of_the_api_and_nothing_else() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document = document(&app).await;
    let described = documented(&document);
    let session = app.create("Disk full", &["Check df"]).await;
    let (id, step_id) = (
        session["id"].as_str().unwrap(),
        session["steps"][0]["id"].as_str().unwrap(),
    );
    let concrete = |template: &str| template.replace("{step_id}", step_id).replace("{id}", id);

    // The scan of the source must find every documented path by itself (each
    // handler declares its path in a literal), so that it can also find a
    // route the document lacks.
    let templates = route_literals();
    let missed: Vec<&String> = described
        .iter()
        .map(|(_, path)| path)
        .filter(|path| !templates.contains(*path))
        .collect();
    assert!(
        missed.is_empty(),
        "the source scan missed documented paths {missed:?}; it found {templates:?}"
    );
    let mut undescribed = Vec::new();
    for template in &templates {
        for method in &METHODS {
            let is_routed = routed(&app, method, &concrete(template)).await;
            let is_described = described.contains(&(method.to_string(), template.clone()));
            if is_routed && !is_described {
                undescribed.push(format!("{method} {template}"));
            }
            assert!(
                is_routed || !is_described,
                "the document describes {method} {template}, which has no route"
            );
        }
    }
    assert!(
        undescribed.is_empty(),
        "routes the document does not describe: {undescribed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outcome_enum_of_the_document_is_the_domains_list() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];
    let values: Vec<&str> = schemas["Outcome"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(values, Outcome::ALL.map(Outcome::as_str));
    assert_eq!(
        schemas["CompleteSession"]["properties"]["outcome"]["$ref"],
        "#/components/schemas/Outcome"
    );
    assert_eq!(schemas["CompleteSession"]["required"][0], "outcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_needs_the_bearer_token_and_every_error_is_a_problem() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document = document(&app).await;
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");

    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            if operation["operationId"] == "openapi_document" {
                assert!(operation.get("security").is_none(), "{name}");
                continue;
            }
            assert_eq!(
                operation["security"],
                serde_json::json!([{ "bearer": [] }]),
                "{name}"
            );
            assert!(responses.contains_key("401"), "{name} documents no 401");
            for (status, response) in responses {
                let success = status.starts_with('2');
                // A deletion answers 204 with no body at all.
                if status == "204" {
                    assert!(response.get("content").is_none(), "{name} {status}");
                    continue;
                }
                let content = response["content"].as_object().unwrap();
                // The export is a file; every other answer is JSON.
                let media: &[&str] = match (success, path.ends_with("/export")) {
                    (true, true) => &["application/x-ndjson", "text/csv"],
                    // The live stream is Server-Sent Events.
                    (true, false) if path == "/api/stream" => &["text/event-stream"],
                    (true, false) => &["application/json"],
                    (false, _) => &["application/problem+json"],
                };
                assert_eq!(content.keys().collect::<Vec<_>>(), media, "{name} {status}");
                if !success {
                    assert_eq!(
                        content[media[0]]["schema"]["$ref"], "#/components/schemas/Problem",
                        "{name} {status}"
                    );
                }
            }
            // And the server does refuse it without a token.
            let url = app.url(&path.replace("{id}", "x").replace("{step_id}", "y"));
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.anonymous().request(method, url).send().await.unwrap();
            problem(response, StatusCode::UNAUTHORIZED).await;
        }
    }
    let problem = &document["components"]["schemas"]["Problem"];
    assert_eq!(
        problem["required"],
        serde_json::json!(["type", "title", "status", "detail"])
    );
}

/// openapi-spec-validator (PyPI), which `scripts/test` installs into
/// target/test-deps; `None` where it is missing, which fails under CI=true.
fn spec_validator() -> Option<PathBuf> {
    let path = std::env::var_os("CASEBOOK_TEST_OPENAPI_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/test-deps/openapi-spec-validator/bin/openapi-spec-validator")
        });
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{} is missing: scripts/test installs openapi-spec-validator from PyPI into \
         target/test-deps/openapi-spec-validator (or set CASEBOOK_TEST_OPENAPI_VALIDATOR)",
        path.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("NOT CHECKED: {message}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_validator_finds_the_served_document_valid() {
    let Some(validator) = spec_validator() else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served = app
        .anonymous()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &served).unwrap();
    let output = tokio::process::Command::new(validator)
        .args(["--errors", "all"])
        .arg(&file)
        .output()
        .await
        .expect("openapi-spec-validator runs");
    let report = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && report.contains("OK"),
        "openapi-spec-validator rejects the document:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_names_casebook_itself_with_no_stranger_as_contact() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let info = &document(&app).await["info"];
    assert_eq!(info["title"], "Casebook API");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["license"]["name"], env!("CARGO_PKG_LICENSE"));
    assert!(
        info["description"]
            .as_str()
            .unwrap()
            .starts_with(env!("CARGO_PKG_DESCRIPTION"))
    );
    assert!(info.get("contact").is_none(), "{info}");
}
