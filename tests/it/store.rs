//! The store suite: the same test bodies against SQLite and PostgreSQL, each
//! in a fresh database, through the service that every surface uses.

use std::collections::HashSet;
use std::sync::Arc;

use casebook::domain::{
    Actor, Event, EventKind, Finding, ListQuery, NewSession, NoteText, Outcome, OutcomeNotes, Role,
    SearchTerms, Session, Status, Surface, Username,
};
use casebook::service::{AccountService, ServiceError, SessionService, SystemClock};
use casebook::store;
use sqlx::Connection;
use uuid::Uuid;

use crate::backend_tests;
use crate::helpers::{Backend, TestDb};

backend_tests!(
    a_session_goes_through_its_whole_lifecycle_with_a_timeline,
    every_transition_from_the_wrong_status_is_a_conflict_naming_the_current_status,
    changes_to_unknown_sessions_and_steps_are_not_found_and_write_nothing,
    the_check_constraints_reject_bad_rows_written_straight_to_the_table,
    the_outcome_check_constraint_lists_exactly_the_outcome_enum,
    keyset_pages_return_every_session_exactly_once_while_new_ones_arrive,
    every_filter_narrows_the_list,
    a_list_without_steps_is_the_same_list_without_steps,
    text_search_matches_words_by_prefix_in_every_searchable_field,
    closing_words_are_found_until_a_reopening_takes_them_back,
    a_search_pages_through_the_newest_matches_however_far_apart,
    only_the_owner_or_an_admin_may_change_a_session,
    concurrent_writes_that_fail_change_nothing_and_the_others_all_last,
);

struct Fixture {
    service: SessionService,
    /// The store under the service, for writes no service call makes.
    sessions: Arc<dyn store::SessionStore>,
    db: TestDb,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDb::new(backend).await;
    let stores = store::connect_all(&db.url).await.expect("store opens");
    // Owners are accounts: dana and sam own sessions here (root, an admin,
    // only acts on them).
    let accounts = AccountService::new(stores.accounts, Arc::new(SystemClock));
    for name in ["dana", "sam"] {
        let username = Username::parse(name).unwrap();
        accounts.create_disabled_user(username, None).await.unwrap();
    }
    Fixture {
        service: SessionService::new(stores.sessions.clone(), Arc::new(SystemClock)),
        sessions: stores.sessions,
        db,
    }
}

fn dana() -> Actor {
    Actor::new("dana")
}

fn new_session(title: &str, steps: &[&str]) -> NewSession {
    let steps: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    NewSession::parse(
        Some(title),
        Some("Users see 502s"),
        Some("INC-1"),
        Some("ACME"),
        &steps,
    )
    .unwrap()
}

impl Fixture {
    async fn prepare(&self, title: &str) -> Session {
        self.prepare_as(&dana(), title).await
    }

    async fn prepare_as(&self, actor: &Actor, title: &str) -> Session {
        self.service
            .prepare(actor, Surface::Api, new_session(title, &["look"]))
            .await
            .unwrap()
    }

    async fn active(&self, title: &str) -> Session {
        let session = self.prepare(title).await;
        self.service
            .start(&dana(), Surface::Api, session.id)
            .await
            .unwrap()
    }

    async fn complete(&self, id: Uuid, outcome: Outcome) -> Result<Session, ServiceError> {
        self.service
            .complete(
                &dana(),
                Surface::History,
                id,
                outcome,
                OutcomeNotes::default(),
            )
            .await
    }

    /// On PostgreSQL: the session's stored search vector is the one its
    /// words give when computed whole (SQLite keeps no vector).
    async fn assert_search_vector_is_whole(&self, id: Uuid) {
        if self.db.backend != Backend::Postgres {
            return;
        }
        let mut conn = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
        let (stored, whole): (String, String) = sqlx::query_as(
            "select search::text, session_search_vector(id)::text from sessions where id = $1",
        )
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(stored, whole, "the stored search vector of {id}");
    }

    async fn ids(&self, query: &ListQuery) -> Vec<Uuid> {
        let page = self.service.list(query).await.unwrap();
        page.items.iter().map(|s| s.id).collect()
    }
}

fn conflict_status(result: Result<impl std::fmt::Debug, ServiceError>) -> Status {
    match result {
        Err(ServiceError::Conflict(conflict)) => conflict.current.status(),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn a_session_goes_through_its_whole_lifecycle_with_a_timeline(backend: Backend) {
    let f = fixture(backend).await;
    let actor = dana();
    let prepared = f
        .service
        .prepare(
            &actor,
            Surface::Workspace,
            new_session("Disk full on db01", &["df -h", "rotate logs"]),
        )
        .await
        .unwrap();
    assert_eq!(prepared.status(), Status::Prepared);
    assert_eq!(prepared.owner, "dana");
    assert_eq!(f.service.get(prepared.id).await.unwrap(), prepared);

    let id = prepared.id;
    let active = f
        .service
        .start(&actor, Surface::Workspace, id)
        .await
        .unwrap();
    assert_eq!(active.status(), Status::Active);

    let note = NoteText::parse("the disk is at 100%").unwrap();
    f.service
        .add_note(&actor, Surface::Workspace, id, note)
        .await
        .unwrap();
    let step = active.steps[0].id;
    let checked = f
        .service
        .check_step(
            &actor,
            Surface::Workspace,
            id,
            step,
            Finding::parse(Some("97% used")).unwrap(),
        )
        .await
        .unwrap();
    assert!(checked.steps[0].checked_at.is_some());
    assert_eq!(checked.steps[0].finding.as_deref(), Some("97% used"));
    let unchecked = f
        .service
        .uncheck_step(&actor, Surface::Workspace, id, step)
        .await
        .unwrap();
    assert_eq!(unchecked.steps[0].checked_at, None);
    assert_eq!(unchecked.steps[0].finding, None);

    let notes = OutcomeNotes::parse(Some("  vendor patched it  ")).unwrap();
    let completed = f
        .service
        .complete(
            &actor,
            Surface::History,
            id,
            Outcome::ResolvedExternally,
            notes,
        )
        .await
        .unwrap();
    assert_eq!(completed.status(), Status::Completed);
    assert_eq!(completed.outcome, Some(Outcome::ResolvedExternally));
    assert_eq!(
        completed.outcome_notes.as_deref(),
        Some("vendor patched it")
    );
    assert_eq!(completed.completed_by.as_deref(), Some("dana"));

    let reopened = f.service.reopen(&actor, Surface::Api, id).await.unwrap();
    assert_eq!(reopened.status(), Status::Active);
    assert_eq!(reopened.outcome, None);
    assert_eq!(reopened.outcome_notes, None);
    let again = f.complete(id, Outcome::Resolved).await.unwrap();
    assert_eq!(again.outcome, Some(Outcome::Resolved));

    let events = f.service.events(id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "started",
            "note_added",
            "step_checked",
            "step_unchecked",
            "completed",
            "reopened",
            "completed"
        ]
    );
    // The earlier closure stays in the timeline, with how and through which surface.
    assert_eq!(
        events[5].kind,
        EventKind::Completed {
            outcome: Outcome::ResolvedExternally,
            outcome_notes: Some("vendor patched it".into())
        }
    );
    assert_eq!(events[5].via, Surface::History);
    assert_eq!(events[0].via, Surface::Workspace);
    assert!(
        events
            .iter()
            .all(|e| e.actor == "dana" && e.session_id == id)
    );
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
}

async fn every_transition_from_the_wrong_status_is_a_conflict_naming_the_current_status(
    backend: Backend,
) {
    let f = fixture(backend).await;
    let a = dana();
    let api = Surface::Api;
    let prepared = f.prepare("prepared").await.id;
    let active = f.active("active").await.id;
    let completed = f.active("completed").await.id;
    f.complete(completed, Outcome::Escalated).await.unwrap();
    let note = || NoteText::parse("n").unwrap();

    assert_eq!(
        conflict_status(f.service.start(&a, api, active).await),
        Status::Active
    );
    assert_eq!(
        conflict_status(f.service.start(&a, api, completed).await),
        Status::Completed
    );
    assert_eq!(
        conflict_status(f.complete(prepared, Outcome::Resolved).await),
        Status::Prepared
    );
    assert_eq!(
        conflict_status(f.complete(completed, Outcome::Resolved).await),
        Status::Completed
    );
    assert_eq!(
        conflict_status(f.service.reopen(&a, api, prepared).await),
        Status::Prepared
    );
    assert_eq!(
        conflict_status(f.service.reopen(&a, api, active).await),
        Status::Active
    );
    assert_eq!(
        conflict_status(f.service.add_note(&a, api, prepared, note()).await),
        Status::Prepared
    );
    assert_eq!(
        conflict_status(f.service.add_note(&a, api, completed, note()).await),
        Status::Completed
    );
    let step = f.service.get(prepared).await.unwrap().steps[0].id;
    assert_eq!(
        conflict_status(
            f.service
                .check_step(&a, api, prepared, step, Finding::default())
                .await
        ),
        Status::Prepared
    );

    // The conflict tells how a completed session was closed, and nothing changed.
    match f.complete(completed, Outcome::Resolved).await {
        Err(ServiceError::Conflict(conflict)) => {
            assert_eq!(conflict.current.outcome, Some(Outcome::Escalated));
            assert_eq!(conflict.current.completed_by.as_deref(), Some("dana"));
            assert!(
                conflict.detail().contains("Escalated"),
                "{}",
                conflict.detail()
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let events = f.service.events(completed).await.unwrap();
    assert_eq!(events.len(), 3, "failed transitions append no event");
}

/// On SQLite, writes that arrive together share a transaction (group
/// commit): one that fails in the middle of such a group must change
/// nothing, and every one that succeeded must be there for good.
async fn concurrent_writes_that_fail_change_nothing_and_the_others_all_last(backend: Backend) {
    let f = Arc::new(fixture(backend).await);
    let mut active = Vec::new();
    let mut prepared = Vec::new();
    let mut untouched = Vec::new();
    for n in 0..24 {
        active.push(f.active(&format!("active {n}")).await.id);
        prepared.push(f.prepare(&format!("prepared {n}")).await.id);
        untouched.push(f.active(&format!("untouched {n}")).await);
    }
    // Interleaved, so failures fall between successes.
    let mut writes = tokio::task::JoinSet::new();
    for ((&good, &bad), stays) in active.iter().zip(&prepared).zip(&untouched) {
        for (id, outcome) in [(good, Outcome::Resolved), (bad, Outcome::Escalated)] {
            let f = f.clone();
            writes.spawn(async move { (id, f.complete(id, outcome).await.map(|s| s.status())) });
        }
        // A check of a step the session does not have (the service would
        // have refused it; a plan edit in between would not) fails after the
        // session's row was updated: that update must be undone.
        let (checker, stays) = (f.clone(), stays.id);
        writes.spawn(async move {
            let check = Event {
                id: Uuid::now_v7(),
                session_id: stays,
                at: chrono::Utc::now(),
                actor: "dana".into(),
                via: Surface::Api,
                kind: EventKind::StepChecked {
                    step_id: Uuid::now_v7(),
                    finding: None,
                },
            };
            let checked = checker.sessions.apply(&check).await;
            assert!(
                matches!(checked, Err(store::StoreError::StepNotFound)),
                "{checked:?}"
            );
            (stays, Ok(Status::Active))
        });
        let f = f.clone();
        writes.spawn(async move {
            let note = NoteText::parse("still looking").unwrap();
            let added = f.service.add_note(&dana(), Surface::Api, good, note).await;
            (good, added.map(|_| Status::Active))
        });
    }
    let mut completed = HashSet::new();
    while let Some(joined) = writes.join_next().await {
        let (id, result) = joined.unwrap();
        if untouched.iter().any(|u| u.id == id) {
            continue;
        }
        if prepared.contains(&id) {
            assert_eq!(conflict_status(result), Status::Prepared);
        } else if let Ok(status) = result {
            if status == Status::Completed {
                completed.insert(id);
            }
        } else {
            // A note that came after its session's completion is refused.
            assert_eq!(conflict_status(result), Status::Completed);
        }
    }
    assert_eq!(completed, active.iter().copied().collect::<HashSet<_>>());

    // Read back through a store of its own, as after a restart.
    let reopened = store::connect_all(&f.db.url).await.expect("store opens");
    let service = SessionService::new(reopened.sessions, Arc::new(SystemClock));
    for &id in &active {
        let session = service.get(id).await.unwrap();
        assert_eq!(session.status(), Status::Completed);
        let kinds: Vec<_> = service
            .events(id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.name())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "completed").count(),
            1,
            "{kinds:?}"
        );
    }
    for &id in &prepared {
        assert_eq!(service.get(id).await.unwrap().status(), Status::Prepared);
        assert_eq!(
            service.events(id).await.unwrap().len(),
            1,
            "nothing half-written"
        );
    }
    for before in &untouched {
        let after = service.get(before.id).await.unwrap();
        assert_eq!(after.updated_at, before.updated_at, "nothing half-written");
        assert_eq!(service.events(before.id).await.unwrap().len(), 2);
    }
}

async fn changes_to_unknown_sessions_and_steps_are_not_found_and_write_nothing(backend: Backend) {
    let f = fixture(backend).await;
    let a = dana();
    let api = Surface::Api;
    let unknown = Uuid::now_v7();
    assert!(matches!(
        f.service.get(unknown).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.service.start(&a, api, unknown).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.complete(unknown, Outcome::Resolved).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.service.reopen(&a, api, unknown).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.service.events(unknown).await,
        Err(ServiceError::NotFound)
    ));

    let active = f.active("active").await.id;
    let result = f
        .service
        .check_step(&a, api, active, Uuid::now_v7(), Finding::default())
        .await;
    assert!(matches!(result, Err(ServiceError::StepNotFound)));
    // Another session's step is not this session's step.
    let other_step = f.active("other").await.steps[0].id;
    let result = f.service.uncheck_step(&a, api, active, other_step).await;
    assert!(matches!(result, Err(ServiceError::StepNotFound)));
    assert_eq!(
        f.service.events(active).await.unwrap().len(),
        2,
        "nothing half-written"
    );
}

async fn the_check_constraints_reject_bad_rows_written_straight_to_the_table(backend: Backend) {
    let f = fixture(backend).await;
    let prepared = f.prepare("prepared").await.id;
    let active = f.active("active").await.id;
    let (p, a) = (id_literal(&f.db, prepared), id_literal(&f.db, active));
    let now = now_literal(&f.db);

    let unknown_outcome =
        format!("update sessions set completed_at = {now}, outcome = 'fixed' where id = {a}");
    let too_long = format!(
        "update sessions set completed_at = {now}, outcome = 'resolved_externally_x' where id = {a}"
    );
    let completed_unstarted =
        format!("update sessions set completed_at = {now}, outcome = 'resolved' where id = {p}");
    let outcome_without_completion =
        format!("update sessions set outcome = 'resolved' where id = {a}");
    let completion_without_outcome =
        format!("update sessions set completed_at = {now} where id = {a}");
    for sql in [
        unknown_outcome,
        too_long,
        completed_unstarted,
        outcome_without_completion,
        completion_without_outcome,
    ] {
        let result = f.db.raw_execute(&sql).await;
        assert!(result.is_err(), "the database accepted: {sql}");
    }
    // A well-formed completion is accepted, so the rejections above were the CHECKs'.
    let good = format!(
        "update sessions set completed_at = {now}, outcome = 'resolved_externally' where id = {a}"
    );
    assert_eq!(f.db.raw_execute(&good).await.unwrap(), 1);
}

async fn the_outcome_check_constraint_lists_exactly_the_outcome_enum(backend: Backend) {
    let f = fixture(backend).await;
    let allowed: HashSet<String> = f.db.outcome_check_values().await.into_iter().collect();
    let enum_values: HashSet<String> = Outcome::ALL
        .iter()
        .map(|o| o.as_str().to_string())
        .collect();
    assert_eq!(allowed, enum_values);
    // And every value really is stored and read back.
    for outcome in Outcome::ALL {
        let id = f.active(outcome.label()).await.id;
        let completed = f.complete(id, outcome).await.unwrap();
        assert_eq!(f.service.get(id).await.unwrap().outcome, Some(outcome));
        assert_eq!(completed.outcome, Some(outcome));
    }
}

async fn keyset_pages_return_every_session_exactly_once_while_new_ones_arrive(backend: Backend) {
    let f = fixture(backend).await;
    let mut existing = HashSet::new();
    for i in 0..23 {
        existing.insert(f.prepare(&format!("session {i}")).await.id);
    }
    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: 5,
        ..ListQuery::default()
    };
    let mut pages = 0;
    loop {
        let page = f.service.list(&query).await.unwrap();
        assert!(page.items.len() <= 5);
        assert!(
            page.items
                .windows(2)
                .all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id)),
            "newest first"
        );
        assert!(
            page.items.iter().all(|s| s.steps.len() == 1),
            "list items carry their steps"
        );
        seen.extend(page.items.iter().map(|s| s.id));
        // Newer sessions arrive between pages; they belong before the cursor.
        f.prepare(&format!("arrived after page {pages}")).await;
        pages += 1;
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    let unique: HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no session appears twice");
    assert_eq!(unique, existing, "every session that existed appears");
    assert_eq!(pages, 5);
}

async fn every_filter_narrows_the_list(backend: Backend) {
    let f = fixture(backend).await;
    let sam = Actor::new("sam");
    let prepared = f.prepare("prepared").await.id;
    let active = f.active("active").await.id;
    let resolved = f.active("resolved").await.id;
    f.complete(resolved, Outcome::Resolved).await.unwrap();
    let cancelled = f.active("cancelled").await.id;
    f.complete(cancelled, Outcome::Cancelled).await.unwrap();
    let sams = f.prepare_as(&sam, "sam's").await.id;

    let by_status = |status| ListQuery {
        status: Some(status),
        ..ListQuery::default()
    };
    assert_eq!(f.ids(&by_status(Status::Prepared)).await, [sams, prepared]);
    assert_eq!(f.ids(&by_status(Status::Active)).await, [active]);
    assert_eq!(
        f.ids(&by_status(Status::Completed)).await,
        [cancelled, resolved]
    );
    let by_outcome = ListQuery {
        outcome: Some(Outcome::Cancelled),
        ..ListQuery::default()
    };
    assert_eq!(f.ids(&by_outcome).await, [cancelled]);
    let by_owner = ListQuery {
        owner: Some("sam".into()),
        ..ListQuery::default()
    };
    assert_eq!(f.ids(&by_owner).await, [sams]);
    let combined = ListQuery {
        owner: Some("dana".into()),
        status: Some(Status::Prepared),
        ..ListQuery::default()
    };
    assert_eq!(f.ids(&combined).await, [prepared]);
    let none = ListQuery {
        owner: Some("nobody".into()),
        ..ListQuery::default()
    };
    assert!(f.ids(&none).await.is_empty());
}

async fn text_search_matches_words_by_prefix_in_every_searchable_field(backend: Backend) {
    let f = fixture(backend).await;
    let a = dana();
    let create = |title: &str, problem: &str, reference: &str, customer: &str| {
        NewSession::parse(
            Some(title),
            Some(problem),
            Some(reference),
            Some(customer),
            &[],
        )
        .unwrap()
    };
    let disk = f
        .service
        .prepare(&a, Surface::Api, create("Disk full on db01", "", "", ""))
        .await
        .unwrap()
        .id;
    let tls = f
        .service
        .prepare(
            &a,
            Surface::Api,
            create("Certificate", "TLS handshake fails", "", ""),
        )
        .await
        .unwrap()
        .id;
    let ticket = f
        .service
        .prepare(&a, Surface::Api, create("Slow page", "", "ZD-48213", ""))
        .await
        .unwrap()
        .id;
    let globex = f
        .service
        .prepare(
            &a,
            Surface::Api,
            create("Login loop", "", "", "Globex Corporation"),
        )
        .await
        .unwrap()
        .id;

    let search = |q: &str| ListQuery {
        search: SearchTerms::parse(q),
        ..ListQuery::default()
    };
    assert_eq!(f.ids(&search("disk")).await, [disk]);
    assert_eq!(
        f.ids(&search("handsh")).await,
        [tls],
        "prefix of a word in the problem"
    );
    assert_eq!(f.ids(&search("zd-48213")).await, [ticket], "the reference");
    assert_eq!(
        f.ids(&search("GLOBEX")).await,
        [globex],
        "the customer, any case"
    );
    assert_eq!(
        f.ids(&search("disk db01")).await,
        [disk],
        "every word must match"
    );
    assert!(f.ids(&search("disk tls")).await.is_empty());
    assert!(f.ids(&search("nothing")).await.is_empty());
}

/// The words a session is closed with (outcome notes, then a summary) are
/// searchable, and a reopening, which clears them, takes them back out.
/// PostgreSQL appends closing words to the stored search vector rather than
/// computing it whole: the vector must be the one computed whole.
async fn closing_words_are_found_until_a_reopening_takes_them_back(backend: Backend) {
    let f = fixture(backend).await;
    let a = dana();
    let id = f.active("Printer offline").await.id;
    let other = f.active("Printer jammed").await.id;
    let search = |q: &str| ListQuery {
        search: SearchTerms::parse(q),
        ..ListQuery::default()
    };
    let actor = &a;
    let close = |notes: &'static str| {
        let service = f.service.clone();
        async move {
            let notes = OutcomeNotes::parse(Some(notes)).unwrap();
            service
                .complete(actor, Surface::History, id, Outcome::Workaround, notes)
                .await
                .unwrap();
        }
    };
    let summarize = |summary: &str| Event {
        id: Uuid::now_v7(),
        session_id: id,
        at: chrono::Utc::now(),
        actor: "dana".into(),
        via: Surface::Api,
        kind: EventKind::SummaryGenerated {
            summarizer: "test".into(),
            summary: summary.into(),
        },
    };

    close("Swapped the toner cartridge").await;
    f.assert_search_vector_is_whole(id).await;
    assert_eq!(f.ids(&search("toner")).await, [id], "the outcome notes");
    assert_eq!(
        f.ids(&search("printer")).await,
        [other, id],
        "and the title still"
    );
    f.sessions
        .apply(&summarize("Spooler queue cleared"))
        .await
        .unwrap();
    f.assert_search_vector_is_whole(id).await;
    assert_eq!(
        f.ids(&search("spool toner")).await,
        [id],
        "summary and notes"
    );

    f.service.reopen(&a, Surface::Api, id).await.unwrap();
    f.assert_search_vector_is_whole(id).await;
    assert!(f.ids(&search("toner")).await.is_empty(), "reopened");
    assert!(f.ids(&search("spooler")).await.is_empty(), "reopened");

    close("Replaced the fuser").await;
    f.assert_search_vector_is_whole(id).await;
    assert_eq!(f.ids(&search("fuser printer")).await, [id]);
    assert!(f.ids(&search("toner")).await.is_empty());
}

/// A search's pages hold the newest matches, whether a thousand sessions
/// match or the few that do lie far apart (PostgreSQL's planner reads the
/// newest sessions in order for common words and asks the text index for
/// rare ones; FTS5 walks its matches newest first).
async fn a_search_pages_through_the_newest_matches_however_far_apart(backend: Backend) {
    let f = fixture(backend).await;
    let a = dana();
    let prepare = |title: String| {
        let service = &f.service;
        let a = &a;
        async move {
            service
                .prepare(a, Surface::Api, new_session(&title, &[]))
                .await
                .unwrap()
                .id
        }
    };
    let old_needles = [
        prepare("Kerberos clock skew".into()).await,
        prepare("Kerberos ticket expired".into()).await,
    ];
    let mut disks = Vec::new();
    for i in 0..1_100 {
        disks.push(prepare(format!("Disk full {i}")).await);
    }
    let new_needle = prepare("Kerberos realm renamed".into()).await;
    disks.reverse();

    let search = |q: &str, limit: u32| ListQuery {
        search: SearchTerms::parse(q),
        limit,
        ..ListQuery::default()
    };
    assert_eq!(
        f.ids(&search("kerb", 25)).await,
        [new_needle, old_needles[1], old_needles[0]],
        "one match among the newest, two far beyond them"
    );
    // Common words: three pages, each the next newest five.
    let mut query = search("disk full", 5);
    for page in disks.chunks(5).take(3) {
        let found = f.service.list(&query).await.unwrap();
        assert_eq!(found.items.iter().map(|s| s.id).collect::<Vec<_>>(), page);
        query.after = found.next;
    }
    // The last page, past every other match.
    query.after = f
        .service
        .list(&search("disk", disks.len() as u32 - 3))
        .await
        .unwrap()
        .next;
    assert_eq!(f.ids(&query).await, disks[disks.len() - 3..]);
    assert!(f.ids(&search("kerberos disk", 25)).await.is_empty());

    // How many sessions hold a word, for the similarity ranking: exact for
    // rare words; for common ones PostgreSQL reads ANALYZE's statistics
    // (its sample of 30,000 rows holds every session here, so the estimate
    // is close to exact).
    if f.db.backend == Backend::Postgres {
        f.db.raw_execute("analyze sessions").await.unwrap();
    }
    let store = store::connect(&f.db.url).await.unwrap();
    let words = ["disk", "kerberos", "absent"].map(String::from);
    let counts = store.term_counts(&words).await.unwrap();
    let disks = disks.len() as u64;
    assert!(
        counts[0].abs_diff(disks) <= disks / 50,
        "about {disks} sessions hold disk: {counts:?}"
    );
    assert_eq!(counts[1..], [3, 0], "{counts:?}");
}

fn id_literal(db: &TestDb, id: Uuid) -> String {
    match db.backend {
        Backend::Sqlite => format!("x'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

fn now_literal(db: &TestDb) -> &'static str {
    match db.backend {
        Backend::Sqlite => "1700000000000000",
        Backend::Postgres => "now()",
    }
}

async fn only_the_owner_or_an_admin_may_change_a_session(backend: Backend) {
    let f = fixture(backend).await;
    let sam = Actor::new("sam");
    let admin = Actor::with_role("root", Role::Admin);
    let api = Surface::Api;
    let id = f.active("dana's session").await.id;
    let forbidden = |r: Result<Session, ServiceError>| matches!(r, Err(ServiceError::Forbidden { owner }) if owner == "dana");

    let outcome = Outcome::Resolved;
    let notes = OutcomeNotes::default;
    assert!(forbidden(
        f.service.complete(&sam, api, id, outcome, notes()).await
    ));
    let note = f
        .service
        .add_note(&sam, api, id, NoteText::parse("mine now").unwrap())
        .await;
    assert!(matches!(note, Err(ServiceError::Forbidden { .. })));
    let step = f.service.get(id).await.unwrap().steps[0].id;
    assert!(forbidden(
        f.service
            .check_step(&sam, api, id, step, Finding::default())
            .await
    ));
    assert_eq!(
        f.service.events(id).await.unwrap().len(),
        2,
        "nothing was written"
    );
    // Reading is for everyone.
    assert_eq!(f.service.get(id).await.unwrap().status(), Status::Active);

    let completed = f
        .service
        .complete(&admin, api, id, outcome, notes())
        .await
        .unwrap();
    assert_eq!(completed.completed_by.as_deref(), Some("root"));
    assert!(forbidden(f.service.reopen(&sam, api, id).await));
    assert!(forbidden(f.service.summarize(&sam, api, id).await));
    assert!(
        f.service.reopen(&dana(), api, id).await.is_ok(),
        "the owner may"
    );
    // An unknown session is not found, whoever asks.
    let unknown = f.service.start(&sam, api, Uuid::now_v7()).await;
    assert!(matches!(unknown, Err(ServiceError::NotFound)));
}

async fn a_list_without_steps_is_the_same_list_without_steps(backend: Backend) {
    let f = fixture(backend).await;
    for i in 0..3 {
        f.active(&format!("session {i}")).await;
    }
    let with = f.service.list(&ListQuery::default()).await.unwrap();
    let without = f
        .service
        .list(&ListQuery {
            with_steps: false,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(with.items.iter().all(|s| s.steps.len() == 1));
    assert!(without.items.iter().all(|s| s.steps.is_empty()));
    let strip = |s: &Session| Session {
        steps: Vec::new(),
        ..s.clone()
    };
    let with: Vec<Session> = with.items.iter().map(strip).collect();
    assert_eq!(with, without.items);
}

/// SQLite's checkpoint on commit is off (a commit only appends to the WAL):
/// the store's checkpointer thread must copy the WAL into the database file,
/// or the WAL would grow without end and the file would never hold the data.
#[tokio::test]
async fn on_sqlite_the_checkpointer_moves_what_was_written_from_the_wal_into_the_file() {
    let Fixture { service, db, .. } = fixture(Backend::Sqlite).await;
    let file = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let before = std::fs::metadata(&file).unwrap().len();
    for i in 0..300 {
        service
            .prepare(
                &dana(),
                Surface::Api,
                new_session(&format!("Session {i}"), &["look"]),
            )
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&file).unwrap().len();
        if now > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {before} bytes: nothing was checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A write whose request goes away midway (the client hung up) must not
/// leave its transaction open on the pooled connection: PostgreSQL would
/// keep its locks until that connection happened to be used again. Here
/// the write is held inside its transaction by a lock the test takes,
/// then cancelled; once the test lets go, the table must be free again
/// and nothing of the write kept.
#[tokio::test]
async fn on_postgres_a_write_cancelled_midway_leaves_nothing_and_locks_nothing() {
    let f = fixture(Backend::Postgres).await;
    let mut blocker = sqlx::PgConnection::connect(&f.db.url).await.unwrap();
    let mut hold = blocker.begin().await.unwrap();
    sqlx::query("lock table session_events in share mode")
        .execute(&mut *hold)
        .await
        .unwrap();
    // The session's row is inserted, then its event waits for the lock.
    let dana = dana();
    let write = f
        .service
        .prepare(&dana, Surface::Api, new_session("Never stored", &["look"]));
    let cancelled = tokio::time::timeout(std::time::Duration::from_millis(500), write).await;
    assert!(
        cancelled.is_err(),
        "the write waited for the lock: {cancelled:?}"
    );
    hold.commit().await.unwrap();

    let mut check = sqlx::PgConnection::connect(&f.db.url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut tx = check.begin().await.unwrap();
        let free = sqlx::query("lock table sessions in share mode nowait")
            .execute(&mut *tx)
            .await
            .is_ok();
        tx.rollback().await.unwrap();
        if free {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cancelled write still holds the sessions table 10 s later"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        f.ids(&ListQuery::default()).await.is_empty(),
        "nothing kept"
    );
}
