//! The export's memory claim: a fresh server streams every session as CSV
//! and as JSON Lines while its peak resident memory (VmHWM) is read before
//! and after. Memory that stays flat while the export grows is the claim.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use crate::load::Server;

pub struct ExportRun {
    pub format: &'static str,
    pub bytes: u64,
    pub lines: u64,
    pub seconds: f64,
    pub peak_before_kib: u64,
    pub peak_after_kib: u64,
}

impl ExportRun {
    pub fn growth_kib(&self) -> u64 {
        self.peak_after_kib.saturating_sub(self.peak_before_kib)
    }

    /// Peak-memory growth per byte exported: near zero when streamed,
    /// about one or more if the export were built in memory.
    pub fn ratio(&self) -> f64 {
        (self.growth_kib() * 1024) as f64 / self.bytes.max(1) as f64
    }

    pub fn line(&self) -> String {
        format!(
            "export {:<5} {:>9} lines {:>12} bytes in {:>6.2} s  peak RSS {:>7} KiB -> {:>7} KiB  growth {:>6} KiB  growth/bytes {:.4}",
            self.format,
            self.lines,
            self.bytes,
            self.seconds,
            self.peak_before_kib,
            self.peak_after_kib,
            self.growth_kib(),
            self.ratio()
        )
    }
}

/// Exports everything in each format, each from a server of its own.
pub async fn measure(binary: &Path, url: &str, token: &str) -> anyhow::Result<Vec<ExportRun>> {
    let client = reqwest::Client::new();
    let mut runs = Vec::new();
    for format in ["csv", "jsonl"] {
        let server = Server::start(binary, url).context("starting the server")?;
        // Warm up: the first request pays for pools and statements.
        client
            .get(format!("{}/api/sessions?limit=1", server.base))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?;
        let peak_before_kib = server.peak_rss_kib()?;
        let started = Instant::now();
        let mut response = client
            .get(format!(
                "{}/api/sessions/export?format={format}",
                server.base
            ))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?;
        let (mut bytes, mut lines) = (0u64, 0u64);
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        let run = ExportRun {
            format,
            bytes,
            lines,
            seconds: started.elapsed().as_secs_f64(),
            peak_before_kib,
            peak_after_kib: server.peak_rss_kib()?,
        };
        eprintln!("{}", run.line());
        runs.push(run);
    }
    Ok(runs)
}
