use std::sync::Arc;
use std::time::Duration;

use casebook::domain::{Actor, NewSession, NoteText, Outcome, OutcomeNotes, Session, Surface};
use casebook::metrics::Metrics;
use casebook::service::{AutoClose, AutoCloseRun, ManualClock, SessionService};
use casebook::store::{self, SessionStore};
use chrono::TimeDelta;
use serde_json::Value;
use uuid::Uuid;

use super::sample;
use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    only_sessions_idle_past_the_limit_are_closed_by_the_system,
    two_processes_on_one_database_close_each_idle_session_once,
);

const FORTNIGHT: Duration = Duration::from_secs(14 * 86_400);

/// A second "process" on the server's database: its own store, service and
/// clock, so the test moves time instead of waiting.
struct Process {
    store: Arc<dyn SessionStore>,
    service: SessionService,
    metrics: Arc<Metrics>,
}

async fn process(url: &str, clock: Arc<ManualClock>) -> Process {
    let store = store::connect(url).await.unwrap();
    let metrics = Metrics::shared();
    let service = SessionService::new(store.clone(), clock).with_metrics(metrics.clone());
    Process {
        store,
        service,
        metrics,
    }
}

async fn prepare(service: &SessionService, title: &str) -> Session {
    let new = NewSession::parse(Some(title), None, None, None, &[]).unwrap();
    service
        .prepare(&Actor::new("dana"), Surface::Api, new)
        .await
        .unwrap()
}

async fn active(service: &SessionService, title: &str) -> Uuid {
    let id = prepare(service, title).await.id;
    service
        .start(&Actor::new("dana"), Surface::Workspace, id)
        .await
        .unwrap();
    id
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

async fn only_sessions_idle_past_the_limit_are_closed_by_the_system(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clock = Arc::new(ManualClock::starting_now());
    let p = process(&app.db().url, clock.clone()).await;
    let dana = Actor::new("dana");
    let idle = active(&p.service, "Forgotten VPN investigation").await;
    let busy = active(&p.service, "Slow disk, still digging").await;
    let prepared = prepare(&p.service, "Prepared long ago").await.id;
    let done = active(&p.service, "Closed properly").await;
    let notes = OutcomeNotes::parse(Some("Fixed")).unwrap();
    p.service
        .complete(&dana, Surface::Api, done, Outcome::Resolved, notes)
        .await
        .unwrap();

    clock.advance(days(10));
    let note = NoteText::parse("Found a lead").unwrap();
    p.service
        .add_note(&dana, Surface::Workspace, busy, note)
        .await
        .unwrap();
    let policy = AutoClose::new(p.service.clone(), FORTNIGHT);
    assert_eq!(
        policy.tick().await.unwrap(),
        AutoCloseRun::Ran { closed: 0 },
        "nothing is 14 days idle yet"
    );

    clock.advance(days(4) + TimeDelta::minutes(1));
    assert_eq!(
        policy.tick().await.unwrap(),
        AutoCloseRun::Ran { closed: 1 }
    );
    assert_eq!(
        policy.tick().await.unwrap(),
        AutoCloseRun::Ran { closed: 0 },
        "closed once"
    );

    // What the API shows: closed as unresolved by the system, with the note.
    let session = app.session(&idle.to_string()).await;
    assert_eq!(session["status"], "completed");
    assert_eq!(session["outcome"], "unresolved");
    assert_eq!(session["completed_by"], "system");
    assert_eq!(
        session["outcome_notes"],
        "Closed automatically after 14 days without activity"
    );
    let events = app.events(&idle.to_string()).await;
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "completed");
    assert_eq!(last["actor"], "system");
    assert_eq!(last["via"], "system");
    // Recent activity, not yet started, already closed: untouched.
    assert_eq!(app.session(&busy.to_string()).await["status"], "active");
    assert_eq!(
        app.session(&prepared.to_string()).await["status"],
        "prepared"
    );
    let done = app.session(&done.to_string()).await;
    assert_eq!(
        (done["outcome"].clone(), done["completed_by"].clone()),
        (Value::from("resolved"), Value::from("dana"))
    );

    // The history card and the timeline say who closed it and through what.
    let history = app
        .get("/sessions?status=completed")
        .await
        .text()
        .await
        .unwrap();
    assert!(history.contains("Forgotten VPN investigation"));
    assert!(history.contains("Closed automatically after 14 days without activity"));
    let details = app
        .get(&format!("/sessions/{idle}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        details.contains("<strong title=\"system\">system</strong>"),
        "{details}"
    );
    assert!(details.contains("via system"));

    // This process counted the closure and its runs.
    let text = p.metrics.render(p.store.as_ref()).await.unwrap();
    let closures = "casebook_session_closures_total{outcome=\"unresolved\",surface=\"system\"}";
    assert_eq!(sample(&text, closures), Some(1.0));
    assert_eq!(sample(&text, "casebook_auto_close_runs_total"), Some(3.0));
    assert_eq!(
        sample(&text, "casebook_auto_close_last_run_timestamp_seconds"),
        Some(p.service.now().timestamp() as f64)
    );
    p.store.close().await;
}

async fn two_processes_on_one_database_close_each_idle_session_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clock = Arc::new(ManualClock::starting_now());
    let first = process(&app.db().url, clock.clone()).await;
    let second = process(&app.db().url, clock.clone()).await;
    let mut idle = Vec::new();
    for i in 0..12 {
        idle.push(active(&first.service, &format!("Idle {i}")).await);
    }
    clock.advance(days(15));
    let a = AutoClose::new(first.service.clone(), FORTNIGHT);
    let b = AutoClose::new(second.service.clone(), FORTNIGHT);
    let (ran_a, ran_b) = tokio::join!(a.tick(), b.tick());
    let mut runs = [ran_a.unwrap(), ran_b.unwrap()];
    runs.sort_by_key(|r| matches!(r, AutoCloseRun::NotTheRunner));
    assert_eq!(
        runs,
        [AutoCloseRun::Ran { closed: 12 }, AutoCloseRun::NotTheRunner]
    );
    for id in &idle {
        let events = app.events(&id.to_string()).await;
        let completions = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "completed")
            .count();
        assert_eq!(completions, 1, "session {id}");
    }

    // Whoever holds the lease keeps it while it runs; once it stops running
    // and the lease runs out, the other process takes over.
    let (runner, standby) = if ran_a_was_runner(&first, &second).await {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(standby.tick().await.unwrap(), AutoCloseRun::NotTheRunner);
    assert_eq!(
        runner.tick().await.unwrap(),
        AutoCloseRun::Ran { closed: 0 }
    );
    let late = active(&second.service, "Idle after the first run").await;
    clock.advance(days(15));
    assert_eq!(
        standby.tick().await.unwrap(),
        AutoCloseRun::Ran { closed: 1 }
    );
    assert_eq!(
        app.session(&late.to_string()).await["completed_by"],
        "system"
    );
    first.store.close().await;
    second.store.close().await;
}

/// Whether the first process did the run (its metrics counted it).
async fn ran_a_was_runner(first: &Process, second: &Process) -> bool {
    let runs = |p: &Process| {
        let metrics = p.metrics.clone();
        let store = p.store.clone();
        async move {
            let text = metrics.render(store.as_ref()).await.unwrap();
            sample(&text, "casebook_auto_close_runs_total").unwrap()
        }
    };
    let (a, b) = (runs(first).await, runs(second).await);
    assert_eq!(a + b, 1.0);
    a == 1.0
}
