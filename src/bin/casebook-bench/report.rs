//! The results as a log line and as the Markdown table of docs/BENCHMARKS.md.

use std::fmt::Write;

use crate::load::{Growth, Row};

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn line(row: &Row) -> String {
    format!(
        "{:<46} {:<14} c={:<3} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  cpu {:>6.1} µs/req{}{}",
        row.case,
        row.driver,
        row.connections,
        row.per_second,
        ms(row.p50),
        ms(row.p99),
        ms(row.max),
        row.cpu_per_request.as_secs_f64() * 1e6,
        match row.growth {
            Some(Growth::SqliteWalPeak(peak)) => format!("  WAL peak {:.1} MiB", mib(peak)),
            Some(Growth::Postgres {
                wal_written,
                database_grew,
            }) => format!(
                "  WAL written {:.1} MiB, database grew {:.1} MiB",
                signed_mib(wal_written),
                signed_mib(database_grew)
            ),
            None => String::new(),
        },
        if row.failures > 0 {
            format!("  {} FAILED", row.failures)
        } else {
            String::new()
        }
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn signed_mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn us(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub struct Meta {
    pub backend: String,
    pub sessions: usize,
    /// Casebook processes serving the one database.
    pub processes: usize,
    pub seconds: f64,
    pub seed_seconds: f64,
    pub sustained_seconds: u64,
    pub sustained_sessions: usize,
}

pub fn markdown(rows: &[Row], sustained: &[Row], peak_kib: u64, meta: &Meta) -> String {
    let mut out = String::new();
    let machine = machine();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Measured by `casebook-bench` (see the README) on {machine}, {} with {} sessions \
         (seeded in {:.0} s through the service), {} s per case and driver. Every case runs \
         twice at each concurrency: first with the bench's own client (`bench`), then with \
         `wrk` (Debian's package; `src/bin/casebook-bench/wrk.lua` gives each request its path \
         and body). Server CPU is the server process's user + system time (from \
         `/proc/<pid>/stat`) over the run divided by the requests served; the ratio is \
         throughput relative to `/healthz` with the same driver and concurrency.\n",
        meta.backend, meta.sessions, meta.seed_seconds, meta.seconds
    );
    if meta.processes > 1 {
        let _ = writeln!(
            out,
            "{} Casebook processes served the one database, each driver's connections spread \
             over them in turn (wrk: one wrk per process, its p50, p99 and max the worst of \
             them). Server CPU and memory are summed over the processes. On this machine's two \
             cores, PostgreSQL included, this shows what coordination costs, not how Casebook \
             scales.\n",
            meta.processes
        );
    }
    let _ = writeln!(
        out,
        "| case | conns | bench req/s | wrk req/s | bench p50 / p99 ms | wrk p50 / p99 ms | bench CPU µs/req | wrk CPU µs/req | × healthz (bench / wrk) | failed (bench / wrk) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ceiling = |driver: &str, connections: usize| {
        rows.iter()
            .find(|r| {
                r.case == "GET /healthz" && r.driver == driver && r.connections == connections
            })
            .map_or(f64::NAN, |r| r.per_second)
    };
    for own in rows.iter().filter(|r| r.driver != "wrk") {
        let other = rows
            .iter()
            .find(|r| r.driver == "wrk" && r.case == own.case && r.connections == own.connections);
        let cell = |f: &dyn Fn(&Row) -> String| other.map_or("—".to_string(), f);
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {:.2} / {:.2} | {} | {:.0} | {} | {:.2} / {} | {} / {} |",
            own.case,
            own.connections,
            own.per_second,
            cell(&|r| format!("{:.0}", r.per_second)),
            ms(own.p50),
            ms(own.p99),
            cell(&|r| format!("{:.2} / {:.2}", ms(r.p50), ms(r.p99))),
            us(own.cpu_per_request),
            cell(&|r| format!("{:.0}", us(r.cpu_per_request))),
            own.per_second / ceiling(own.driver, own.connections),
            cell(&|r| format!("{:.2}", r.per_second / ceiling("wrk", r.connections))),
            own.failures,
            cell(&|r| r.failures.to_string()),
        );
    }
    if !sustained.is_empty() {
        let postgres = sustained
            .iter()
            .any(|r| matches!(r.growth, Some(Growth::Postgres { .. })));
        let (watched, growth_header, growth_rule) = if postgres {
            (
                "the WAL the server wrote and the database's growth read around each run",
                "WAL written MiB | database grew MiB",
                "---:|---:",
            )
        } else {
            (
                "the WAL file's size sampled every 10 ms (limit: the default 64 MiB)",
                "WAL peak MiB",
                "---:",
            )
        };
        let _ = writeln!(
            out,
            "\n### Sustained writes\n\n{} s of each at {} connections (driver: {}), on {} active \
             sessions seeded for them after the cases above; {watched}.\n",
            meta.sustained_seconds,
            sustained[0].connections,
            sustained[0].driver,
            meta.sustained_sessions
        );
        let _ = writeln!(
            out,
            "| case | requests | req/s | p50 ms | p99 ms | max ms | server CPU µs/req | {growth_header} | failed |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|{growth_rule}|---:|"
        );
        for row in sustained {
            let growth = match row.growth {
                Some(Growth::SqliteWalPeak(peak)) => format!("{:.1}", mib(peak)),
                Some(Growth::Postgres {
                    wal_written,
                    database_grew,
                }) => format!(
                    "{:.1} | {:.1}",
                    signed_mib(wal_written),
                    signed_mib(database_grew)
                ),
                None => "–".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {growth} | {} |",
                row.case,
                row.requests,
                row.per_second,
                ms(row.p50),
                ms(row.p99),
                ms(row.max),
                us(row.cpu_per_request),
                row.failures
            );
        }
    }
    let _ = writeln!(
        out,
        "\nServer peak resident memory (VmHWM): {:.1} MiB.",
        peak_kib as f64 / 1024.0
    );
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores ({cpu})")
}
