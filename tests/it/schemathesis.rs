//! schemathesis, a third-party fuzzer, against a live Casebook: every
//! operation of the OpenAPI document, with generated valid and invalid
//! requests and stateful sequences along the document's links (create →
//! start → complete …). It must find no 5xx and no response the document
//! does not describe. `scripts/test` installs schemathesis into
//! target/test-deps; a missing schemathesis fails the test.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::process::Command;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

/// Test cases per operation and phase: enough to reach every branch of the
/// validators, few enough to keep the run around ten seconds.
const MAX_EXAMPLES: &str = "20";

/// `GET /api/stream`, which answers with a stream that never ends.
const STREAM_OPERATION: &str = "stream";

fn schemathesis() -> PathBuf {
    let path = std::env::var_os("CASEBOOK_TEST_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/test-deps/schemathesis/bin/schemathesis")
        });
    assert!(
        path.exists(),
        "{} is missing: scripts/test installs schemathesis from PyPI into \
         target/test-deps/schemathesis (or set CASEBOOK_TEST_SCHEMATHESIS)",
        path.display()
    );
    path
}

backend_tests!(schemathesis_finds_no_server_error_and_no_response_outside_the_document);

async fn schemathesis_finds_no_server_error_and_no_response_outside_the_document(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document: Value = app
        .anonymous()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    let workdir = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/schemathesis.toml");
    let output = Command::new(schemathesis())
        .current_dir(workdir.path())
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(app.url("/api/openapi.json"))
        .args(["--url", &app.url("")])
        .args(["--header", &format!("Authorization: Bearer {}", app.token)])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--generation-database", "none"])
        // One worker: hypothesis is not thread-safe everywhere (seen as
        // "AST constructor recursion depth mismatch" errors with two).
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        // The live stream never ends: tests/it/live covers it.
        .args(["--exclude-operation-id", STREAM_OPERATION])
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Failing cases can carry 100 KiB bodies: show each line's start only.
    let report: String = stdout
        .lines()
        .map(|line| line.chars().take(400).collect::<String>() + "\n")
        .collect();
    println!("{report}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{stderr}"
    );
    // Loading the document from its URL, schemathesis leaves out the
    // operation that serves it (which tests/it/openapi.rs covers); the
    // stream is left out above.
    let listed = operations - 1;
    let others = listed - 1;
    let summary = stdout
        .split("SUMMARY")
        .nth(1)
        .expect("schemathesis prints a summary");
    assert!(
        summary.contains(&format!("Selected: {others}/{listed}"))
            && summary.contains(&format!("Tested: {others}")),
        "schemathesis did not exercise all {others} operations:\n{summary}"
    );
}
