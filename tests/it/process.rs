//! The `casebook` binary as an operator runs it: configuration, bound
//! address in the logs, migrations, graceful shutdown, several processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestDb, assert_one_winner, eventually, race_to_complete};
use crate::summary::{Behaviour, fake_llm};

/// A `casebook serve` child process and the log lines it wrote.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) base_url: String,
    pub(crate) logs: Arc<Mutex<Vec<String>>>,
    /// The threads copying stderr and stdout into `logs`; joined on exit so
    /// no line written just before exiting is missed.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl ServerProcess {
    pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casebook"))
            .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .envs(env.iter().copied())
            .env_remove("CASEBOOK_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("casebook starts");
        // Logs (stderr) and what it prints for the operator (stdout), together.
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let readers = [
            Box::new(stderr) as Box<dyn std::io::Read + Send>,
            Box::new(stdout),
        ]
        .into_iter()
        .map(|stream| {
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            })
        })
        .collect();
        let addr = wait_for(&logs, Duration::from_secs(60), |line| {
            let entry: Value = serde_json::from_str(line).ok()?;
            entry["addr"].as_str().map(str::to_string)
        })
        .expect("the server logs the address it bound");
        assert!(!addr.ends_with(":0"), "the real port is logged, not 0");
        ServerProcess {
            child,
            base_url: format!("http://{addr}"),
            logs,
            readers,
        }
    }

    /// The process id, to read its figures from /proc.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
    }

    /// Waits for the exit and for the last log lines to be read.
    pub(crate) fn wait(mut self) -> std::process::ExitStatus {
        let status = self.child.wait().unwrap();
        for reader in std::mem::take(&mut self.readers) {
            reader.join().expect("the log reader ends with the process");
        }
        status
    }

    /// Kills the process with SIGKILL: no shutdown, no flushing, as in a
    /// crash or an out-of-memory kill.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.wait();
    }

    pub(crate) fn terminate(self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.wait()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the log lines until `find` recognizes one.
fn wait_for<T>(
    logs: &Mutex<Vec<String>>,
    timeout: Duration,
    find: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(found) = logs.lock().unwrap().iter().find_map(|l| find(l)) {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Makes the engineer `dana` and a personal token for her with the CLI, on
/// the database `database` names (`--data-dir …` or `--database-url …`), and
/// returns a client that uses the token.
fn cli_client(database: &[&str]) -> reqwest::Client {
    bearer_client(&cli_token(database))
}

pub(crate) fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The token `cli_client` uses, made through `casebook user add` and
/// `casebook token create`.
pub(crate) fn cli_token(database: &[&str]) -> String {
    let run = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casebook"))
            .args(args)
            .args(database)
            .env_remove("CASEBOOK_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that needs no input may close the pipe before it is written.
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes());
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    run(&["user", "add", "dana", "--password-stdin"], PASSWORD);
    run(&["token", "create", "--user", "dana"], "")
        .trim()
        .to_string()
}

/// Two servers on one fresh PostgreSQL database, and a client for both
/// (dana's token, made with the CLI).
pub(crate) struct TwoProcesses {
    pub servers: [ServerProcess; 2],
    pub client: reqwest::Client,
    /// Dropped last: the database outlives the servers.
    pub db: TestDb,
}

impl TwoProcesses {
    pub async fn start() -> TwoProcesses {
        let db = TestDb::new(Backend::Postgres).await;
        let url = db.url.clone();
        let (a, b, token) = tokio::task::spawn_blocking(move || {
            let token = cli_token(&["--database-url", &url]);
            let a = ServerProcess::spawn(&["--database-url", &url], &[]);
            let b = ServerProcess::spawn(&["--database-url", &url], &[]);
            (a, b, token)
        })
        .await
        .unwrap();
        TwoProcesses {
            servers: [a, b],
            client: bearer_client(&token),
            db,
        }
    }
}

#[tokio::test]
async fn serve_uses_the_data_dir_from_the_environment_logs_json_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/data");
    let client = cli_client(&["--data-dir", data_dir.to_str().unwrap()]);
    let server = ServerProcess::spawn(&[], &[("CASEBOOK_DATA_DIR", data_dir.to_str().unwrap())]);
    let created = client
        .post(format!("{}/api/sessions", server.base_url))
        .json(&json!({ "title": "Survives a restart" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(
        data_dir.join("casebook.db").exists(),
        "the SQLite file lives in the data dir"
    );

    let logs = server.logs.clone();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    {
        let logs = logs.lock().unwrap();
        let request_line = logs
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|l| l["span"].clone())
            .find(|span| span["route"] == "/api/sessions")
            .expect("a JSON log line per request");
        assert_eq!(request_line["status"], 201);
        assert_eq!(request_line["method"], "POST");
        assert!(request_line["latency_ms"].is_number());
        assert!(logs.iter().any(|l| l.contains("casebook stopped")));
    }

    // The same data dir serves the same data after the restart.
    let again = ServerProcess::spawn(&["--data-dir", data_dir.to_str().unwrap()], &[]);
    let list: Value = client
        .get(format!("{}/api/sessions", again.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["title"], "Survives a restart");
}

#[tokio::test]
async fn migrate_creates_the_schema_and_exits() {
    let db = TestDb::new(Backend::Sqlite).await;
    let output = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(["migrate", "--database-url", &db.url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        db.raw_execute("select count(*) from sessions")
            .await
            .unwrap(),
        0
    );
    assert!(
        db.raw_execute("select count(*) from session_events")
            .await
            .is_ok()
    );
    let mode: String = db
        .sqlite()
        .query_row("pragma journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "the SQLite file is in WAL mode");

    let bad = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(["migrate", "--database-url", "mysql://nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported database URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_race_to_exactly_one_winner() {
    // The database first, so that it is dropped after the servers.
    let TwoProcesses {
        db: _db,
        servers: [a, b],
        client,
    } = TwoProcesses::start().await;
    let created: Value = client
        .post(format!("{}/api/sessions", a.base_url))
        .json(&json!({ "title": "Shared by two processes", "start": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["status"], "active");

    let servers = [a.base_url.clone(), b.base_url.clone()];
    let results = race_to_complete(&client, &servers, id, 64).await;
    let stored: Value = client
        .get(format!("{}/api/sessions/{id}", b.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events: Value = client
        .get(format!("{}/api/sessions/{id}/events", a.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_one_winner(&results, &stored, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_but_lets_an_in_flight_request_finish() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let (llm_url, seen) = fake_llm(Behaviour::AnswerWhenReleased(gate.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let (server, client) = tokio::task::spawn_blocking(move || {
        let client = cli_client(&["--data-dir", &data_dir]);
        let server = ServerProcess::spawn(
            &["--data-dir", &data_dir],
            &[
                ("CASEBOOK_LLM_URL", &llm_url),
                ("CASEBOOK_LLM_MODEL", "casebook-test"),
            ],
        );
        (server, client)
    })
    .await
    .unwrap();
    let base = server.base_url.clone();
    let created: Value = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({ "title": "Summarized during shutdown", "start": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let completed = client
        .post(format!("{base}/api/sessions/{id}/complete"))
        .json(&json!({ "outcome": "resolved" }))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::OK);

    // A summary request is in flight once the model has received it.
    let in_flight = tokio::spawn({
        let (client, base, id) = (client.clone(), base.clone(), id.clone());
        async move {
            client
                .post(format!("{base}/api/sessions/{id}/summary"))
                .send()
                .await
        }
    });
    eventually("the model to receive the summary request", || async {
        (!seen.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    server.send_sigterm();
    let logs = server.logs.clone();
    tokio::task::spawn_blocking(move || {
        wait_for(&logs, Duration::from_secs(10), |l| {
            l.contains("shutting down").then_some(())
        })
    })
    .await
    .unwrap()
    .expect("the server logs that it is shutting down");

    // New connections are refused (soon after the log line) while the old
    // request is still open.
    eventually("new connections to be refused", || async {
        let fresh = reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await;
        fresh.is_err().then_some(())
    })
    .await;
    assert!(
        !in_flight.is_finished(),
        "the in-flight request is still waiting"
    );

    gate.notify_one();
    let answer = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let session: Value = answer.json().await.unwrap();
    assert_eq!(
        session["summary"],
        "The VPN dropped hourly; a longer rekey timer works around it."
    );
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_prints_a_setup_link_that_creates_the_first_admin_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let (server, link) = tokio::task::spawn_blocking(move || {
        let server = ServerProcess::spawn(&["--data-dir", &data_dir], &[]);
        let link = wait_for(&server.logs, Duration::from_secs(30), |line| {
            let start = line.find("http://")?;
            line[start..]
                .contains("/setup?token=")
                .then(|| line[start..].trim().to_string())
        });
        (server, link)
    })
    .await
    .unwrap();
    let link = link.expect("serve prints the setup link");
    assert!(link.starts_with(&server.base_url));
    let logged_secret = server
        .logs
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with('{') && l.contains("token="));
    assert!(
        !logged_secret,
        "the link is printed for the operator, not logged"
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(&link).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(
        form.text()
            .await
            .unwrap()
            .contains("Create the first admin")
    );
    let token = link.split("token=").nth(1).unwrap().to_string();
    let setup = |username: &'static str| {
        client
            .post(format!("{}/setup", server.base_url))
            .form(&[
                ("token", token.as_str()),
                ("username", username),
                ("password", PASSWORD),
            ])
            .send()
    };
    let created = setup("admin").await.unwrap();
    assert_eq!(
        created.status(),
        StatusCode::SEE_OTHER,
        "signed in and on to the history page"
    );
    let cookie = created.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let account = client
        .get(format!("{}/account", server.base_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(account.text().await.unwrap().contains("(admin)"));

    assert_eq!(
        setup("intruder").await.unwrap().status(),
        StatusCode::GONE,
        "the link works once"
    );
    assert_eq!(
        client.get(&link).send().await.unwrap().status(),
        StatusCode::GONE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_cookie_value_reaches_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let (server, token) = tokio::task::spawn_blocking(move || {
        let token = cli_token(&["--data-dir", &data_dir]);
        let server = ServerProcess::spawn(&["--data-dir", &data_dir], &[("RUST_LOG", "debug")]);
        (server, token)
    })
    .await
    .unwrap();
    let client = bearer_client(&token);
    let base = server.base_url.clone();
    // A request with the token, a sign-in with the password, one with the cookie.
    let created = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({ "title": "Logged carefully" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = browser
        .post(format!("{base}/login"))
        .form(&[("username", "dana"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = browser
        .get(format!("{base}/sessions"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let wrong = browser
        .post(format!("{base}/login"))
        .form(&[("username", "dana"), ("password", "hunter2-wrong-guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let session_id = cookie.split_once('=').unwrap().1.to_string();
    // Every line is in once the process has exited.
    let all_logs = server.logs.clone();
    let stopped = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(stopped.success());
    let logs = all_logs.lock().unwrap().join("\n");
    assert!(logs.contains("/login"), "the requests were logged at all");
    for secret in [
        PASSWORD,
        "hunter2-wrong-guess",
        token.as_str(),
        session_id.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

/// The statements one request made: the SQLite store's statement log lines inside its
/// span, told apart by a request id of our own (the server keeps a given
/// `x-request-id`), so the late lines of earlier requests and the
/// background tasks' statements are never counted.
async fn queries_of_one_request(
    server: &ServerProcess,
    client: &reqwest::Client,
    path: &str,
) -> usize {
    let request_id = format!("count-{}", uuid::Uuid::now_v7());
    let response = client
        .get(format!("{}{path}", server.base_url))
        .header("x-request-id", &request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    let ours = format!("\"request_id\":\"{request_id}\"");
    let lines = eventually("the request's log lines", || async {
        let logs = server.logs.lock().unwrap();
        let mine: Vec<String> = logs.iter().filter(|l| l.contains(&ours)).cloned().collect();
        mine.iter()
            .any(|l| l.contains("\"finished\""))
            .then_some(mine)
    })
    .await;
    lines
        .iter()
        .filter(|l| {
            l.contains(&format!(
                "\"target\":\"{}\"",
                casebook::store::SQLITE_STATEMENT_LOG
            ))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_page_makes_as_many_queries_for_fifty_cards_as_for_ten() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let (server, token) = tokio::task::spawn_blocking(move || {
        let token = cli_token(&["--data-dir", &data_dir]);
        let filter = format!("info,{}=debug", casebook::store::SQLITE_STATEMENT_LOG);
        let env = [("RUST_LOG", filter.as_str())];
        (
            ServerProcess::spawn(&["--data-dir", &data_dir], &env),
            token,
        )
    })
    .await
    .unwrap();
    let client = bearer_client(&token);
    let add_active = |n: usize| {
        let (client, base) = (client.clone(), server.base_url.clone());
        async move {
            for i in 0..n {
                let body = json!({ "title": format!("Session {i}"), "steps": ["a", "b", "c"], "start": true });
                let created = client
                    .post(format!("{base}/api/sessions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(created.status(), StatusCode::CREATED);
            }
        }
    };
    add_active(10).await;
    for _ in 0..3 {
        queries_of_one_request(&server, &client, "/sessions").await; // warm the pools
    }
    let at_ten = queries_of_one_request(&server, &client, "/sessions").await;
    add_active(40).await;
    let at_fifty = queries_of_one_request(&server, &client, "/sessions").await;
    let page: String = client
        .get(format!("{}/sessions", server.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("data-close").count(), 50, "fifty cards");
    assert!(at_ten > 0, "the statements are counted at all");
    assert_eq!(at_ten, at_fifty, "no query per card");
}

/// The operations settings as an operator sets them: from the environment.
#[tokio::test]
async fn metrics_token_and_auto_close_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = ServerProcess::spawn(
        &[],
        &[
            ("CASEBOOK_DATA_DIR", data_dir.to_str().unwrap()),
            ("CASEBOOK_METRICS_TOKEN", "scrape-4711"),
            ("CASEBOOK_AUTO_CLOSE_AFTER", "14d"),
        ],
    );
    let announced = wait_for(&server.logs, Duration::from_secs(30), |line| {
        line.contains("idle sessions close automatically")
            .then(|| line.to_string())
    })
    .expect("the policy is announced");
    assert!(announced.contains("14days"), "{announced}");
    let url = format!("{}/metrics", server.base_url);
    let client = reqwest::Client::new();
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // The policy's first run starts with the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = client
            .get(&url)
            .bearer_auth("scrape-4711")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("casebook_auto_close_runs_total 1") {
            break;
        }
        assert!(Instant::now() < deadline, "no auto-close run:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.terminate().success());

    let refused = Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(["serve", "--auto-close-after", "soon"])
        .env_remove("CASEBOOK_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--auto-close-after") && stderr.contains("14d"),
        "{stderr}"
    );
}
