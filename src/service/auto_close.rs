//! The stale-session policy: active sessions without activity for a set time
//! are closed as unresolved by Casebook itself. Off unless configured.
//!
//! Several processes may share one database; a lease row makes one of them
//! the runner at a time, and the conditional write of a completion keeps a
//! session from being closed twice even if two runs overlapped.

use std::time::Duration;

use chrono::TimeDelta;
use uuid::Uuid;

use super::{ServiceError, SessionService};
use crate::domain::{Actor, Outcome, OutcomeNotes, Role, Surface, Username};

/// The name Casebook's own actions are attributed to; reserved, so no
/// account can have it.
pub const SYSTEM_ACTOR: &str = Username::RESERVED;

const LEASE: &str = "auto_close";
/// Sessions closed per query; a run repeats until none is left.
const BATCH: u32 = 100;

/// Closes idle active sessions; `tick` is one run, `run` repeats it.
pub struct AutoClose {
    service: SessionService,
    after: Duration,
    /// This process, as the lease knows it.
    holder: String,
}

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCloseRun {
    /// Another process holds the lease.
    NotTheRunner,
    Ran {
        closed: usize,
    },
}

impl AutoClose {
    pub fn new(service: SessionService, after: Duration) -> Self {
        Self {
            service,
            after,
            holder: Uuid::now_v7().to_string(),
        }
    }

    /// How often to look: often enough that a session is closed soon after
    /// it passes the limit, at most every five minutes.
    pub fn interval(&self) -> Duration {
        (self.after / 4).clamp(Duration::from_secs(1), Duration::from_secs(300))
    }

    /// The lease outlives a few missed runs, then another process takes over.
    fn lease_length(&self) -> TimeDelta {
        TimeDelta::from_std(self.interval() * 3).unwrap_or(TimeDelta::MAX)
    }

    /// The outcome notes: "Closed automatically after 14 days without activity".
    pub fn note(&self) -> String {
        format!(
            "Closed automatically after {} without activity",
            describe(self.after)
        )
    }

    /// One run: takes the lease (or finds another process has it) and
    /// closes every active session idle since before `now - after`.
    pub async fn tick(&self) -> Result<AutoCloseRun, ServiceError> {
        let now = self.service.now();
        let store = self.service.store();
        if !store
            .try_lease(LEASE, &self.holder, now, now + self.lease_length())
            .await?
        {
            return Ok(AutoCloseRun::NotTheRunner);
        }
        let idle_since = now - TimeDelta::from_std(self.after).unwrap_or(TimeDelta::MAX);
        let system = Actor::with_role(SYSTEM_ACTOR, Role::Admin);
        let mut closed = 0;
        loop {
            let ids = store.idle_active(idle_since, BATCH).await?;
            for &id in &ids {
                // Read again just before closing: activity since the query
                // keeps the session open. (A change in the moment between
                // this read and the write can still lose; it is then
                // closed, and its owner can reopen it.)
                match self.service.get(id).await {
                    Ok(s) if s.updated_at < idle_since => {}
                    Ok(_) | Err(ServiceError::NotFound) => continue,
                    Err(e) => return Err(e),
                }
                let notes = OutcomeNotes::parse(Some(&self.note()))
                    .expect("the note fits the outcome notes limit");
                match self
                    .service
                    .complete(&system, Surface::System, id, Outcome::Unresolved, notes)
                    .await
                {
                    Ok(_) => closed += 1,
                    // Closed (or gone) meanwhile by someone else: nothing to do.
                    Err(ServiceError::Conflict(_) | ServiceError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            if ids.len() < BATCH as usize {
                break;
            }
        }
        if let Some(metrics) = self.service.metrics() {
            metrics.count_auto_close_run(now);
        }
        Ok(AutoCloseRun::Ran { closed })
    }

    /// Ticks forever, every `interval`; errors are logged and retried.
    pub async fn run(self) {
        let mut every = tokio::time::interval(self.interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match self.tick().await {
                Ok(AutoCloseRun::Ran { closed }) if closed > 0 => {
                    tracing::info!(closed, "closed idle sessions automatically");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not close idle sessions"),
            }
        }
    }
}

/// "14 days", "12 hours", "90 minutes": the setting in the largest whole unit.
fn describe(after: Duration) -> String {
    let seconds = after.as_secs();
    let (n, unit) = match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::describe;
    use std::time::Duration;

    #[test]
    fn the_setting_is_described_in_its_largest_whole_unit() {
        let d = |s| describe(Duration::from_secs(s));
        assert_eq!(d(14 * 86_400), "14 days");
        assert_eq!(d(86_400), "1 day");
        assert_eq!(d(36 * 3_600), "36 hours");
        assert_eq!(d(90 * 60), "90 minutes");
        assert_eq!(d(61), "61 seconds");
    }
}
