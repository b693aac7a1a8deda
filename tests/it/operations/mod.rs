//! Running Casebook as a service: metrics, export, the stale-session policy.

mod auto_close;
mod export;
mod metrics;

/// The value of the sample `series` (name and labels exactly as written)
/// in a Prometheus text exposition.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a numeric sample"))
}
