//! SQLite under sustained load: the WAL stays within its limit and is
//! checkpointed away on a clean stop, nothing acknowledged is lost, and
//! another process holding the write lock stalls no read.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, ServerProcess, TestApp, TestDb, bearer_client, cli_token, get_json, open_sqlite,
    problem,
};

const WAL_LIMIT_MB: u64 = 4;
const WAL_LIMIT: u64 = WAL_LIMIT_MB * 1024 * 1024;
const SESSIONS: usize = 16;
const WORKERS: usize = 8;
/// Enough notes to write the WAL's limit several times over: each note
/// changes a session's row, adds an event and moves a few index entries,
/// some 40 KB of WAL frames.
const NOTES: usize = 1_200;

fn wal_of(db: &std::path::Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// Samples the WAL file's size every few milliseconds until stopped; the peak.
fn sample_wal(wal: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, usize)> {
    std::thread::spawn(move || {
        let (mut peak, mut samples) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            samples += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        (peak, samples)
    })
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_sustained_writes_the_wal_stays_within_its_limit_and_a_clean_stop_leaves_none() {
    let db = TestDb::new(Backend::Sqlite).await;
    let file = db.sqlite_file();
    let client = bearer_client(&cli_token(&["--database-url", &db.url]).await);
    let limit = WAL_LIMIT_MB.to_string();
    let args = ["--database-url", &db.url, "--sqlite-wal-max-mb", &limit];
    let server = ServerProcess::start(&args, &[]).await;
    let base = server.base_url.clone();
    let mut ids = Vec::new();
    for i in 0..SESSIONS {
        let created: Value = client
            .post(format!("{base}/api/sessions"))
            .json(&json!({ "title": format!("Busy {i}"), "start": true }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let ids = Arc::new(ids);

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_wal(wal_of(&file), stop.clone());
    let next = Arc::new(AtomicU64::new(0));
    let workers = (0..WORKERS).map(|_| {
        let (client, base, ids, next) = (client.clone(), base.clone(), ids.clone(), next.clone());
        tokio::spawn(async move {
            // (session index, note text) of every note answered 201.
            let mut acknowledged = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n >= NOTES {
                    return acknowledged;
                }
                let session = n % SESSIONS;
                let text = format!("note {n}: checked the {n}th log line");
                let response = client
                    .post(format!("{base}/api/sessions/{}/notes", ids[session]))
                    .json(&json!({ "text": text }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED, "note {n}");
                acknowledged.push((session, text));
            }
        })
    });
    let workers: Vec<_> = workers.collect();
    // Mid-run, the metrics show the WAL and its limit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let acknowledged: Vec<(usize, String)> = join_all(workers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    stop.store(true, Ordering::Relaxed);
    let (peak, samples) = sampler.join().unwrap();
    println!("WAL peak {peak} bytes over {samples} samples, limit {WAL_LIMIT}");
    assert_eq!(acknowledged.len(), NOTES);
    assert!(
        samples > 50,
        "the WAL was sampled throughout ({samples} samples)"
    );
    assert!(
        peak <= WAL_LIMIT,
        "the WAL reached {peak} bytes, over its limit of {WAL_LIMIT}"
    );
    assert_eq!(
        metric(&metrics, "casebook_sqlite_wal_limit_bytes"),
        Some(WAL_LIMIT as f64),
        "{metrics}"
    );
    let wal_metric = metric(&metrics, "casebook_sqlite_wal_bytes").expect("WAL size in /metrics");
    assert!(wal_metric <= WAL_LIMIT as f64, "{metrics}");
    assert!(
        metric(&metrics, "casebook_sqlite_checkpoint_lag_bytes").is_some(),
        "{metrics}"
    );

    let status = server.terminate().await;
    assert!(status.success(), "a clean stop: {status:?}");
    let wal_after = std::fs::metadata(wal_of(&file)).map_or(0, |m| m.len());
    assert_eq!(wal_after, 0, "the WAL is checkpointed away on a clean stop");
    let check = open_sqlite(&file);
    let integrity: String = check
        .query_row("pragma integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(check);

    let again = ServerProcess::start(&args, &[]).await;
    let base = again.base_url.clone();
    for (session, id) in ids.iter().enumerate() {
        let events = get_json(&client, &format!("{base}/api/sessions/{id}/events")).await;
        let stored: Vec<&str> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "note_added")
            .filter_map(|e| e["text"].as_str())
            .collect();
        let expected: Vec<&str> = acknowledged
            .iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, text)| text.as_str())
            .collect();
        assert_eq!(stored.len(), expected.len(), "notes of session {session}");
        for text in expected {
            assert!(stored.contains(&text), "{text} is lost");
        }
    }
}

/// Holds SQLite's write lock from another connection (as `casebook user
/// add`, a backup or a second server would) for `hold`, or until `release`
/// gets a message; returns once it is taken, with the thread that releases it.
async fn hold_the_write_lock(
    file: PathBuf,
    hold: Duration,
    release: std::sync::mpsc::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    let (taken, is_taken) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.execute_batch("begin immediate").unwrap();
        taken.send(()).unwrap();
        let _ = release.recv_timeout(hold);
        conn.execute_batch("commit").unwrap();
    });
    is_taken.await.unwrap();
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_another_process_holds_the_write_lock_reads_answer_at_once_and_writes_wait_for_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let existing = app.create_active("Already here").await;
    // Warm up the connections the reads use.
    app.get_json("/api/sessions").await;

    let hold = Duration::from_secs(2);
    let (_release, held) = std::sync::mpsc::channel();
    let holder = hold_the_write_lock(app.db().sqlite_file(), hold, held).await;
    let locked_at = Instant::now();
    let write = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/api/sessions"));
        async move {
            client
                .post(url)
                .json(&json!({ "title": "Written once the lock is free" }))
                .send()
                .await
                .unwrap()
        }
    });
    // The write is waiting for the lock now; the runtime is not.
    let mut slowest = Duration::ZERO;
    while locked_at.elapsed() < hold - Duration::from_millis(500) {
        for path in [
            "/healthz".to_string(),
            "/api/sessions".to_string(),
            format!("/api/sessions/{existing}"),
        ] {
            let sent = Instant::now();
            let response = app.get(&path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            slowest = slowest.max(sent.elapsed());
        }
    }
    println!("slowest read while the lock was held: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(300),
        "a read waited {slowest:?} while another process held the write lock"
    );
    let written = write.await.unwrap();
    assert_eq!(written.status(), StatusCode::CREATED);
    assert!(
        locked_at.elapsed() >= hold - Duration::from_millis(100),
        "the write waited for the lock"
    );
    holder.join().unwrap();
    let titles: Value = app.get_json("/api/sessions").await;
    assert!(titles.to_string().contains("Written once the lock is free"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_get_the_lock_in_time_is_told_to_retry_with_503() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Until the write has given up waiting (after 5 s).
    let (release, held) = std::sync::mpsc::channel();
    let holder = hold_the_write_lock(app.db().sqlite_file(), Duration::from_secs(60), held).await;
    let response = app
        .post_json("/api/sessions", &json!({ "title": "Too late" }))
        .await;
    release.send(()).unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    // Meanwhile and afterwards the server answers.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    holder.join().unwrap();
    let response = app
        .post_json("/api/sessions", &json!({ "title": "In time" }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Search sees what another process changed in the file (a `casebook`
/// command, a repair by hand): that change queues its session for the
/// index, which the server's indexer takes up within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_another_process_makes_is_found_by_search_within_seconds() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let session = app
        .create("Printer jams on tray two", &["Open tray two"])
        .await;
    let id = session["id"].as_str().unwrap().to_owned();
    let found = |body: Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        found(app.get_json("/api/sessions?q=printer").await),
        std::slice::from_ref(&id)
    );

    let file = app.db().sqlite_file();
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(file).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute(
            "update sessions set title = 'Plotter stalls on tray two'",
            [],
        )
        .unwrap();
    })
    .await
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if found(app.get_json("/api/sessions?q=plotter").await) == std::slice::from_ref(&id) {
            break;
        }
        assert!(Instant::now() < deadline, "the new title was never indexed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found(app.get_json("/api/sessions?q=printer").await).is_empty());
}
