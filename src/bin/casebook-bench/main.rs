//! `casebook-bench`: builds a database of many realistic sessions, starts the
//! release `casebook` binary on it, drives it over loopback and prints, per
//! case and concurrency, throughput, latency percentiles, the server's own CPU
//! time per request and the ratio to `/healthz` measured in the same run.
//!
//! Every case runs twice: with a small reqwest client of our own, then with
//! `wrk` (a Lua script gives each request its session and body), so another
//! load generator confirms the figures; both read the server's CPU time from
//! /proc around the run. A sustained case then writes for 20 s (notes, and
//! completions of sessions seeded for it) and reports what grew: SQLite's WAL
//! file sampled every 10 ms, or the WAL PostgreSQL wrote and its database's
//! growth.

mod export;
mod load;
mod pg_copy;
mod report;
mod seed;
mod streams;
mod wrk;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Measure Casebook at scale; writes docs/BENCHMARKS.md")]
struct Args {
    /// How many sessions to create before measuring.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,

    /// A postgres:// URL to measure PostgreSQL; default: a fresh SQLite file.
    #[arg(long)]
    database_url: Option<String>,

    /// Seconds each case runs at each concurrency.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,

    /// Concurrent connections, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    connections: Vec<usize>,

    /// The server binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/casebook")]
    server: PathBuf,

    /// Where to write the Markdown report ("-" for none).
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    out: String,

    /// A seeded database to start from instead of seeding. SQLite: when the
    /// file does not exist yet, the fresh seed is saved there (with the ids
    /// the cases need beside it, in PATH.ids.json). PostgreSQL: the database
    /// of --database-url is the seed, and PATH.ids.json says whether it was
    /// seeded yet (delete it to seed again). Either way the run works on a
    /// copy, since the complete case consumes active sessions.
    #[arg(long, value_name = "PATH")]
    reuse: Option<PathBuf>,

    /// Run only the cases whose name contains one of these (comma-separated);
    /// /healthz always runs, for the ratio.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,

    /// Skip the second run of every case with wrk.
    #[arg(long)]
    no_wrk: bool,

    /// Seconds of each sustained write case (notes, then completions) at
    /// the largest concurrency, with what grows watched; 0 skips them.
    #[arg(long, default_value_t = 20)]
    sustained_seconds: u64,

    /// Active sessions seeded (after the other cases, so they do not change
    /// them) for the sustained completions: each is completed once, so
    /// there must be more than the run completes (the run fails otherwise).
    #[arg(long, default_value_t = 240_000)]
    sustained_sessions: usize,

    /// Measure only the streamed export (CSV and JSON Lines of every
    /// session): the server's peak memory before and after, and the ratio
    /// of its growth to the bytes exported. Writes no report.
    #[arg(long)]
    export: bool,

    /// Casebook processes to start on the one database, the connections
    /// spread over them (PostgreSQL only: SQLite serves from one process).
    #[arg(long, default_value_t = 1)]
    processes: usize,

    /// Measure only live streams (GET /api/stream): the time for one change
    /// to reach 300 open streams, write latency with and without them, and
    /// the server's memory per idle stream with 1,000 open. Writes no report.
    #[arg(long)]
    streams: bool,
}

/// Where the report's hand-written part starts.
const NOTES_HEADING: &str = "## What changed and what it bought";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let workdir = tempfile_dir()?;
    let db = workdir.join("bench.db");
    let (url, seeded) = match (&args.database_url, &args.reuse) {
        (None, Some(saved)) if saved.exists() => {
            eprintln!("reusing the seeded database {}", saved.display());
            std::fs::copy(saved, &db).context("copying the seeded database")?;
            (sqlite_url(&db), seed::Seeded::load(&ids_path(saved))?)
        }
        (None, saved) => {
            let url = sqlite_url(&db);
            let seeded = seed_into(&url, args.sessions).await?;
            if let Some(saved) = saved {
                // The store's close checkpointed everything into the file.
                let wal = std::fs::metadata(wal_path(&db)).map_or(0, |m| m.len());
                anyhow::ensure!(
                    wal == 0,
                    "the seeded database's WAL still holds {wal} bytes"
                );
                std::fs::copy(&db, saved).context("saving the seeded database")?;
                seeded.save(&ids_path(saved))?;
                eprintln!("saved the seeded database as {}", saved.display());
            }
            (url, seeded)
        }
        (Some(url), None) => (url.clone(), seed_into(url, args.sessions).await?),
        (Some(url), Some(saved)) => {
            let ids = ids_path(saved);
            let seeded = if ids.exists() {
                eprintln!("reusing the seeded database {}", redact(url));
                seed::Seeded::load(&ids)?
            } else {
                let seeded = seed_into(url, args.sessions).await?;
                seeded.save(&ids)?;
                seeded
            };
            let copy = pg_copy::fresh_copy(url).await?;
            eprintln!("working on the copy {}", redact(&copy));
            (copy, seeded)
        }
    };

    let token = seed::token(&url)
        .await
        .context("creating the bench account")?;
    if args.export {
        let runs = export::measure(&args.server, &url, &token).await?;
        for run in &runs {
            println!("{}", run.line());
        }
        return Ok(());
    }
    let wrk = if args.no_wrk {
        None
    } else {
        Some(wrk::Wrk::find(&workdir)?)
    };
    anyhow::ensure!(
        args.processes >= 1 && (args.processes == 1 || args.database_url.is_some()),
        "--processes above 1 needs --database-url postgres://…: SQLite is served by one process"
    );
    let servers = (0..args.processes)
        .map(|_| load::Server::start(&args.server, &url).context("starting the server"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let server = &servers[0];
    if args.streams {
        return streams::measure(server, &token, seeded.active.clone()).await;
    }
    let mut cases = load::cases(server, &seeded, &token).await?;
    if !args.only.is_empty() {
        cases.retain(|c| {
            c.name == "GET /healthz" || args.only.iter().any(|o| c.name.contains(o.as_str()))
        });
    }
    let drivers = if wrk.is_some() { 2 } else { 1 };
    let mut rows = Vec::new();
    let duration = Duration::from_secs_f64(args.seconds);
    for (run, &connections) in args.connections.iter().enumerate() {
        for case in &cases {
            let runs_left = (args.connections.len() - run) * drivers;
            case.target.ration(runs_left);
            let row = load::run(&servers, case, connections, duration).await?;
            eprintln!("{}", report::line(&row));
            let per_second = row.per_second;
            rows.push(row);
            if let Some(wrk) = &wrk {
                case.target.ration(runs_left - 1);
                // wrk keeps counting time after its connections run out of
                // sessions to complete: a run that would, is made shorter,
                // judged by the rate the bench's own client just measured.
                let lasts = case.target.lasts_at(per_second * 1.25);
                let duration = lasts.map_or(duration, |lasts| duration.min(lasts));
                let row = wrk.run(&servers, case, connections, duration).await?;
                eprintln!("{}", report::line(&row));
                rows.push(row);
            }
        }
    }
    let mut sustained = Vec::new();
    if args.sustained_seconds > 0 {
        let connections = args.connections.iter().copied().max().unwrap_or(32);
        eprintln!(
            "seeding {} active sessions for the sustained writes",
            args.sustained_sessions
        );
        let active = seed::seed_active(&url, args.sustained_sessions).await?;
        for case in load::sustained_cases(&active, &token) {
            case.target.ration(1);
            let duration = Duration::from_secs(args.sustained_seconds);
            let run = async {
                match &wrk {
                    Some(wrk) => wrk.run(&servers, &case, connections, duration).await,
                    None => load::run(&servers, &case, connections, duration).await,
                }
            };
            let row = if args.database_url.is_some() {
                // PostgreSQL's WAL lives with its server: what the run wrote
                // to it, and what the database grew by, read around the run.
                let (wal_before, size_before) = pg_copy::wal_position_and_size(&url).await?;
                let row = run.await;
                let (wal_after, size_after) = pg_copy::wal_position_and_size(&url).await?;
                let mut row = row?;
                row.growth = Some(load::Growth::Postgres {
                    wal_written: wal_after - wal_before,
                    database_grew: size_after - size_before,
                });
                row
            } else {
                let stop = Arc::new(AtomicBool::new(false));
                let sampler = load::sample_wal(wal_path(&db), stop.clone());
                let row = run.await;
                stop.store(true, Ordering::Relaxed);
                let peak = sampler.join().expect("the WAL sampler ends");
                let mut row = row?;
                row.growth = Some(load::Growth::SqliteWalPeak(peak));
                row
            };
            // wrk goes on counting time after its connections ran out of
            // sessions, so the rate would be understated without a word.
            anyhow::ensure!(
                !matches!(case.target, load::Target::EachOnce(..))
                    || row.requests + connections < active.len(),
                "{}: the {} active sessions ran out before {} s; \
                 pass a larger --sustained-sessions",
                case.name,
                active.len(),
                args.sustained_seconds
            );
            eprintln!("{}", report::line(&row));
            sustained.push(row);
        }
    }
    // Summed over the processes: what the machine gave the servers.
    let peak_kib = servers
        .iter()
        .map(load::Server::peak_rss_kib)
        .sum::<anyhow::Result<u64>>()?;
    let meta = report::Meta {
        backend: if args.database_url.is_some() {
            "PostgreSQL".into()
        } else {
            "SQLite".into()
        },
        sessions: seeded.sessions,
        processes: args.processes,
        seconds: args.seconds,
        seed_seconds: seeded.took.as_secs_f64(),
        sustained_seconds: args.sustained_seconds,
        sustained_sessions: args.sustained_sessions,
    };
    let table = report::markdown(&rows, &sustained, peak_kib, &meta);
    println!("{table}");
    if args.out != "-" {
        // The hand-written notes under NOTES_HEADING outlive each new table.
        let notes = std::fs::read_to_string(&args.out)
            .ok()
            .and_then(|old| old.find(NOTES_HEADING).map(|i| old[i..].to_string()))
            .unwrap_or_default();
        let report = format!("{table}\n{notes}");
        std::fs::write(&args.out, report).with_context(|| format!("writing {}", args.out))?;
        eprintln!("wrote {}", args.out);
    }
    Ok(())
}

async fn seed_into(url: &str, sessions: usize) -> anyhow::Result<seed::Seeded> {
    if url.starts_with("postgres") {
        pg_copy::ensure_exists(url).await?;
    }
    eprintln!("seeding {sessions} sessions into {}", redact(url));
    let seeded = seed::seed(url, sessions).await.context("seeding")?;
    eprintln!("seeded in {:.1} s", seeded.took.as_secs_f64());
    if url.starts_with("postgres") {
        // What autovacuum does some minutes after a bulk load: without
        // statistics the planner reads every match of a search's words.
        pg_copy::analyze(url).await?;
    }
    Ok(seeded)
}

fn sqlite_url(db: &std::path::Path) -> String {
    format!("sqlite://{}", db.display())
}

fn wal_path(db: &std::path::Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn ids_path(db: &std::path::Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".ids.json");
    PathBuf::from(name)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("casebook-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("postgres://…@{host}"),
        None => url.to_string(),
    }
}
