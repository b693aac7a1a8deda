//! The geometry of the reports page's charts, drawn as server-rendered SVG
//! by `templates/reports.html`: numbers in, positions and labels out. No
//! colours here: each shape carries a class that assets/app.css colours for
//! the light and the dark theme.

use chrono::NaiveDate;

use crate::domain::{Outcome, Report};

/// Every chart is drawn on a 360-unit-wide canvas, about a phone's width,
/// so its text stays readable at 375 px; wider screens scale it up to the
/// stylesheet's maximum.
pub const WIDTH: f64 = 360.0;
const PLOT_LEFT: f64 = 44.0;
const PLOT_RIGHT: f64 = WIDTH - 8.0;
const PLOT_TOP: f64 = 12.0;
const PLOT_HEIGHT: f64 = 150.0;
const AXIS_LABELS: f64 = 22.0;
/// At most this many week labels under a chart, so they never overlap.
const MAX_WEEK_LABELS: usize = 6;

/// A number for an SVG attribute.
fn n(value: f64) -> String {
    format!("{value:.1}")
}

pub struct OutcomeBar {
    pub label: &'static str,
    pub class: &'static str,
    pub count: u64,
    /// Baseline of the row's text.
    pub text_y: String,
    pub bar_y: String,
    pub bar_width: String,
    pub count_x: String,
}

/// Horizontal bars, one per outcome.
pub struct OutcomeChart {
    pub height: String,
    pub bar_x: String,
    pub bar_height: String,
    pub bars: Vec<OutcomeBar>,
}

const OUTCOME_LABELS: f64 = 128.0;
const OUTCOME_ROW: f64 = 28.0;

pub fn outcome_chart(report: &Report) -> OutcomeChart {
    let max = report
        .outcomes
        .iter()
        .map(|o| o.count)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    // Room for the count after the longest bar.
    let span = WIDTH - OUTCOME_LABELS - 44.0;
    let bars = report
        .outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let top = 6.0 + i as f64 * OUTCOME_ROW;
            let width = span * o.count as f64 / max;
            OutcomeBar {
                label: o.outcome.label(),
                class: outcome_class(o.outcome),
                count: o.count,
                text_y: n(top + 15.0),
                bar_y: n(top + 2.0),
                bar_width: n(width),
                count_x: n(OUTCOME_LABELS + width + 6.0),
            }
        })
        .collect();
    OutcomeChart {
        height: n(12.0 + OUTCOME_ROW * Outcome::ALL.len() as f64),
        bar_x: n(OUTCOME_LABELS),
        bar_height: n(18.0),
        bars,
    }
}

fn outcome_class(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Resolved => "bar-resolved",
        Outcome::Escalated => "bar-escalated",
        Outcome::Workaround => "bar-workaround",
        Outcome::Unresolved => "bar-unresolved",
        Outcome::Cancelled => "bar-cancelled",
        Outcome::ResolvedExternally => "bar-resolved-externally",
    }
}

pub struct Bar {
    pub class: &'static str,
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
}

pub struct Tick {
    pub y: String,
    pub label: String,
}

pub struct XLabel {
    pub x: String,
    pub label: String,
}

/// A horizontal line across the plot: a reference value.
pub struct RefLine {
    pub class: &'static str,
    pub y: String,
    pub label: String,
    /// Where the label sits: the median's on the left, the 90th
    /// percentile's on the right, so they never overlap when close.
    pub label_x: String,
    pub label_class: &'static str,
}

/// Vertical bars over the weeks of a report, with a value axis.
pub struct WeekChart {
    pub height: String,
    pub left: String,
    pub right: String,
    pub baseline: String,
    pub label_y: String,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub weeks: Vec<XLabel>,
    pub lines: Vec<RefLine>,
}

/// A scale from 0 to a round top with round steps (1, 2 or 5 × 10ⁿ).
struct Scale {
    top: f64,
    step: f64,
}

impl Scale {
    fn new(max: f64, whole: bool) -> Self {
        let rough = (max / 4.0).max(if whole { 1.0 } else { f64::MIN_POSITIVE });
        let magnitude = 10f64.powf(rough.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= rough)
            .unwrap_or(10.0 * magnitude);
        let step = if whole { step.max(1.0).round() } else { step };
        let top = ((max / step).ceil() * step).max(step);
        Scale { top, step }
    }

    fn y(&self, value: f64) -> f64 {
        PLOT_TOP + PLOT_HEIGHT * (1.0 - value / self.top)
    }

    fn ticks(&self, unit: &str) -> Vec<Tick> {
        let count = (self.top / self.step).round() as usize;
        (0..=count)
            .map(|i| {
                let value = self.step * i as f64;
                Tick {
                    y: n(self.y(value)),
                    label: format!("{}{unit}", trim_number(value)),
                }
            })
            .collect()
    }
}

/// 2.0 → "2", 2.5 → "2.5".
fn trim_number(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_string()
}

fn week_chart(weeks: &[NaiveDate], scale: &Scale, unit: &str) -> WeekChart {
    let every = weeks.len().div_ceil(MAX_WEEK_LABELS).max(1);
    let slot = (PLOT_RIGHT - PLOT_LEFT) / weeks.len().max(1) as f64;
    WeekChart {
        height: n(PLOT_TOP + PLOT_HEIGHT + AXIS_LABELS),
        left: n(PLOT_LEFT),
        right: n(PLOT_RIGHT),
        baseline: n(scale.y(0.0)),
        label_y: n(PLOT_TOP + PLOT_HEIGHT + 15.0),
        bars: Vec::new(),
        ticks: scale.ticks(unit),
        weeks: weeks
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0)
            .map(|(i, week)| XLabel {
                x: n(PLOT_LEFT + slot * (i as f64 + 0.5)),
                label: week.format("%b %-d").to_string(),
            })
            .collect(),
        lines: Vec::new(),
    }
}

/// Sessions opened and closed per week: two bars a week.
pub fn volume_chart(report: &Report) -> WeekChart {
    let weeks: Vec<NaiveDate> = report.by_week.iter().map(|w| w.week).collect();
    let max = report
        .by_week
        .iter()
        .map(|w| w.opened.max(w.closed))
        .max()
        .unwrap_or(0) as f64;
    let scale = Scale::new(max, true);
    let mut chart = week_chart(&weeks, &scale, "");
    let slot = (PLOT_RIGHT - PLOT_LEFT) / weeks.len().max(1) as f64;
    let bar = (slot * 0.8 / 2.0).max(0.5);
    for (i, week) in report.by_week.iter().enumerate() {
        let start = PLOT_LEFT + slot * i as f64 + slot * 0.1;
        for (k, (value, class)) in [(week.opened, "bar-opened"), (week.closed, "bar-closed")]
            .into_iter()
            .enumerate()
        {
            let top = scale.y(value as f64);
            chart.bars.push(Bar {
                class,
                x: n(start + bar * k as f64),
                y: n(top),
                width: n(bar),
                height: n(scale.y(0.0) - top),
            });
        }
    }
    chart
}

/// The unit durations are drawn in: minutes, hours or days, whichever
/// keeps the numbers small.
pub struct DurationUnit {
    pub seconds: f64,
    pub suffix: &'static str,
    pub name: &'static str,
}

pub fn duration_unit(max_seconds: f64) -> DurationUnit {
    if max_seconds < 2.0 * 3_600.0 {
        DurationUnit {
            seconds: 60.0,
            suffix: " min",
            name: "minutes",
        }
    } else if max_seconds < 3.0 * 86_400.0 {
        DurationUnit {
            seconds: 3_600.0,
            suffix: " h",
            name: "hours",
        }
    } else {
        DurationUnit {
            seconds: 86_400.0,
            suffix: " d",
            name: "days",
        }
    }
}

/// The median time to close per week, with the whole range's median and
/// 90th percentile as lines across.
pub fn time_chart(report: &Report) -> (WeekChart, DurationUnit) {
    let weeks: Vec<NaiveDate> = report.by_week.iter().map(|w| w.week).collect();
    let ttc = &report.time_to_close;
    let max_seconds = report
        .by_week
        .iter()
        .filter_map(|w| w.median_seconds)
        .chain(ttc.p90_seconds)
        .fold(0.0, f64::max);
    let unit = duration_unit(max_seconds);
    let scale = Scale::new(max_seconds / unit.seconds, false);
    let mut chart = week_chart(&weeks, &scale, unit.suffix);
    let slot = (PLOT_RIGHT - PLOT_LEFT) / weeks.len().max(1) as f64;
    for (i, week) in report.by_week.iter().enumerate() {
        let Some(median) = week.median_seconds else {
            continue;
        };
        let top = scale.y(median / unit.seconds);
        chart.bars.push(Bar {
            class: "bar-time",
            x: n(PLOT_LEFT + slot * i as f64 + slot * 0.2),
            y: n(top),
            width: n((slot * 0.6).max(0.5)),
            height: n(scale.y(0.0) - top),
        });
    }
    for (value, class, name, label_x, label_class) in [
        (
            ttc.median_seconds,
            "line-median",
            "median",
            PLOT_LEFT + 4.0,
            "chart-line-label label-start",
        ),
        (
            ttc.p90_seconds,
            "line-p90",
            "90th percentile",
            PLOT_RIGHT,
            "chart-line-label",
        ),
    ] {
        if let Some(seconds) = value {
            chart.lines.push(RefLine {
                class,
                label_x: n(label_x),
                label_class,
                y: n(scale.y(seconds / unit.seconds)),
                label: format!(
                    "{name} {}{}",
                    trim_number(seconds / unit.seconds),
                    unit.suffix
                ),
            });
        }
    }
    (chart, unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_end_on_round_numbers_above_the_largest_value() {
        let s = Scale::new(37.0, true);
        assert_eq!((s.top, s.step), (40.0, 10.0));
        let s = Scale::new(0.0, true);
        assert_eq!((s.top, s.step), (1.0, 1.0));
        let s = Scale::new(3.0, true);
        assert_eq!((s.top, s.step), (3.0, 1.0));
        let s = Scale::new(1.3, false);
        assert_eq!(s.step, 0.5);
        assert_eq!(s.top, 1.5);
    }

    #[test]
    fn the_largest_bar_reaches_the_top_and_zero_sits_on_the_baseline() {
        let s = Scale::new(40.0, true);
        assert_eq!(s.y(40.0), PLOT_TOP);
        assert_eq!(s.y(0.0), PLOT_TOP + PLOT_HEIGHT);
    }

    #[test]
    fn durations_use_the_unit_that_keeps_numbers_small() {
        assert_eq!(duration_unit(90.0 * 60.0).name, "minutes");
        assert_eq!(duration_unit(30.0 * 3_600.0).name, "hours");
        assert_eq!(duration_unit(10.0 * 86_400.0).name, "days");
    }
}
