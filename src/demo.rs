//! `casebook seed --demo`: fills an empty database with realistic sessions in
//! every status and outcome, through the service so each has its timeline.
//! Their owners are sample engineers with accounts of their own: disabled and
//! without a password, so nobody signs in as them, and since a username is
//! never reused, nobody adopts their sessions by choosing one of their names.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    Actor, DisplayName, Finding, ListQuery, NewSession, NoteText, Outcome, OutcomeNotes, Surface,
    Username,
};
use crate::service::{AccountService, Clock, SessionService, SystemClock};
use crate::store::Stores;

/// The sample engineers: username and display name. (Not `dana`, the name
/// the README's examples give a real account.)
pub const ENGINEERS: [(&str, &str); 5] = [
    ("alex", "Alex Moreno"),
    ("noor", "Noor Haddad"),
    ("lee", "Lee Chen"),
    ("priya", "Priya Raman"),
    ("sam", "Sam Okafor"),
];

/// A clock the seeder sets before each action, so the sample history spreads
/// over the past weeks instead of all happening in the same second.
struct DemoClock(Mutex<DateTime<Utc>>);

impl DemoClock {
    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("demo clock lock") = at;
    }
}

impl Clock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("demo clock lock")
    }
}

/// How a sample session ends up.
enum End {
    Prepared,
    Active,
    Closed(Outcome, &'static str),
    /// Closed, then reopened: still active, with both in its timeline.
    Reopened(Outcome),
}

struct Sample {
    title: &'static str,
    problem: &'static str,
    reference: &'static str,
    customer: &'static str,
    owner: &'static str,
    steps: &'static [&'static str],
    end: End,
}

const fn sample(
    title: &'static str,
    problem: &'static str,
    reference: &'static str,
    customer: &'static str,
    owner: &'static str,
    steps: &'static [&'static str],
    end: End,
) -> Sample {
    Sample {
        title,
        problem,
        reference,
        customer,
        owner,
        steps,
        end,
    }
}

const NET: &[&str] = &[
    "Reproduce from the customer's network",
    "Capture a packet trace",
    "Compare with a known-good site",
];
const DB: &[&str] = &[
    "Check replication lag",
    "Look for long-running queries",
    "Review recent schema changes",
];
const AUTH: &[&str] = &[
    "Confirm the identity provider's status",
    "Check clock skew on the app servers",
    "Decode a failing token",
];
const DISK: &[&str] = &[
    "Find the largest directories",
    "Check log rotation",
    "Free space and confirm alerts clear",
];
const APP: &[&str] = &[
    "Collect logs around the incident",
    "Check the last deployment",
    "Reproduce on staging",
];

/// Oldest first; the newest is created an hour ago.
fn samples() -> Vec<Sample> {
    use End::*;
    use Outcome::*;
    vec![
        sample(
            "Nightly export job times out",
            "The 02:00 CSV export has failed three nights running with a timeout after 30 minutes.",
            "INC-2041",
            "Northwind Traders",
            "noor",
            DB,
            Closed(
                Resolved,
                "Added an index on orders.created_at; export finishes in 4 minutes.",
            ),
        ),
        sample(
            "SSO login loop for EU tenants",
            "Users in the EU region are redirected back to the login page after signing in.",
            "INC-2044",
            "Contoso EU",
            "sam",
            AUTH,
            Closed(
                Escalated,
                "Identity provider misconfiguration on their side; escalated to the vendor with traces.",
            ),
        ),
        sample(
            "Webhook deliveries delayed by hours",
            "Order webhooks arrive 2–3 hours late since Tuesday.",
            "CASE-88121",
            "Fabrikam",
            "priya",
            APP,
            Closed(
                Workaround,
                "Switched them to the secondary queue until the consumer backlog is fixed.",
            ),
        ),
        sample(
            "Disk full on build agent 7",
            "Builds on agent 7 fail with 'No space left on device'.",
            "OPS-512",
            "Internal CI",
            "lee",
            DISK,
            Closed(
                Resolved,
                "Docker image cache had grown to 400 GB; pruned and added a weekly job.",
            ),
        ),
        sample(
            "Intermittent 502s from the API gateway",
            "About 1% of API calls return 502 during business hours.",
            "INC-2050",
            "Adventure Works",
            "noor",
            NET,
            Closed(
                Unresolved,
                "Could not reproduce after a week of tracing; monitoring stays in place.",
            ),
        ),
        sample(
            "Customer asks to stop the data migration",
            "Migration to the new cluster was requested, then put on hold by the customer.",
            "CASE-88190",
            "Tailspin Toys",
            "alex",
            DB,
            Closed(
                Cancelled,
                "Customer postponed the migration to next quarter.",
            ),
        ),
        sample(
            "Mobile push notifications missing",
            "iOS users stopped receiving push notifications after the app update.",
            "INC-2057",
            "Wingtip Toys",
            "sam",
            APP,
            Closed(
                ResolvedExternally,
                "Apple's push service incident; recovered on its own, nothing changed on our side.",
            ),
        ),
        sample(
            "Slow dashboard for large accounts",
            "The analytics dashboard takes over 20 seconds to load for accounts with 1M+ events.",
            "CASE-88230",
            "Litware",
            "priya",
            DB,
            Closed(
                Workaround,
                "Enabled pre-aggregation for this account; a general fix is planned.",
            ),
        ),
        sample(
            "VPN drops every 10 minutes",
            "Site-to-site VPN renegotiates every 10 minutes and drops traffic for 20 seconds.",
            "NET-330",
            "Proseware",
            "lee",
            NET,
            Closed(
                Resolved,
                "Mismatched IKE lifetimes; aligned both ends at 8 hours.",
            ),
        ),
        sample(
            "Password reset emails land in spam",
            "Reset emails are marked as spam by Outlook recipients.",
            "CASE-88255",
            "Contoso",
            "alex",
            APP,
            Closed(
                Resolved,
                "Published the missing DKIM record for the new sending domain.",
            ),
        ),
        sample(
            "Certificate expired on the staging API",
            "Staging API clients fail TLS verification.",
            "OPS-518",
            "Internal",
            "noor",
            NET,
            Closed(
                Resolved,
                "Renewed and moved the certificate to automatic renewal.",
            ),
        ),
        sample(
            "Duplicate invoices generated",
            "Some customers received two invoices for the same month.",
            "INC-2063",
            "Blue Yonder Airlines",
            "sam",
            DB,
            Closed(
                Escalated,
                "Race in the billing scheduler; handed to the billing team with a reproduction.",
            ),
        ),
        sample(
            "Report numbers differ from the export",
            "The monthly report shows 3% fewer orders than the raw export.",
            "CASE-88301",
            "Northwind Traders",
            "priya",
            DB,
            Closed(
                Unresolved,
                "Difference traced to timezone boundaries; customer accepted the explanation.",
            ),
        ),
        sample(
            "Printer integration request withdrawn",
            "Customer asked for help connecting label printers, then chose another vendor.",
            "CASE-88320",
            "Wide World Importers",
            "lee",
            APP,
            Closed(Cancelled, ""),
        ),
        sample(
            "Upload fails for files over 100 MB",
            "Large uploads fail at 99% with a network error.",
            "INC-2071",
            "Fabrikam",
            "alex",
            NET,
            Closed(
                Workaround,
                "Raised the proxy body limit for their tenant; chunked uploads are on the roadmap.",
            ),
        ),
        sample(
            "CDN serving stale assets",
            "After the release, some users still get last week's JavaScript.",
            "INC-2074",
            "Adventure Works",
            "noor",
            NET,
            Closed(
                ResolvedExternally,
                "CDN provider purged their edge caches after our ticket.",
            ),
        ),
        sample(
            "Search results missing new products",
            "Products added today do not appear in search.",
            "CASE-88377",
            "Tailspin Toys",
            "sam",
            DB,
            Reopened(Resolved),
        ),
        sample(
            "Login slow on Monday mornings",
            "Sign-in takes 15 seconds between 08:00 and 09:00 on Mondays.",
            "INC-2080",
            "Contoso",
            "priya",
            AUTH,
            Closed(
                Resolved,
                "Session store was undersized; doubled the cache nodes.",
            ),
        ),
        sample(
            "API rate limits hit by the sync client",
            "The desktop sync client receives 429 responses for large folders.",
            "CASE-88402",
            "Litware",
            "lee",
            APP,
            Active,
        ),
        sample(
            "Backups not appearing in the console",
            "Nightly backups run but the console shows none since the 3rd.",
            "OPS-530",
            "Internal",
            "alex",
            DB,
            Active,
        ),
        sample(
            "Emails with attachments bounce",
            "Messages over 10 MB bounce with 552.",
            "CASE-88415",
            "Proseware",
            "noor",
            APP,
            Active,
        ),
        sample(
            "Timeouts calling the payments provider",
            "Checkout fails for about 5% of card payments with a gateway timeout.",
            "INC-2088",
            "Wingtip Toys",
            "sam",
            NET,
            Active,
        ),
        sample(
            "Kubernetes pods restarting in prod-eu",
            "Several pods restart with OOMKilled every few hours.",
            "OPS-534",
            "Internal",
            "priya",
            APP,
            Active,
        ),
        sample(
            "MFA codes rejected for some users",
            "A handful of users report valid TOTP codes being rejected.",
            "CASE-88440",
            "Blue Yonder Airlines",
            "lee",
            AUTH,
            Active,
        ),
        sample(
            "Data residency question from legal",
            "Customer's legal team asks where EU data is processed.",
            "CASE-88452",
            "Contoso EU",
            "alex",
            &[],
            Prepared,
        ),
        sample(
            "Quarterly access review export",
            "Customer needs a list of admin users and their last sign-in.",
            "CASE-88460",
            "Northwind Traders",
            "noor",
            &["Export admin users", "Add last sign-in dates"],
            Prepared,
        ),
        sample(
            "Check disk growth on the analytics cluster",
            "Disk usage grows 5% a day on the analytics nodes.",
            "OPS-541",
            "Internal",
            "sam",
            DISK,
            Prepared,
        ),
        sample(
            "Latency spikes after the network change",
            "p99 latency doubled since the core switch was replaced.",
            "NET-351",
            "Adventure Works",
            "priya",
            NET,
            Active,
        ),
        sample(
            "SAML certificate rollover",
            "The customer's IdP certificate rolls over next week.",
            "CASE-88477",
            "Fabrikam",
            "lee",
            AUTH,
            Prepared,
        ),
        sample(
            "Export stuck at 0%",
            "A customer's full account export has shown 0% for an hour.",
            "INC-2095",
            "Litware",
            "alex",
            DB,
            Active,
        ),
    ]
}

/// Seeds an empty database and returns how many sessions it made. A
/// database that already has sessions is left alone, and so is one where a
/// sample engineer's username belongs to an account that is not theirs.
pub async fn seed(stores: &Stores) -> anyhow::Result<usize> {
    let now = SystemClock.now();
    let clock = Arc::new(DemoClock(Mutex::new(now)));
    let service = SessionService::new(stores.sessions.clone(), clock.clone());
    let existing = service
        .list(&ListQuery {
            limit: 1,
            ..ListQuery::default()
        })
        .await
        .context("cannot read the database")?;
    if !existing.items.is_empty() {
        bail!(
            "this database already has sessions, so nothing was added; \
             `seed --demo` only fills an empty database (point it at a new one with --data-dir or --database-url)"
        );
    }
    engineers(&AccountService::new(stores.accounts.clone(), clock.clone())).await?;
    let samples = samples();
    let count = samples.len();
    for (i, s) in samples.into_iter().enumerate() {
        // Spread over about three weeks, the newest an hour ago; the odd
        // minutes keep the relative times from looking machine-made.
        let age = Duration::minutes(60 + (count - 1 - i) as i64 * 997);
        add(&service, &clock, s, now - age)
            .await
            .with_context(|| format!("cannot add sample session {}", i + 1))?;
    }
    Ok(count)
}

/// The sample engineers' accounts: created disabled and without a password,
/// or kept when an earlier run created them. An account of someone else with
/// one of their usernames stops the seeding: it would be given sessions its
/// person never had.
async fn engineers(accounts: &AccountService) -> anyhow::Result<()> {
    let users = accounts.users().await.context("cannot read the accounts")?;
    let mut missing = Vec::new();
    for (username, display_name) in ENGINEERS {
        let username = Username::parse(username).map_err(anyhow::Error::msg)?;
        let display_name = DisplayName::parse(display_name).map_err(anyhow::Error::msg)?;
        match users.iter().find(|u| u.username == username) {
            Some(u) if u.is_disabled() && u.display_name == display_name => {}
            Some(_) => bail!(
                "the demo's sample engineer {username} would share the account of the same \
                 name here, so nothing was added; seed a database whose accounts are not named {}",
                ENGINEERS.map(|(name, _)| name).join(", ")
            ),
            None => missing.push((username, display_name)),
        }
    }
    for (username, display_name) in missing {
        accounts
            .create_disabled_user(username, Some(display_name))
            .await
            .context("cannot create a sample engineer's account")?;
    }
    Ok(())
}

async fn add(
    service: &SessionService,
    clock: &DemoClock,
    s: Sample,
    created: DateTime<Utc>,
) -> anyhow::Result<()> {
    let actor = Actor::new(s.owner);
    let steps: Vec<String> = s.steps.iter().map(|t| t.to_string()).collect();
    let new = NewSession::parse(
        Some(s.title),
        Some(s.problem),
        Some(s.reference),
        Some(s.customer),
        &steps,
    )
    .map_err(|e| anyhow::anyhow!("invalid sample: {e}"))?;
    clock.set(created);
    let session = service.prepare(&actor, Surface::Api, new).await?;
    if matches!(s.end, End::Prepared) {
        return Ok(());
    }
    let mut at = created + Duration::minutes(7);
    clock.set(at);
    service.start(&actor, Surface::History, session.id).await?;
    if let Some(step) = session.steps.first() {
        at += Duration::minutes(9);
        clock.set(at);
        let finding =
            Finding::parse(Some("Confirmed; details in the notes.")).map_err(anyhow::Error::msg)?;
        service
            .check_step(&actor, Surface::Workspace, session.id, step.id, finding)
            .await?;
        at += Duration::minutes(4);
        clock.set(at);
        let note = NoteText::parse("Shared the first findings with the customer.")
            .map_err(anyhow::Error::msg)?;
        service
            .add_note(&actor, Surface::Workspace, session.id, note)
            .await?;
    }
    let (outcome, notes, reopen) = match s.end {
        End::Prepared | End::Active => return Ok(()),
        End::Closed(outcome, notes) => (outcome, notes, false),
        End::Reopened(outcome) => (outcome, "Looked fixed after the reindex.", true),
    };
    at += Duration::minutes(26);
    clock.set(at);
    let notes = OutcomeNotes::parse(Some(notes)).map_err(anyhow::Error::msg)?;
    service
        .complete(&actor, Surface::History, session.id, outcome, notes)
        .await?;
    if reopen {
        clock.set(at + Duration::minutes(50));
        service.reopen(&actor, Surface::History, session.id).await?;
    }
    Ok(())
}
