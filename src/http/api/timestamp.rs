//! Times as RFC 3339 text, exactly as chrono's serde writes them (UTC with
//! `Z`; fraction digits as needed: none, 3, 6 or 9), without the formatting
//! machinery behind it: a page of 25 sessions writes about 150 times, and
//! chrono's `Display`-based path was a tenth of the page's CPU.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; 30];
    match write(at, &mut text) {
        Some(len) => serializer.serialize_str(
            // Only ASCII digits and separators were written.
            std::str::from_utf8(&text[..len]).expect("ASCII"),
        ),
        None => serde::Serialize::serialize(at, serializer),
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

/// Writes `at` into `text` and returns its length; `None` for what chrono
/// writes differently (years outside 0–9999, leap seconds).
fn write(at: &DateTime<Utc>, text: &mut [u8; 30]) -> Option<usize> {
    let year = at.year();
    let nano = at.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None;
    }
    let fraction = match nano {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    let mut len = 0;
    let mut put = |before: Option<u8>, value: u32, digits: u32| {
        if let Some(separator) = before {
            text[len] = separator;
            len += 1;
        }
        for place in (0..digits).rev() {
            text[len] = b'0' + (value / 10u32.pow(place) % 10) as u8;
            len += 1;
        }
    };
    put(None, year as u32, 4);
    put(Some(b'-'), at.month(), 2);
    put(Some(b'-'), at.day(), 2);
    put(Some(b'T'), at.hour(), 2);
    put(Some(b':'), at.minute(), 2);
    put(Some(b':'), at.second(), 2);
    if let Some((value, digits)) = fraction {
        put(Some(b'.'), value, digits);
    }
    text[len] = b'Z';
    Some(len + 1)
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
