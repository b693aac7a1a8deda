//! Fills a database through Casebook's own service, with a simulated clock so
//! the sessions spread over half a year like a real team's history.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use casebook::domain::{
    Actor, Finding, NewSession, NoteText, Outcome, OutcomeNotes, Password, Role, Surface,
    TokenName, Username,
};
use casebook::service::{AccountService, Clock, NewUser, SessionService, SystemClock};
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    pub took: Duration,
    pub sessions: usize,
    /// Active sessions, for the complete case (each used once).
    pub active: Vec<Uuid>,
    /// A sample of every status, for the card case.
    pub sample: Vec<Uuid>,
}

impl Seeded {
    /// The ids the cases need, saved beside a reusable seeded database.
    pub fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec(self)?)?;
        Ok(())
    }

    pub fn load(path: &std::path::Path) -> anyhow::Result<Seeded> {
        let bytes =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// A personal token of the admin account `bench` (created when missing), so
/// the load generator may read every session and complete any.
pub async fn token(url: &str) -> anyhow::Result<String> {
    let stores = casebook::store::connect_all(url).await?;
    let accounts = AccountService::new(stores.accounts.clone(), Arc::new(SystemClock));
    let username = Username::parse("bench").map_err(anyhow::Error::msg)?;
    if accounts.user(&username).await.is_err() {
        accounts
            .create_user(NewUser {
                username: username.clone(),
                display_name: None,
                password: Password::parse("benchmark-password-not-for-people")
                    .map_err(anyhow::Error::msg)?,
                role: Role::Admin,
            })
            .await?;
    }
    let name = TokenName::parse("casebook-bench").map_err(anyhow::Error::msg)?;
    let (_, secret) = accounts.create_token(&username, name).await?;
    stores.sessions.close().await;
    Ok(secret.expose().to_string())
}

/// Advances a little at every reading, so every event has its own time.
struct SimClock {
    micros: AtomicI64,
    step: i64,
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let at = self.micros.fetch_add(self.step, Ordering::Relaxed);
        DateTime::from_timestamp_micros(at).unwrap_or_default()
    }
}

const SYSTEMS: [&str; 10] = [
    "db01",
    "api-gateway",
    "payments",
    "kafka",
    "vpn",
    "ldap",
    "nginx",
    "redis",
    "k8s node",
    "backup job",
];
const SYMPTOMS: [&str; 8] = [
    "high latency",
    "disk full",
    "timeouts",
    "TLS handshake failures",
    "memory leak",
    "5xx spike",
    "login loop",
    "replication lag",
];
const CUSTOMERS: [&str; 8] = [
    "ACME Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Soylent",
];
const ENGINEERS: [&str; 5] = ["dana", "sam", "alex", "kim", "lee"];
const STEPS: [&str; 6] = [
    "Check the dashboards for the last 24 hours",
    "Read the service logs around the first report",
    "Compare the configuration with the last known good version",
    "Reproduce from a clean client",
    "Check recent deploys and certificate expiry",
    "Confirm with the customer",
];
const FINDINGS: [&str; 4] = [
    "errors start right after the 02:00 deploy",
    "p99 latency doubled, CPU normal",
    "certificate expires in 3 days",
    "nothing unusual",
];

/// A cheap deterministic mix of `i`, so runs are comparable.
fn pick<T: Copy>(list: &[T], i: usize, salt: u64) -> T {
    let mut x = (i as u64)
        .wrapping_add(salt)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    list[(x % list.len() as u64) as usize]
}

/// The engineers' accounts (sessions are owned by accounts), created
/// disabled and without a password where missing.
async fn engineers(url: &str) -> anyhow::Result<()> {
    let stores = casebook::store::connect_all(url).await?;
    let accounts = AccountService::new(stores.accounts.clone(), Arc::new(SystemClock));
    for name in ENGINEERS {
        let username = Username::parse(name).map_err(anyhow::Error::msg)?;
        if accounts.user(&username).await.is_err() {
            accounts.create_disabled_user(username, None).await?;
        }
    }
    stores.sessions.close().await;
    Ok(())
}

pub async fn seed(url: &str, count: usize) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    engineers(url).await?;
    let store = casebook::store::connect(url).await?;
    let half_year = 183 * 24 * 3600 * 1_000_000_i64;
    let clock = Arc::new(SimClock {
        micros: AtomicI64::new(Utc::now().timestamp_micros() - half_year),
        step: (half_year / (count.max(1) as i64 * 6)).max(1),
    });
    let service = SessionService::new(store.clone(), clock);
    let workers = 8;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let mut active = Vec::new();
            let mut sample = Vec::new();
            for i in (worker..count).step_by(workers) {
                let id = seed_one(&service, i).await?;
                if i % 20 >= 2 && i % 20 < 8 {
                    active.push(id);
                }
                if i % 97 == 0 {
                    sample.push(id);
                }
            }
            anyhow::Ok((active, sample))
        }));
    }
    let mut seeded = Seeded {
        took: Duration::ZERO,
        sessions: count,
        active: Vec::new(),
        sample: Vec::new(),
    };
    for task in tasks {
        let (active, sample) = task.await??;
        seeded.active.extend(active);
        seeded.sample.extend(sample);
    }
    store.close().await;
    seeded.took = started.elapsed();
    Ok(seeded)
}

/// `count` more active sessions (prepared and started, nothing else), for
/// the sustained write case; their ids.
pub async fn seed_active(url: &str, count: usize) -> anyhow::Result<Vec<Uuid>> {
    engineers(url).await?;
    let store = casebook::store::connect(url).await?;
    let service = SessionService::new(store.clone(), Arc::new(SystemClock));
    let workers = 8;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (worker..count).step_by(workers) {
                let actor = Actor::new(pick(&ENGINEERS, i, 1));
                let system = pick(&SYSTEMS, i, 2);
                let title = format!("Backlog item {i} on {system}");
                let new = NewSession::parse(Some(&title), None, None, None, &[] as &[String])
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let session = service.prepare(&actor, Surface::Api, new).await?;
                service.start(&actor, Surface::Api, session.id).await?;
                ids.push(session.id);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await??);
    }
    store.close().await;
    Ok(ids)
}

/// One session: 10 % prepared, 30 % active, 60 % completed in every outcome.
async fn seed_one(service: &SessionService, i: usize) -> anyhow::Result<Uuid> {
    let actor = Actor::new(pick(&ENGINEERS, i, 1));
    let (system, symptom) = (pick(&SYSTEMS, i, 2), pick(&SYMPTOMS, i, 3));
    let title = format!("{symptom} on {system}");
    let problem = format!(
        "Customer reports {symptom} on {system} since this morning. \
         Several users are affected; the status page is still green."
    );
    let reference = format!("INC-{}", 10_000 + i);
    let steps: Vec<String> = (0..3).map(|k| pick(&STEPS, i + k, 4).to_string()).collect();
    let new = NewSession::parse(
        Some(&title),
        Some(&problem),
        Some(&reference),
        Some(pick(&CUSTOMERS, i, 5)),
        &steps,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let session = service.prepare(&actor, Surface::Api, new).await?;
    if i % 20 < 2 {
        return Ok(session.id);
    }
    let session = service
        .start(&actor, Surface::Workspace, session.id)
        .await?;
    let finding = Finding::parse(Some(pick(&FINDINGS, i, 6))).map_err(anyhow::Error::msg)?;
    service
        .check_step(
            &actor,
            Surface::Workspace,
            session.id,
            session.steps[0].id,
            finding,
        )
        .await?;
    if i % 3 == 0 {
        let note = NoteText::parse("Escalated internally; waiting for the vendor.")
            .map_err(anyhow::Error::msg)?;
        service
            .add_note(&actor, Surface::Workspace, session.id, note)
            .await?;
    }
    if i % 20 < 8 {
        return Ok(session.id);
    }
    let outcome = Outcome::ALL[i % Outcome::ALL.len()];
    let notes = if i % 2 == 0 {
        Some("Confirmed with the customer; monitoring for a day.")
    } else {
        None
    };
    let via = if i % 4 == 0 {
        Surface::History
    } else {
        Surface::Workspace
    };
    service
        .complete(
            &actor,
            via,
            session.id,
            outcome,
            OutcomeNotes::parse(notes).map_err(anyhow::Error::msg)?,
        )
        .await?;
    Ok(session.id)
}
