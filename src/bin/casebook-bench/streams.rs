//! `--streams`: what live streams cost. Opens streams on `GET /api/stream`
//! against the release server and measures the time for one change to reach
//! all of them (fan-out), the latency of writes with and without streams
//! open, and the server's resident memory per idle stream.

use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Client;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::load::Server;

/// Streams open during the fan-out and write-latency measurements.
const FAN_OUT: usize = 300;
/// Streams open for the memory measurement (the default `--max-streams`).
const IDLE: usize = 1000;
/// Changes whose fan-out is timed.
const ROUNDS: usize = 20;
/// Completions timed with and without streams.
const WRITES: usize = 200;

/// One `session` event as a stream received it: which session, and when.
struct Arrival {
    session: String,
    at: Instant,
}

pub async fn measure(server: &Server, token: &str, mut active: Vec<Uuid>) -> anyhow::Result<()> {
    let needed = ROUNDS + 2 * WRITES;
    anyhow::ensure!(
        active.len() >= needed,
        "need {needed} active sessions; seed more (--sessions)"
    );
    let client = Client::builder().pool_max_idle_per_host(64).build()?;
    let auth = format!("Bearer {token}");
    let complete = {
        let client = client.clone();
        let auth = auth.clone();
        let base = server.base.clone();
        move |id: Uuid| {
            let request = client
                .post(format!("{base}/api/sessions/{id}/complete"))
                .header("Authorization", &auth)
                .json(&serde_json::json!({ "outcome": "resolved" }))
                .send();
            async move {
                let started = Instant::now();
                let response = request.await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "complete: {}",
                    response.status()
                );
                anyhow::Ok(started.elapsed())
            }
        }
    };

    let mut writes = Vec::new();
    for id in active.drain(..WRITES) {
        writes.push(complete(id).await?);
    }
    println!(
        "write latency, no stream open: {}",
        percentiles(&mut writes)
    );

    let rss_before = server.rss_kib()?;
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let mut streams = Vec::new();
    for _ in 0..FAN_OUT {
        streams.push(open(&client, server, &auth, arrivals.clone()).await?);
    }

    let mut all = Vec::new();
    let mut median = Vec::new();
    for id in active.drain(..ROUNDS) {
        while arrived.try_recv().is_ok() {}
        let sent = Instant::now();
        complete(id).await?;
        let wanted = id.to_string();
        let mut times = Vec::with_capacity(FAN_OUT);
        while times.len() < FAN_OUT {
            let arrival = tokio::time::timeout(Duration::from_secs(10), arrived.recv())
                .await
                .context("a stream missed a change")?
                .context("streams ended")?;
            if arrival.session == wanted {
                times.push(arrival.at - sent);
            }
        }
        times.sort();
        median.push(times[FAN_OUT / 2]);
        all.push(*times.last().unwrap());
    }
    println!(
        "fan-out to {FAN_OUT} streams, {ROUNDS} changes: every stream had it after {} (median stream: {})",
        percentiles(&mut all),
        percentiles(&mut median)
    );

    let mut writes = Vec::new();
    for id in active.drain(..WRITES) {
        writes.push(complete(id).await?);
        while arrived.try_recv().is_ok() {}
    }
    println!(
        "write latency, {FAN_OUT} streams open: {}",
        percentiles(&mut writes)
    );

    for _ in FAN_OUT..IDLE {
        streams.push(open(&client, server, &auth, arrivals.clone()).await?);
    }
    // Let the server settle, then read its resident memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server.rss_kib()?;
    let per_stream = (rss_after.saturating_sub(rss_before) * 1024) as f64 / IDLE as f64;
    println!(
        "memory: {rss_before} KiB resident before, {rss_after} KiB with {IDLE} idle streams: {:.1} KiB per stream",
        per_stream / 1024.0
    );
    for stream in streams {
        stream.abort();
    }
    Ok(())
}

/// Opens one stream and forwards each `session` event's session id.
async fn open(
    client: &Client,
    server: &Server,
    auth: &str,
    arrivals: mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut response = client
        .get(format!("{}/api/stream", server.base))
        .header("Authorization", auth)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "stream: {}",
        response.status()
    );
    Ok(tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let at = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if let Some(i) = event.find("data: {\"id\":\"") {
                    let start = i + "data: {\"id\":\"".len();
                    let session = event[start..start + 36].to_string();
                    let _ = arrivals.send(Arrival { session, at });
                }
            }
        }
    }))
}

fn percentiles(times: &mut [Duration]) -> String {
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*times.last().unwrap())
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
