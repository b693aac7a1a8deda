//! The same cases driven by `wrk` (Debian's package), so another load
//! generator confirms, or not, what our own driver measures. The server's
//! CPU time is read from /proc around the run, as for our driver.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

use crate::load::{Case, Row, Server, Target};

const SCRIPT: &str = include_str!("wrk.lua");

/// What the script's `done` prints, after `BENCH `.
#[derive(Deserialize)]
struct Summary {
    requests: usize,
    duration_us: u64,
    non2xx: usize,
    socket_errors: usize,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

pub struct Wrk {
    script: PathBuf,
    workdir: PathBuf,
}

impl Wrk {
    /// Checks that `wrk` runs and writes the script into `workdir`.
    pub fn find(workdir: &Path) -> anyhow::Result<Wrk> {
        Command::new("wrk")
            .arg("--version")
            .output()
            .context("wrk is not installed: apt-get install -y wrk (or pass --no-wrk)")?;
        let script = workdir.join("casebook-bench.lua");
        std::fs::write(&script, SCRIPT)?;
        Ok(Wrk {
            script,
            workdir: workdir.to_owned(),
        })
    }

    /// Runs `case` with wrk on `connections` connections for `duration`.
    pub async fn run(
        &self,
        server: &Server,
        case: &Case,
        connections: usize,
        duration: Duration,
    ) -> anyhow::Result<Row> {
        let (paths, once) = match &case.target {
            Target::Fixed(path) => (vec![path.clone()], false),
            Target::Cycle(paths, _) => (paths.to_vec(), false),
            Target::EachOnce(..) => (case.target.take_share(), true),
        };
        let list = self.workdir.join("paths.txt");
        std::fs::write(&list, paths.join("\n") + "\n")?;
        let threads = connections.clamp(1, 2);
        let mut command = Command::new("wrk");
        command
            .arg(format!("-t{threads}"))
            .arg(format!("-c{connections}"))
            .arg(format!("-d{}s", duration.as_secs().max(1)))
            .arg("--timeout")
            .arg("10s")
            .arg("-s")
            .arg(&self.script)
            .arg(&server.base)
            .env("BENCH_METHOD", case.method.as_str())
            .env("BENCH_AUTH", case.auth.as_deref().unwrap_or(""))
            .env("BENCH_BODY", case.body.unwrap_or(""))
            .env("BENCH_ONCE", if once { "1" } else { "0" })
            .env("BENCH_THREADS", threads.to_string())
            .env("BENCH_PATHS", &list);
        let cpu_before = server.cpu_time()?;
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || command.output()).await??;
        let elapsed = started.elapsed();
        let cpu = server.cpu_time()?.saturating_sub(cpu_before);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary: Summary = stdout
            .lines()
            .find_map(|line| line.strip_prefix("BENCH "))
            .with_context(|| {
                format!(
                    "wrk printed no summary: {stdout}{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
            .and_then(|json| Ok(serde_json::from_str(json)?))?;
        let seconds = if summary.duration_us > 0 {
            summary.duration_us as f64 / 1e6
        } else {
            elapsed.as_secs_f64()
        };
        let us = Duration::from_micros;
        Ok(Row {
            case: case.name,
            driver: "wrk",
            connections,
            requests: summary.requests,
            failures: summary.non2xx + summary.socket_errors,
            per_second: summary.requests as f64 / seconds,
            p50: us(summary.p50_us),
            p99: us(summary.p99_us),
            max: us(summary.max_us),
            cpu_per_request: cpu / summary.requests.max(1) as u32,
            wal_peak_bytes: None,
        })
    }
}
