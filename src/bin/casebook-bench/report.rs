//! The results as a log line and as the Markdown table of docs/BENCHMARKS.md.

use std::fmt::Write;

use crate::load::Row;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn line(row: &Row) -> String {
    format!(
        "{:<36} c={:<3} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  cpu {:>6.1} µs/req{}",
        row.case,
        row.connections,
        row.per_second,
        ms(row.p50),
        ms(row.p99),
        ms(row.max),
        row.cpu_per_request.as_secs_f64() * 1e6,
        if row.failures > 0 {
            format!("  {} FAILED", row.failures)
        } else {
            String::new()
        }
    )
}

pub struct Meta {
    pub backend: String,
    pub sessions: usize,
    pub seconds: f64,
    pub seed_seconds: f64,
}

pub fn markdown(rows: &[Row], peak_kib: u64, meta: &Meta) -> String {
    let mut out = String::new();
    let machine = machine();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Measured by `cargo build --release && cargo run --release --bin casebook-bench` on {machine}, \
         {} with {} sessions (seeded in {:.0} s through the service), {} s per case. \
         Server CPU is the server process's user + system time over the case divided by the \
         requests served; the ratio is throughput relative to `/healthz` at the same concurrency, \
         measured in the same run.\n",
        meta.backend, meta.sessions, meta.seed_seconds, meta.seconds
    );
    let _ = writeln!(
        out,
        "| case | conns | requests | req/s | p50 ms | p99 ms | max ms | server CPU µs/req | × healthz | failed |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let ceiling = rows
            .iter()
            .find(|r| r.case == "GET /healthz" && r.connections == row.connections)
            .map(|r| r.per_second)
            .unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {} |",
            row.case,
            row.connections,
            row.requests,
            row.per_second,
            ms(row.p50),
            ms(row.p99),
            ms(row.max),
            row.cpu_per_request.as_secs_f64() * 1e6,
            row.per_second / ceiling,
            row.failures
        );
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
