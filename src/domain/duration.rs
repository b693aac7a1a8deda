/// How long something took, for people: "42 s", "12 min", "3 h 5 min",
/// "2 d 4 h" — the two largest units. Pages and summaries both use it.
pub fn human_duration(d: chrono::Duration) -> String {
    let minutes = d.num_minutes();
    match minutes {
        i64::MIN..1 => format!("{} s", d.num_seconds().max(0)),
        1..60 => format!("{minutes} min"),
        60..1_440 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} d {} h", minutes / 1_440, (minutes % 1_440) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;
    use chrono::Duration;

    #[test]
    fn durations_use_the_two_largest_units() {
        assert_eq!(human_duration(Duration::seconds(-3)), "0 s");
        assert_eq!(human_duration(Duration::seconds(42)), "42 s");
        assert_eq!(human_duration(Duration::minutes(12)), "12 min");
        assert_eq!(human_duration(Duration::minutes(185)), "3 h 5 min");
        assert_eq!(human_duration(Duration::hours(52)), "2 d 4 h");
    }
}
