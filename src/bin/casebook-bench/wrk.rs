//! The same cases driven by `wrk` (Debian's package), so another load
//! generator confirms, or not, what our own driver measures. The server's
//! CPU time is read from /proc around the run, as for our driver.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

use crate::load::{Case, Row, Server, Target, cpu_time};

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

    /// Runs `case` with wrk on `connections` connections for `duration`:
    /// one wrk per server, each with its share of the connections (and, for
    /// a case that uses each path once, of the paths), all at once.
    pub async fn run(
        &self,
        servers: &[Server],
        case: &Case,
        connections: usize,
        duration: Duration,
    ) -> anyhow::Result<Row> {
        let (paths, once) = match &case.target {
            Target::Fixed(path) => (vec![path.clone()], false),
            Target::Cycle(paths, _) => (paths.to_vec(), false),
            Target::EachOnce(..) => (case.target.take_share(), true),
        };
        let n = servers.len().min(connections).max(1);
        let mut commands = Vec::new();
        for (i, server) in servers.iter().take(n).enumerate() {
            let share = connections / n + usize::from(i < connections % n);
            let paths: Vec<String> = if once {
                paths.iter().skip(i).step_by(n).cloned().collect()
            } else {
                paths.clone()
            };
            let list = self.workdir.join(format!("paths-{i}.txt"));
            std::fs::write(&list, paths.join("\n") + "\n")?;
            let threads = share.clamp(1, 2);
            let mut command = Command::new("wrk");
            command
                .arg(format!("-t{threads}"))
                .arg(format!("-c{share}"))
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
            commands.push(command);
        }
        let cpu_before = cpu_time(servers)?;
        let started = Instant::now();
        let runs: Vec<_> = commands
            .into_iter()
            .map(|mut command| tokio::task::spawn_blocking(move || command.output()))
            .collect();
        let mut summaries = Vec::new();
        for run in runs {
            summaries.push(summary(&run.await??)?);
        }
        let elapsed = started.elapsed();
        let cpu = cpu_time(servers)?.saturating_sub(cpu_before);
        let requests: usize = summaries.iter().map(|s| s.requests).sum();
        let longest = summaries.iter().map(|s| s.duration_us).max().unwrap_or(0);
        let seconds = if longest > 0 {
            longest as f64 / 1e6
        } else {
            elapsed.as_secs_f64()
        };
        // One wrk's percentiles cannot be merged with another's exactly:
        // with several servers, the worst of them is reported.
        let worst = |f: fn(&Summary) -> u64| {
            Duration::from_micros(summaries.iter().map(f).max().unwrap_or(0))
        };
        Ok(Row {
            case: case.name,
            driver: "wrk",
            connections,
            requests,
            failures: summaries.iter().map(|s| s.non2xx + s.socket_errors).sum(),
            per_second: requests as f64 / seconds,
            p50: worst(|s| s.p50_us),
            p99: worst(|s| s.p99_us),
            max: worst(|s| s.max_us),
            cpu_per_request: cpu / requests.max(1) as u32,
            growth: None,
        })
    }
}

/// What the script printed after `BENCH `.
fn summary(output: &std::process::Output) -> anyhow::Result<Summary> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("BENCH "))
        .with_context(|| {
            format!(
                "wrk printed no summary: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .and_then(|json| Ok(serde_json::from_str(json)?))
}
