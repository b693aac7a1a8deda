use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Where the service gets the time, so tests can control it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock, at microsecond precision: what both databases keep, so a
/// time reads back exactly as it was written.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(now)
    }
}

/// A clock that moves only when told: for tests of expiry and lockouts
/// without sleeping. Starts at a microsecond-precise instant, like the
/// system clock, so times read back from the database compare equal.
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        let start = start
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(start);
        Self(std::sync::Mutex::new(start))
    }

    /// Starts now.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
