//! Drives a running server and reads its CPU time from /proc around each case.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Method;
use serde_json::Value;

use crate::seed::Seeded;

/// The release server as a child process.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(binary: &Path, database_url: &str) -> anyhow::Result<Server> {
        let mut child = Command::new(binary)
            .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
            .args(["--database-url", database_url])
            .env("RUST_LOG", "warn,casebook::startup=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {}; build it with cargo build --release",
                    binary.display()
                )
            })?;
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .context("the server exited before listening")??;
            let entry: Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(addr) = entry["addr"].as_str() {
                break addr.to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server {
            child,
            base: format!("http://{addr}"),
        })
    }

    fn proc_file(&self, name: &str) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(format!(
            "/proc/{}/{name}",
            self.child.id()
        ))?)
    }

    /// User plus system CPU time of the server so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = self.proc_file("stat")?;
        // Fields after the ")" that ends the command name; utime and stime are 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("stat format")?
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        Ok(Duration::from_secs_f64(
            ticks as f64 / clock_ticks_per_second(),
        ))
    }

    /// VmRSS: the memory the server holds resident now.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = self.proc_file("status")?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS")?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("VmRSS value")?
            .parse()?)
    }

    /// VmHWM: the most memory the server has held resident.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = self.proc_file("status")?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .context("no VmHWM")?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("VmHWM value")?
            .parse()?)
    }
}

/// User plus system CPU time of all `servers` so far.
pub fn cpu_time(servers: &[Server]) -> anyhow::Result<Duration> {
    servers.iter().map(Server::cpu_time).sum()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Where each request of a case goes.
pub enum Target {
    Fixed(String),
    /// Each path once, in order; the case ends when its ration (see
    /// [`Target::ration`]) runs out.
    EachOnce(Arc<Vec<String>>, Arc<AtomicUsize>, Arc<AtomicUsize>),
    /// Round and round.
    Cycle(Arc<Vec<String>>, Arc<AtomicUsize>),
}

impl Target {
    /// The paths of this run's ration (see [`Target::ration`]), all marked
    /// used: for a driver that cannot say how many it used.
    pub fn take_share(&self) -> Vec<String> {
        match self {
            Target::EachOnce(paths, at, until) => {
                let until = until.load(Ordering::Relaxed).min(paths.len());
                let from = at.swap(until, Ordering::Relaxed).min(until);
                paths[from..until].to_vec()
            }
            Target::Fixed(path) => vec![path.clone()],
            Target::Cycle(paths, _) => paths.to_vec(),
        }
    }

    /// Shares the paths a case consumes (active sessions to complete) fairly
    /// between the runs still to come, so a fast run at low concurrency
    /// leaves enough for the later ones.
    pub fn ration(&self, runs_left: usize) {
        if let Target::EachOnce(paths, at, until) = self {
            let start = at.load(Ordering::Relaxed).min(paths.len());
            let share = (paths.len() - start) / runs_left.max(1);
            at.store(start, Ordering::Relaxed);
            until.store(start + share, Ordering::Relaxed);
        }
    }

    /// How long a run at `per_second` can last on this run's ration
    /// without running out: `None` for a case that never runs out.
    pub fn lasts_at(&self, per_second: f64) -> Option<Duration> {
        let Target::EachOnce(paths, at, until) = self else {
            return None;
        };
        let until = until.load(Ordering::Relaxed).min(paths.len());
        let share = until.saturating_sub(at.load(Ordering::Relaxed));
        Some(Duration::from_secs_f64(share as f64 / per_second.max(1.0)))
    }

    fn next(&self) -> Option<&str> {
        match self {
            Target::Fixed(path) => Some(path),
            Target::EachOnce(paths, at, until) => {
                let i = at.fetch_add(1, Ordering::Relaxed);
                (i < until.load(Ordering::Relaxed))
                    .then(|| paths.get(i).map(String::as_str))
                    .flatten()
            }
            Target::Cycle(paths, at) => {
                Some(&paths[at.fetch_add(1, Ordering::Relaxed) % paths.len()])
            }
        }
    }
}

pub struct Case {
    pub name: &'static str,
    pub method: Method,
    pub target: Target,
    pub body: Option<&'static str>,
    /// `Authorization` header value; `None` for the open /healthz.
    pub auth: Option<Arc<str>>,
}

/// The requests users make, in the order they are reported. Every case but
/// /healthz authenticates with `token`, as a script would.
pub async fn cases(server: &Server, seeded: &Seeded, token: &str) -> anyhow::Result<Vec<Case>> {
    let auth: Arc<str> = format!("Bearer {token}").into();
    let get = |name: &'static str, path: String| Case {
        name,
        method: Method::GET,
        target: Target::Fixed(path),
        body: None,
        auth: Some(auth.clone()),
    };
    let deep = cursor_at_depth(server, 2_000, &auth).await?;
    let year_ago = (chrono::Utc::now() - chrono::TimeDelta::days(365)).date_naive();
    let completes: Vec<String> = seeded
        .active
        .iter()
        .map(|id| format!("/api/sessions/{id}/complete"))
        .collect();
    let cards: Vec<String> = seeded
        .sample
        .iter()
        .map(|id| format!("/sessions/{id}/card"))
        .collect();
    // Sessions of every status, each asking for the completed ones most like it.
    let similar: Vec<String> = seeded
        .sample
        .iter()
        .map(|id| format!("/api/sessions/{id}/similar"))
        .collect();
    Ok(vec![
        Case {
            auth: None,
            ..get("GET /healthz", "/healthz".into())
        },
        get("GET /api/sessions (first page)", "/api/sessions".into()),
        get(
            "GET /api/sessions (2,000 deep)",
            format!("/api/sessions?cursor={deep}"),
        ),
        // Everyone's sessions: the page shows the viewer's own by default.
        get(
            "GET /sessions (history, 50 cards)",
            "/sessions?owner=all".into(),
        ),
        // Search: one word, then two (every word must match, by prefix).
        get("GET /api/sessions?q=disk", "/api/sessions?q=disk".into()),
        get(
            "GET /api/sessions?q=disk+full",
            "/api/sessions?q=disk+full".into(),
        ),
        // Reports: every figure computed by the database over the range.
        get("GET /api/reports (90 days)", "/api/reports".into()),
        get(
            "GET /api/reports (a year, one customer)",
            format!("/api/reports?from={year_ago}&customer=Globex"),
        ),
        get("GET /reports (page, 90 days)", "/reports".into()),
        // The history page's search, with the snippet of each card.
        get(
            "GET /sessions?q=disk+full (history search)",
            "/sessions?owner=all&q=disk+full".into(),
        ),
        Case {
            name: "GET /api/sessions/{id}/similar",
            method: Method::GET,
            target: Target::Cycle(Arc::new(similar), Arc::default()),
            body: None,
            auth: Some(auth.clone()),
        },
        Case {
            name: "POST /api/sessions/{id}/complete",
            method: Method::POST,
            target: Target::EachOnce(Arc::new(completes), Arc::default(), Arc::default()),
            body: Some(
                r#"{"outcome":"resolved_externally","outcome_notes":"Closed by the benchmark"}"#,
            ),
            auth: Some(auth.clone()),
        },
        Case {
            name: "GET /sessions/{id}/card",
            method: Method::GET,
            target: Target::Cycle(Arc::new(cards), Arc::default()),
            body: None,
            auth: Some(auth.clone()),
        },
    ])
}

/// The sustained write cases, on the active sessions seeded for them:
/// notes round and round, then each session completed once.
pub fn sustained_cases(active: &[uuid::Uuid], token: &str) -> Vec<Case> {
    let auth: Arc<str> = format!("Bearer {token}").into();
    let paths = |action: &str| -> Arc<Vec<String>> {
        Arc::new(
            active
                .iter()
                .map(|id| format!("/api/sessions/{id}/{action}"))
                .collect(),
        )
    };
    vec![
        Case {
            name: "POST /api/sessions/{id}/notes (sustained)",
            method: Method::POST,
            target: Target::Cycle(paths("notes"), Arc::default()),
            body: Some(r#"{"text":"Checked the logs again; still waiting for the vendor."}"#),
            auth: Some(auth.clone()),
        },
        Case {
            name: "POST /api/sessions/{id}/complete (sustained)",
            method: Method::POST,
            target: Target::EachOnce(paths("complete"), Arc::default(), Arc::default()),
            body: Some(
                r#"{"outcome":"resolved_externally","outcome_notes":"Closed by the benchmark"}"#,
            ),
            auth: Some(auth),
        },
    ]
}

/// The cursor that starts the page `depth` sessions into the list.
async fn cursor_at_depth(server: &Server, depth: usize, auth: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let mut cursor = String::new();
    for _ in 0..depth / 100 {
        let page: Value = client
            .get(format!(
                "{}/api/sessions?limit=100&cursor={cursor}",
                server.base
            ))
            .header("authorization", auth)
            .send()
            .await?
            .json()
            .await?;
        cursor = page["next_cursor"]
            .as_str()
            .context("fewer sessions than the depth")?
            .to_string();
    }
    Ok(cursor)
}

pub struct Row {
    pub case: &'static str,
    /// `casebook-bench` (our own client) or `wrk`.
    pub driver: &'static str,
    pub connections: usize,
    pub requests: usize,
    pub failures: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub cpu_per_request: Duration,
    /// What the run left behind (sustained runs only).
    pub growth: Option<Growth>,
}

/// What a sustained run grew, by the engine's own measure.
#[derive(Clone, Copy)]
pub enum Growth {
    /// The largest SQLite's WAL file was during the run.
    SqliteWalPeak(u64),
    /// The WAL PostgreSQL wrote during the run, and what its database grew by.
    Postgres {
        wal_written: i64,
        database_grew: i64,
    },
}

/// Runs `case` on `connections` connections for `duration`, the
/// connections spread over `servers` in turn.
pub async fn run(
    servers: &[Server],
    case: &Case,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let case = Arc::new(case_ref(case));
    let cpu_before = cpu_time(servers)?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for worker in 0..connections {
        // One client each, so each worker keeps exactly one connection.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let case = case.clone();
        let base = servers[worker % servers.len()].base.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            while Instant::now() < deadline {
                let Some(path) = case.target.next() else {
                    break;
                };
                let mut request = client.request(case.method.clone(), format!("{base}{path}"));
                if let Some(auth) = &case.auth {
                    request = request.header("authorization", &**auth);
                }
                if let Some(body) = case.body {
                    request = request
                        .header("content-type", "application/json")
                        .body(body);
                }
                let sent = Instant::now();
                let ok = match request.send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                latencies.push(sent.elapsed());
                if !ok {
                    failures += 1;
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (l, f) = worker.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time(servers)?.saturating_sub(cpu_before);
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let requests = latencies.len();
    Ok(Row {
        case: case.name,
        driver: "casebook-bench",
        connections,
        requests,
        failures,
        per_second: requests as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        cpu_per_request: cpu / requests.max(1) as u32,
        growth: None,
    })
}

/// Samples the size of the file `wal` every 10 ms until `stop` is set; the
/// thread returns the largest size seen.
pub fn sample_wal(
    wal: std::path::PathBuf,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak.max(std::fs::metadata(&wal).map_or(0, |m| m.len()))
    })
}

/// Cases are shared by the workers of one run; targets keep their position
/// across runs so each active session is completed only once.
fn case_ref(case: &Case) -> Case {
    let target = match &case.target {
        Target::Fixed(p) => Target::Fixed(p.clone()),
        Target::EachOnce(p, at, until) => Target::EachOnce(p.clone(), at.clone(), until.clone()),
        Target::Cycle(p, at) => Target::Cycle(p.clone(), at.clone()),
    };
    Case {
        name: case.name,
        method: case.method.clone(),
        target,
        body: case.body,
        auth: case.auth.clone(),
    }
}
