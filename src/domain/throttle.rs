//! The sign-in throttle's rule, as pure arithmetic on times: after too many
//! failures a key (a username or a client address) is locked out for a while
//! that doubles with each lockout, up to a cap, and is forgotten after a
//! quiet spell. Never forever: the worst case is one cap-long wait.

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures that trigger a lockout.
    pub max_failures: u32,
    /// Failures count while each comes less than this after the previous one
    /// (or after the end of the last lockout); a longer quiet spell forgives all.
    pub window: TimeDelta,
    pub first_lockout: TimeDelta,
    pub max_lockout: TimeDelta,
}

/// What counting one sign-in attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Not locked: the attempt was counted (as a failure, until a success
    /// takes it back) and the password may be checked.
    Counted(Throttle),
    /// Locked: nothing was counted and the password must not be checked.
    Locked(Throttle),
}

impl ThrottlePolicy {
    /// One attempt at `now`: refused while the key is locked, otherwise
    /// counted before the password is checked, so that concurrent guesses
    /// cannot all slip in under one reading of the count.
    pub fn attempt(&self, current: Option<&Throttle>, now: DateTime<Utc>) -> Attempt {
        match current {
            Some(locked) if locked.retry_after(now).is_some() => Attempt::Locked(*locked),
            _ => Attempt::Counted(self.after_failure(current, now)),
        }
    }

    /// The state of a key after one more failure at `now`.
    pub fn after_failure(&self, current: Option<&Throttle>, now: DateTime<Utc>) -> Throttle {
        let carried = current.filter(|t| now - t.quiet_since() < self.window);
        let (failures, lockouts) = carried.map_or((0, 0), |t| (t.failures, t.lockouts));
        let failures = failures + 1;
        if failures < self.max_failures {
            return Throttle {
                failures,
                lockouts,
                last_failure_at: now,
                locked_until: carried.and_then(|t| t.locked_until),
            };
        }
        let lockouts = lockouts + 1;
        Throttle {
            failures: 0,
            lockouts,
            last_failure_at: now,
            locked_until: Some(now + self.lockout(lockouts)),
        }
    }

    /// How long the `n`th lockout in a row lasts: doubling, capped.
    pub fn lockout(&self, n: u32) -> TimeDelta {
        let factor = 1i32.checked_shl(n.saturating_sub(1)).unwrap_or(i32::MAX);
        self.first_lockout
            .checked_mul(factor)
            .map_or(self.max_lockout, |d| d.min(self.max_lockout))
    }
}

/// What the store remembers about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures since the last lockout.
    pub failures: u32,
    /// Lockouts in a row; each doubles the next.
    pub lockouts: u32,
    pub last_failure_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Throttle {
    /// How long attempts must wait, if the key is locked at `now`.
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        self.locked_until
            .filter(|&until| until > now)
            .map(|until| until - now)
    }

    /// The quiet spell starts at the last failure or when the lockout ends,
    /// whichever is later, so waiting out a lockout does not forgive it.
    fn quiet_since(&self) -> DateTime<Utc> {
        self.locked_until.map_or(self.last_failure_at, |until| {
            until.max(self.last_failure_at)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: 5,
            window: TimeDelta::minutes(15),
            first_lockout: TimeDelta::seconds(30),
            max_lockout: TimeDelta::minutes(15),
        }
    }

    fn fail(times: u32, start: Option<Throttle>, now: DateTime<Utc>) -> Throttle {
        (0..times)
            .fold(start, |t, _| Some(policy().after_failure(t.as_ref(), now)))
            .unwrap()
    }

    #[test]
    fn the_fifth_failure_locks_for_30_seconds() {
        let now = Utc::now();
        let four = fail(4, None, now);
        assert_eq!(four.retry_after(now), None);
        let five = fail(1, Some(four), now);
        assert_eq!(five.retry_after(now), Some(TimeDelta::seconds(30)));
    }

    #[test]
    fn lockouts_in_a_row_double_up_to_15_minutes() {
        let p = policy();
        let lengths: Vec<i64> = (1..=8).map(|n| p.lockout(n).num_seconds()).collect();
        assert_eq!(lengths, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(p.lockout(u32::MAX), TimeDelta::minutes(15));
    }

    #[test]
    fn failing_again_right_after_a_lockout_doubles_the_next_one() {
        let start = Utc::now();
        let first = fail(5, None, start);
        let after = first.locked_until.unwrap();
        let second = fail(5, Some(first), after);
        assert_eq!(second.retry_after(after), Some(TimeDelta::seconds(60)));
    }

    #[test]
    fn attempts_are_counted_until_a_lockout_and_refused_during_it() {
        let now = Utc::now();
        let mut state = None;
        for n in 1..=5 {
            match policy().attempt(state.as_ref(), now) {
                Attempt::Counted(next) => state = Some(next),
                Attempt::Locked(_) => panic!("attempt {n} refused"),
            }
        }
        assert!(matches!(
            policy().attempt(state.as_ref(), now),
            Attempt::Locked(t) if Some(t) == state
        ));
    }

    #[test]
    fn a_quiet_window_forgives_failures_and_lockouts() {
        let start = Utc::now();
        let locked = fail(5, None, start);
        let later = locked.locked_until.unwrap() + TimeDelta::minutes(15);
        let fresh = fail(1, Some(locked), later);
        assert_eq!((fresh.failures, fresh.lockouts), (1, 0));
        assert_eq!(fail(3, Some(fresh), later).locked_until, None);
        assert!(fail(4, Some(fresh), later).locked_until.is_some());
    }
}
