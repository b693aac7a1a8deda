//! Faults: the database goes away or the disk fills up. Requests get a
//! quick 503 problem+json, reads go on where they can, nothing is
//! half-written, and service resumes by itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, TestDb, casebook, casebook_with, open_sqlite, problem};

/// A TCP proxy between Casebook and the shared PostgreSQL that the test can
/// cut (every open connection dropped, new ones closed at once) and restore.
/// The shared server itself is never stopped: other test runs use it.
struct CuttableProxy {
    addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    acceptor: JoinHandle<()>,
}

#[derive(Default)]
struct ProxyState {
    mode: Mode,
    links: Vec<JoinHandle<()>>,
    /// Connections taken and never answered (the `Silent` mode).
    held: Vec<TcpStream>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    #[default]
    Forward,
    /// New connections are closed at once: the server is down.
    Refuse,
    /// New connections are accepted and never answered: the network
    /// swallows packets, the hardest case for failing fast.
    Silent,
}

impl CuttableProxy {
    async fn start(upstream: String) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = state.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut state = shared.lock().unwrap();
                match state.mode {
                    Mode::Forward => {}
                    Mode::Refuse => continue, // dropped: closed at once
                    Mode::Silent => {
                        state.held.push(client);
                        continue;
                    }
                }
                let upstream = upstream.clone();
                state.links.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        CuttableProxy {
            addr,
            state,
            acceptor,
        }
    }

    /// Drops every open connection; new ones get `mode`.
    fn cut(&self, mode: Mode) {
        let mut state = self.state.lock().unwrap();
        state.mode = mode;
        for link in state.links.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        let mut state = self.state.lock().unwrap();
        state.mode = Mode::Forward;
        state.held.clear();
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut(Mode::Refuse);
        self.acceptor.abort();
    }
}

/// Polls `path` until it answers `status`.
async fn wait_for_status(app: &TestApp, path: &str, status: StatusCode, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if app.get(path).await.status() == status {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_gives_quick_503s_and_service_resumes_when_it_is_back() {
    let mut db = TestDb::new(Backend::Postgres).await;
    let mut through_proxy = url::Url::parse(&db.url).unwrap();
    let upstream = format!(
        "{}:{}",
        through_proxy.host_str().unwrap(),
        through_proxy.port().unwrap_or(5432)
    );
    let proxy = CuttableProxy::start(upstream).await;
    through_proxy.set_port(Some(proxy.addr.port())).unwrap();
    through_proxy.set_host(Some("127.0.0.1")).unwrap();
    db.url = through_proxy.to_string();
    let app = TestApp::spawn_on(db).await;
    let before = app.create_active("Before the outage").await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    proxy.cut(Mode::Refuse);
    // The request timeout is 30 s; the pool gives up on the database long before.
    let bound = Duration::from_secs(15);
    for (method, path) in [
        ("GET", "/readyz".to_string()),
        ("GET", "/api/sessions".to_string()),
        ("GET", format!("/api/sessions/{before}")),
        ("POST", "/api/sessions".to_string()),
        ("POST", format!("/api/sessions/{before}/complete")),
    ] {
        let started = Instant::now();
        let request = match method {
            "GET" => app.client.get(app.url(&path)),
            _ => app
                .client
                .post(app.url(&path))
                .json(&json!({ "title": "During the outage", "outcome": "resolved" })),
        };
        let response = request.send().await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            Some("1"),
            "{method} {path}: {} after {took:?}",
            response.status()
        );
        let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["type"], "/problems/unavailable", "{method} {path}");
        assert!(took < bound, "{method} {path} took {took:?}");
        println!("postgres cut: {method} {path} answered 503 in {took:?}");
    }
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "the process itself is up"
    );
    let page = app.get("/sessions").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE, "pages too");
    assert_eq!(page.headers()["retry-after"], "1");

    // A database that swallows connections: the pool's acquire timeout
    // answers before the request timeout would.
    proxy.cut(Mode::Silent);
    for path in ["/readyz", "/api/sessions"] {
        let started = Instant::now();
        let response = app.get(path).await;
        let took = started.elapsed();
        problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(took < bound, "{path} took {took:?}");
        println!("postgres silent: GET {path} answered 503 in {took:?}");
    }

    proxy.restore();
    let restored = Instant::now();
    wait_for_status(&app, "/readyz", StatusCode::OK, "ready again").await;
    println!(
        "postgres restored: ready again after {:?}",
        restored.elapsed()
    );
    let after = app.create_active("After the outage").await;
    assert_eq!(
        app.complete(&before, "resolved", Some("outage over"))
            .await
            .status(),
        StatusCode::OK
    );
    let list = app.get_json("/api/sessions").await;
    let titles: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["After the outage", "Before the outage"],
        "nothing from the outage"
    );
    assert_eq!(app.session(&after).await["status"], "active");
}

/// A tmpfs of a few hundred KiB, unmounted when dropped. Mounting needs
/// root (as the test command runs); without it the test fails and says so.
struct TinyDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(size: &str) -> TinyDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("mount runs");
        assert!(
            mounted.status.success(),
            "this test mounts a small tmpfs to fill it, which needs root: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        TinyDisk { path, _dir: dir }
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        filler
    }

    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn session_body(i: usize) -> Value {
    // Near the body limit, so the disk fills in a few writes.
    let steps: Vec<String> = (0..100)
        .map(|s| format!("{i}-{s} {}", "x".repeat(480)))
        .collect();
    json!({ "title": format!("Written {i}"), "problem": "y".repeat(8000), "steps": steps })
}

fn integrity(path: &Path) -> String {
    open_sqlite(path)
        .query_row("pragma integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_503_keeps_reads_and_corrupts_nothing() {
    let disk = TinyDisk::mount("4m");
    let file = disk.path.join("casebook.db");
    let mut db = TestDb::new(Backend::Sqlite).await;
    db.url = format!("sqlite://{}", file.display());
    let app = TestApp::spawn_on(db).await;
    let mut written = Vec::new();
    for i in 0..3 {
        let response = app.post_json("/api/sessions", &session_body(i)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        written.push(response.json::<Value>().await.unwrap()["id"].clone());
    }

    let filler = disk.fill();
    // The WAL may still have room for a write or two; the disk is full soon after.
    let mut refused = None;
    for i in 3..40 {
        let response = app.post_json("/api/sessions", &session_body(i)).await;
        if response.status() == StatusCode::CREATED {
            written.push(response.json::<Value>().await.unwrap()["id"].clone());
            continue;
        }
        refused = Some(problem(response, StatusCode::SERVICE_UNAVAILABLE).await);
        break;
    }
    let refused = refused.expect("a write to a full disk is refused");
    assert_eq!(refused["type"], "/problems/unavailable");
    println!(
        "full disk: {} sessions written, then 503 {:?}",
        written.len(),
        refused["detail"]
    );

    // Reads go on, and the server keeps serving.
    let list = app.get_json("/api/sessions?limit=100").await;
    let listed: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(
        listed.len(),
        written.len(),
        "the refused session is not there"
    );
    assert_eq!(app.get("/sessions").await.status(), StatusCode::OK);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    // With room again, writes work and the file is sound.
    std::fs::remove_file(filler).unwrap();
    let response = app.post_json("/api/sessions", &session_body(99)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.events(&id).await["items"][0]["kind"], "created");
    assert_eq!(integrity(&file), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_a_read_only_database_refuses_to_start_with_a_clear_error() {
    let disk = TinyDisk::mount("4m");
    let file = disk.path.join("casebook.db");
    let url = format!("sqlite://{}", file.display());
    casebook(&["migrate", "--database-url", &url])
        .await
        .succeeded();
    disk.remount("ro");

    let served = casebook_with(
        &["serve", "--addr", "127.0.0.1:0", "--database-url", &url],
        &[("RUST_BACKTRACE", "0")],
        "",
    )
    .await;
    assert_ne!(
        served.code, 0,
        "it does not serve a database it cannot write"
    );
    assert!(
        served.stderr.contains("cannot open the database"),
        "{}",
        served.stderr
    );

    disk.remount("rw");
    assert_eq!(integrity(&file), "ok");
}
