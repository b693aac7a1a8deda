//! What docs/DEPLOY.md tells operators to run: `casebook backup` while the
//! server writes, and pg_dump / pg_restore of a PostgreSQL database; each
//! copy is served by a fresh `casebook serve`.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, ServerProcess, TestDb, bearer_client, casebook, cli_token, cookie_of,
    eventually, get_json, open_sqlite, sign_in,
};

async fn tool(program: &str, args: &[&str]) -> Output {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test (scripts/test installs it): {e}")
        });
    assert!(
        output.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

async fn create(client: &reqwest::Client, base: &str, title: &str) -> String {
    let created = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({ "title": title, "steps": ["look", "fix"], "start": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

async fn close(client: &reqwest::Client, base: &str, id: &str) {
    let closed = client
        .post(format!("{base}/api/sessions/{id}/complete"))
        .json(&json!({ "outcome": "workaround", "outcome_notes": "Rebooted the switch" }))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::OK);
}

async fn session(client: &reqwest::Client, base: &str, id: &str) -> Value {
    get_json(client, &format!("{base}/api/sessions/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_server_writes_is_whole_and_serves_the_same_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").to_str().unwrap().to_string();
    let client = bearer_client(&cli_token(&["--data-dir", &data_dir]).await);
    casebook(&["migrate", "--data-dir", &data_dir])
        .await
        .succeeded();
    let server = ServerProcess::start(&["--data-dir", &data_dir], &[]).await;
    let base = server.base_url.clone();
    let mut before = Vec::new();
    for i in 0..20 {
        before.push(create(&client, &base, &format!("Before the backup {i}")).await);
    }
    close(&client, &base, &before[3]).await;

    // A writer that keeps going until the backup has finished.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let (client, base, stop, written) =
            (client.clone(), base.clone(), stop.clone(), written.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                create(&client, &base, "Written during the backup").await;
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    eventually("the writer's first sessions", || async {
        (written.load(Ordering::SeqCst) >= 3).then_some(())
    })
    .await;
    let backup = dir.path().join("backups/casebook-backup.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let backup_arg = backup.to_str().unwrap();
    let output = casebook(&["backup", backup_arg, "--data-dir", &data_dir]).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let said = output.succeeded();
    let copied: usize = said
        .strip_prefix("Backed up ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of sessions: {said}"));
    let total = 20 + written.load(Ordering::SeqCst);
    assert!(
        (23..=total).contains(&copied),
        "{copied} of {total} sessions"
    );
    assert!(said.contains("integrity check: ok"), "{said}");
    // It holds password hashes and every login session: its owner's only.
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup's mode is {mode:o}");

    // One self-contained file that SQLite itself finds whole.
    let wal = backup.with_file_name("casebook-backup.db-wal");
    assert!(!wal.exists(), "no write-ahead log beside the copy");
    let conn = open_sqlite(&backup);
    let integrity: String = conn
        .query_row("pragma integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let rows: i64 = conn
        .query_row("select count(*) from sessions", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows as usize, copied);
    drop(conn);

    // Upgrading a restored copy, then serving it: the same sessions, the same token.
    let backup_url = format!("sqlite://{backup_arg}");
    casebook(&["migrate", "--database-url", &backup_url])
        .await
        .succeeded();
    let restored =
        ServerProcess::start(&["--database-url", &backup_url, "--secure-cookies"], &[]).await;
    for id in &before {
        let original = session(&client, &base, id).await;
        let copy = session(&client, &restored.base_url, id).await;
        assert_eq!(copy, original);
    }
    let closed = session(&client, &restored.base_url, &before[3]).await;
    assert_eq!(closed["outcome"], "workaround");
    // dana signs in there too, and behind HTTPS her cookie is `Secure`.
    let signed_in = sign_in(&restored, "dana", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let (_, cookie) = cookie_of(&signed_in);
    assert!(cookie.contains("; Secure"), "{cookie}");

    // It never overwrites a file, and it leaves PostgreSQL to pg_dump.
    let again = casebook(&["backup", backup_arg, "--data-dir", &data_dir]).await;
    assert!(again.refused().contains("already exists"), "{again:?}");
    let postgres = casebook(&[
        "backup",
        dir.path().join("pg.db").to_str().unwrap(),
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/casebook",
    ])
    .await;
    let refusal = postgres.refused();
    assert!(refusal.contains("use pg_dump"), "{refusal}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_restored_into_a_fresh_database_serves_the_same_sessions() {
    let original_db = TestDb::new(Backend::Postgres).await;
    let original = ["--database-url", original_db.url.as_str()];
    casebook(&[&["migrate"], &original[..]].concat())
        .await
        .succeeded();
    let client = bearer_client(&cli_token(&original).await);
    let server = ServerProcess::start(&original, &[]).await;
    let kept = create(&client, &server.base_url, "Kept by pg_dump").await;
    close(&client, &server.base_url, &kept).await;
    let original = session(&client, &server.base_url, &kept).await;

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("casebook.dump");
    let dump_arg = dump.to_str().unwrap();
    tool(
        "pg_dump",
        &["--format=custom", "--file", dump_arg, &original_db.url],
    )
    .await;
    let fresh_db = TestDb::new(Backend::Postgres).await;
    tool(
        "pg_restore",
        &["--no-owner", "--dbname", &fresh_db.url, dump_arg],
    )
    .await;
    let restored = ServerProcess::start(&["--database-url", &fresh_db.url], &[]).await;
    assert_eq!(session(&client, &restored.base_url, &kept).await, original);
    drop((server, restored));
}
