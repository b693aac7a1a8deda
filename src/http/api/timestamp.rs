//! Times as RFC 3339 text, exactly as chrono's serde writes them (UTC with
//! `Z`; fraction digits as needed: none, 3, 6 or 9), without the formatting
//! machinery behind it: a page of 25 sessions writes about 150 times, and
//! chrono's `Display`-based path was a tenth of the page's CPU.

use chrono::{DateTime, Utc};
use serde::Serializer;

use crate::http::time_text;

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    if time_text::is_plain(at) {
        serializer.serialize_str(time_text::rfc3339(at, true).as_str())
    } else {
        serde::Serialize::serialize(at, serializer)
    }
}

pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn ours(at: &DateTime<Utc>) -> String {
        let mut json = serde_json::Serializer::new(Vec::new());
        serialize(at, &mut json).unwrap();
        String::from_utf8(json.into_inner()).unwrap()
    }

    #[test]
    fn each_precision_and_the_edges_read_as_chrono_writes_them() {
        let second = Utc.with_ymd_and_hms(2026, 11, 24, 9, 5, 7).unwrap();
        for at in [
            second,
            second + chrono::TimeDelta::milliseconds(120),
            second + chrono::TimeDelta::microseconds(325_383),
            second + chrono::TimeDelta::nanoseconds(1),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
        ] {
            assert_eq!(ours(&at), serde_json::to_string(&at).unwrap());
        }
        assert_eq!(
            ours(&(second + chrono::TimeDelta::microseconds(325_383))),
            "\"2026-11-24T09:05:07.325383Z\""
        );
    }

    proptest! {
        #[test]
        fn any_time_reads_as_chrono_writes_it(micros in -62_000_000_000_000_000i64..=253_402_300_799_000_000) {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            prop_assert_eq!(ours(&at), serde_json::to_string(&at).unwrap());
        }
    }
}
