//! Times as text, written digit by digit into a buffer on the stack. A
//! history page shows about 150 times and an API page writes about 150:
//! `core::fmt`'s padded integers and one allocation per text were a sixth
//! of the history page's CPU.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

/// A short ASCII text (at most [`ShortText::CAPACITY`] bytes) without an
/// allocation.
#[derive(Clone, Copy)]
pub struct ShortText {
    bytes: [u8; ShortText::CAPACITY],
    len: usize,
}

/// Only times are written here, in digits, ASCII letters, spaces and
/// `:-+.,`: nothing HTML gives a meaning to, so pages show it as it is.
impl askama::filters::HtmlSafe for ShortText {}

impl ShortText {
    pub const CAPACITY: usize = 32;

    pub fn new() -> Self {
        ShortText {
            bytes: [0; Self::CAPACITY],
            len: 0,
        }
    }

    /// Appends ASCII text; what does not fit is cut (callers write known
    /// lengths, far below the capacity).
    pub fn push_str(&mut self, text: &str) -> &mut Self {
        let text = text.as_bytes();
        debug_assert!(text.is_ascii());
        debug_assert!(
            !text.iter().any(|b| b"<>&\"'".contains(b)),
            "pages show it unescaped"
        );
        let end = (self.len + text.len()).min(Self::CAPACITY);
        self.bytes[self.len..end].copy_from_slice(&text[..end - self.len]);
        self.len = end;
        self
    }

    /// Appends the last `digits` decimal digits of `value`, zero-padded.
    pub fn padded(&mut self, value: u32, digits: u32) -> &mut Self {
        self.digits(value.into(), digits as usize)
    }

    /// Appends `value` in as many digits as it needs.
    pub fn number(&mut self, value: u64) -> &mut Self {
        self.digits(value, value.checked_ilog10().unwrap_or(0) as usize + 1)
    }

    /// The last `count` digits of `value`, written from the right.
    fn digits(&mut self, mut value: u64, count: usize) -> &mut Self {
        let end = self.len + count;
        for at in (self.len..end).rev() {
            if at < Self::CAPACITY {
                self.bytes[at] = b'0' + (value % 10) as u8;
            }
            value /= 10;
        }
        self.len = end.min(Self::CAPACITY);
        self
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written, and cuts fall between bytes of it.
        std::str::from_utf8(&self.bytes[..self.len]).expect("ASCII")
    }
}

impl Default for ShortText {
    fn default() -> Self {
        Self::new()
    }
}

impl From<&str> for ShortText {
    fn from(text: &str) -> Self {
        let mut short = ShortText::new();
        short.push_str(text);
        short
    }
}

impl fmt::Display for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Whether `at` is written by the functions below; chrono words the rest
/// (years outside 0–9999, leap seconds).
pub fn is_plain(at: &DateTime<Utc>) -> bool {
    let at = at.naive_utc();
    (0..=9999).contains(&at.year()) && at.nanosecond() < 1_000_000_000
}

/// `2026-03-02` then `separator` then `14:05`, for a plain `at`.
pub fn date_and_minute(at: &DateTime<Utc>, separator: &str) -> ShortText {
    // The naive form once: each field of a `DateTime` converts it again.
    date_and_minute_of(&at.naive_utc(), separator)
}

fn date_and_minute_of(at: &NaiveDateTime, separator: &str) -> ShortText {
    let mut text = ShortText::new();
    text.padded(at.year() as u32, 4)
        .push_str("-")
        .padded(at.month(), 2)
        .push_str("-")
        .padded(at.day(), 2)
        .push_str(separator)
        .padded(at.hour(), 2)
        .push_str(":")
        .padded(at.minute(), 2);
    text
}

/// RFC 3339 in UTC with `Z`, as chrono writes it, for a plain `at`: with
/// its fraction in 3, 6 or 9 digits as needed when `fraction` is true.
pub fn rfc3339(at: &DateTime<Utc>, fraction: bool) -> ShortText {
    let at = at.naive_utc();
    let mut text = date_and_minute_of(&at, "T");
    text.push_str(":").padded(at.second(), 2);
    let nano = at.nanosecond();
    if fraction && nano != 0 {
        text.push_str(".");
        match nano {
            n if n % 1_000_000 == 0 => text.padded(n / 1_000_000, 3),
            n if n % 1_000 == 0 => text.padded(n / 1_000, 6),
            n => text.padded(n, 9),
        };
    }
    text.push_str("Z");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_as_many_digits_as_they_need() {
        for n in [0, 7, 10, 99, 100, 12_345, u64::from(u32::MAX)] {
            assert_eq!(ShortText::new().number(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn text_past_the_capacity_is_cut_not_a_panic() {
        let long = "x".repeat(40);
        assert_eq!(ShortText::from(long.as_str()).as_str(), &long[..32]);
    }
}
