//! Owners are accounts (issue 17): a session names an account that exists,
//! existing databases upgrade with their owners kept, nobody adopts sessions
//! by choosing a name, and admins reassign sessions with a timeline event
//! that reaches streams and webhooks. Both engines.

use std::sync::Arc;
use std::time::Duration;

use casebook::domain::{
    Actor, DisplayName, EventKind, ListQuery, NewSession, Outcome, OutcomeNotes, Password, Role,
    SearchTerms, Surface, User, Username, WebhookEvents, WebhookUrl,
};
use casebook::service::{
    AccountError, AccountService, NewUser, ServiceError, SessionService, SystemClock,
    WebhookService,
};
use casebook::store::{self, StoreError, Stores};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, problem, user};
use crate::live::EventStream;
use crate::webhooks::receiver::{Answer, Receiver};

backend_tests!(
    a_session_is_only_ever_owned_by_an_account,
    an_admin_gives_a_session_to_another_account_and_the_timeline_says_so,
    only_an_admin_reassigns_and_only_to_an_enabled_account,
    a_reassignment_from_an_owner_the_session_no_longer_has_changes_nothing,
    an_existing_database_upgrades_with_each_owner_as_an_account_of_its_own,
    put_owner_is_for_admins_and_names_an_enabled_account,
    an_owner_change_reaches_live_streams_and_webhooks,
    seed_demo_makes_accounts_no_new_user_can_take,
);

struct Fixture {
    stores: Stores,
    service: SessionService,
    accounts: AccountService,
    db: TestDb,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDb::new(backend).await;
    let stores = store::connect_all(&db.url).await.expect("store opens");
    let clock = Arc::new(SystemClock);
    Fixture {
        service: SessionService::new(stores.sessions.clone(), clock.clone()),
        accounts: AccountService::new(stores.accounts.clone(), clock),
        stores,
        db,
    }
}

impl Fixture {
    /// An account without a password, enabled or not, with a display name.
    async fn account(&self, username: &str, display_name: &str, enabled: bool) -> User {
        let name = Username::parse(username).unwrap();
        let display = DisplayName::parse(display_name).unwrap();
        if enabled {
            let new = NewUser {
                username: name,
                display_name: Some(display),
                password: Password::parse(PASSWORD).unwrap(),
                role: Role::Engineer,
            };
            self.accounts.create_user(new).await.unwrap()
        } else {
            self.accounts
                .create_disabled_user(name, Some(display))
                .await
                .unwrap()
        }
    }

    async fn active(&self, owner: &str, title: &str) -> Uuid {
        let actor = Actor::new(owner);
        let new = NewSession::parse(Some(title), None, None, None, &[]).unwrap();
        let id = self
            .service
            .prepare(&actor, Surface::Api, new)
            .await
            .unwrap()
            .id;
        self.service.start(&actor, Surface::Api, id).await.unwrap();
        id
    }

    async fn kinds(&self, id: Uuid) -> Vec<&'static str> {
        let events = self.service.events(id).await.unwrap();
        events.iter().map(|e| e.kind.name()).collect()
    }
}

fn admin() -> Actor {
    Actor::with_role("root", Role::Admin)
}

fn id_literal(db: &TestDb, id: Uuid) -> String {
    match db.backend {
        Backend::Sqlite => format!("x'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

async fn a_session_is_only_ever_owned_by_an_account(backend: Backend) {
    let f = fixture(backend).await;
    f.account("dana", "Dana Kim", true).await;

    // Preparing for a name without an account is refused, and writes nothing.
    let new = NewSession::parse(Some("Ghost's disk"), None, None, None, &[]).unwrap();
    let refused = f
        .service
        .prepare(&Actor::new("ghost"), Surface::Api, new)
        .await;
    assert!(
        matches!(&refused, Err(ServiceError::UnknownOwner { username }) if username == "ghost"),
        "{refused:?}"
    );
    assert!(
        f.service
            .list(&ListQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // The database itself holds the rule, whatever writes to it.
    let id = f.active("dana", "Dana's disk").await;
    let session = id_literal(&f.db, id);
    let to_nobody = format!("update sessions set owner = 'ghost' where id = {session}");
    assert!(
        f.db.raw_execute(&to_nobody).await.is_err(),
        "an owner without an account"
    );
    let owner_goes = "delete from users where username = 'dana'";
    assert!(
        f.db.raw_execute(owner_goes).await.is_err(),
        "an owner's account removed"
    );
    let owner_renamed = "update users set username = 'dana2' where username = 'dana'";
    assert!(
        f.db.raw_execute(owner_renamed).await.is_err(),
        "an owner's account renamed"
    );
    assert_eq!(f.service.get(id).await.unwrap().owner, "dana");

    // A reassignment to a name without an account changes nothing either.
    let event = casebook::domain::Event {
        id: Uuid::now_v7(),
        session_id: id,
        at: chrono::Utc::now(),
        actor: "root".into(),
        via: Surface::Api,
        kind: EventKind::OwnerChanged {
            from: "dana".into(),
            to: "ghost".into(),
        },
    };
    let missed = f.stores.sessions.apply(&event).await;
    assert!(
        matches!(missed, Err(StoreError::WrongStatus(_))),
        "{missed:?}"
    );
    assert_eq!(f.kinds(id).await, ["created", "started"]);
}

async fn an_admin_gives_a_session_to_another_account_and_the_timeline_says_so(backend: Backend) {
    let f = fixture(backend).await;
    f.account("dana", "Dana Kim", true).await;
    let lee = f.account("lee", "Lee Chen", true).await;
    let id = f.active("dana", "Slow checkout").await;

    let session = f
        .service
        .reassign(&admin(), Surface::Details, id, &lee)
        .await
        .unwrap();
    assert_eq!(session.owner, "lee");
    assert_eq!(f.service.get(id).await.unwrap().owner, "lee");
    let events = f.service.events(id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        last.kind,
        EventKind::OwnerChanged {
            from: "dana".into(),
            to: "lee".into(),
        }
    );
    assert_eq!((last.actor.as_str(), last.via), ("root", Surface::Details));

    // The new owner works on it; the old one no longer may.
    let notes = OutcomeNotes::default;
    let dana_closes = f
        .service
        .complete(
            &Actor::new("dana"),
            Surface::Api,
            id,
            Outcome::Resolved,
            notes(),
        )
        .await;
    assert!(matches!(dana_closes, Err(ServiceError::Forbidden { owner }) if owner == "lee"));
    f.service
        .complete(
            &Actor::new("lee"),
            Surface::Api,
            id,
            Outcome::Resolved,
            notes(),
        )
        .await
        .unwrap();

    // The owner filter and the search follow the new owner, by display name too.
    let by_owner = |owner: &str| ListQuery {
        owner: Some(owner.into()),
        ..ListQuery::default()
    };
    let ids = |page: casebook::domain::Page<casebook::domain::Session>| -> Vec<Uuid> {
        page.items.iter().map(|s| s.id).collect()
    };
    assert_eq!(ids(f.service.list(&by_owner("lee")).await.unwrap()), [id]);
    assert!(ids(f.service.list(&by_owner("dana")).await.unwrap()).is_empty());
    let search = |q: &str| ListQuery {
        search: SearchTerms::parse(q),
        ..ListQuery::default()
    };
    assert_eq!(ids(f.service.list(&search("chen")).await.unwrap()), [id]);
    assert!(ids(f.service.list(&search("kim")).await.unwrap()).is_empty());

    // A completed session is reassigned too; to its owner, nothing happens.
    let dana = f
        .accounts
        .user(&Username::parse("dana").unwrap())
        .await
        .unwrap();
    f.service
        .reassign(&admin(), Surface::Api, id, &dana)
        .await
        .unwrap();
    let before = f.kinds(id).await;
    let same = f
        .service
        .reassign(&admin(), Surface::Api, id, &dana)
        .await
        .unwrap();
    assert_eq!(same.owner, "dana");
    assert_eq!(f.kinds(id).await, before, "no event for no change");
    assert_eq!(before.iter().filter(|k| **k == "owner_changed").count(), 2);
}

async fn only_an_admin_reassigns_and_only_to_an_enabled_account(backend: Backend) {
    let f = fixture(backend).await;
    f.account("dana", "Dana Kim", true).await;
    let lee = f.account("lee", "Lee Chen", true).await;
    let alex = f.account("alex", "Alex Moreno", false).await;
    let id = f.active("dana", "VPN drops").await;
    let before = f.kinds(id).await;

    let by_owner = f
        .service
        .reassign(&Actor::new("dana"), Surface::Api, id, &lee)
        .await;
    assert!(
        matches!(by_owner, Err(ServiceError::NotAdmin)),
        "{by_owner:?}"
    );
    let to_disabled = f.service.reassign(&admin(), Surface::Api, id, &alex).await;
    assert!(
        matches!(&to_disabled, Err(ServiceError::OwnerDisabled { username }) if username == "alex"),
        "{to_disabled:?}"
    );
    // Disabled after it was read: the write itself refuses.
    let lee_name = Username::parse("lee").unwrap();
    f.accounts.disable_user(&lee_name).await.unwrap();
    let stale = f.service.reassign(&admin(), Surface::Api, id, &lee).await;
    assert!(
        matches!(&stale, Err(ServiceError::OwnerDisabled { username }) if username == "lee"),
        "{stale:?}"
    );
    let unknown = f
        .service
        .reassign(&admin(), Surface::Api, Uuid::now_v7(), &alex_enabled(&alex))
        .await;
    assert!(
        matches!(unknown, Err(ServiceError::NotFound)),
        "{unknown:?}"
    );

    assert_eq!(f.service.get(id).await.unwrap().owner, "dana");
    assert_eq!(f.kinds(id).await, before, "nothing was written");
}

/// `alex` as an enabled account would be, for a refusal that is not about it.
fn alex_enabled(alex: &User) -> User {
    User {
        disabled_at: None,
        ..alex.clone()
    }
}

async fn a_reassignment_from_an_owner_the_session_no_longer_has_changes_nothing(backend: Backend) {
    let f = fixture(backend).await;
    f.account("dana", "Dana Kim", true).await;
    let lee = f.account("lee", "Lee Chen", true).await;
    let sam = f.account("sam", "Sam Okafor", true).await;
    let id = f.active("dana", "Printer offline").await;

    // Two admins read "dana" and race; the first write wins.
    let root = admin();
    let (a, b) = tokio::join!(
        f.service.reassign(&root, Surface::Api, id, &lee),
        f.service.reassign(&root, Surface::Api, id, &sam),
    );
    let won = [&a, &b].iter().filter(|r| r.is_ok()).count();
    let changes = f
        .kinds(id)
        .await
        .into_iter()
        .filter(|k| *k == "owner_changed")
        .count();
    assert_eq!(changes, won, "one event per change that happened");
    let owner = f.service.get(id).await.unwrap().owner;
    for result in [a, b] {
        match result {
            Ok(session) if won == 1 => assert_eq!(session.owner, owner),
            Ok(_) => {}
            Err(ServiceError::OwnerChanged { owner: now }) => assert_eq!(now, owner),
            Err(e) => panic!("{e:?}"),
        }
    }

    // The conditional write, deterministically: from an owner it no longer has.
    let stale = casebook::domain::Event {
        id: Uuid::now_v7(),
        session_id: id,
        at: chrono::Utc::now(),
        actor: "root".into(),
        via: Surface::Api,
        kind: EventKind::OwnerChanged {
            from: "dana".into(),
            to: "sam".into(),
        },
    };
    let before = f.kinds(id).await;
    let missed = f.stores.sessions.apply(&stale).await;
    assert!(
        matches!(&missed, Err(StoreError::WrongStatus(now)) if now.owner == owner),
        "{missed:?}"
    );
    assert_eq!(f.kinds(id).await, before);
}

async fn an_existing_database_upgrades_with_each_owner_as_an_account_of_its_own(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.migrate_before(11).await;
    // Before: olga owns two sessions without an account; dana has one.
    let (now, dana_id) = match backend {
        Backend::Sqlite => ("1700000000000000", "x'018f0000000070008000000000000001'"),
        Backend::Postgres => ("now()", "'018f0000-0000-7000-8000-000000000001'"),
    };
    let id = |n: u8| match backend {
        Backend::Sqlite => format!("x'018f00000000700080000000000001{n:02x}'"),
        Backend::Postgres => format!("'018f0000-0000-7000-8000-0000000001{n:02x}'"),
    };
    db.raw_execute(&format!(
        "insert into users (id, username, display_name, password_hash, role, created_at) \
         values ({dana_id}, 'dana', 'Dana Kim', 'x', 'engineer', {now})"
    ))
    .await
    .unwrap();
    for (n, owner, title) in [
        (1, "olga", "Zeppelin backups fail"),
        (2, "olga", "Second of olga"),
        (3, "dana", "Dana's own"),
    ] {
        let title = title.replace('\'', "''");
        db.raw_execute(&format!(
            "insert into sessions (id, title, problem, owner, created_at, updated_at) \
             values ({}, '{title}', '', '{owner}', {now}, {now})",
            id(n)
        ))
        .await
        .unwrap();
        // Every session has its `created` event, which indexes it for search.
        db.raw_execute(&format!(
            "insert into session_events (id, session_id, at, actor, kind, via, data) \
             values ({}, {}, {now}, '{owner}', 'created', 'api', '{{\"kind\":\"created\"}}')",
            id(n + 16),
            id(n)
        ))
        .await
        .unwrap();
    }

    let app = TestApp::spawn_on(db).await;
    let list = app.get_json("/api/sessions?owner=olga").await;
    let titles: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "olga keeps her sessions: {list}");
    assert_eq!(
        app.get_json("/api/sessions?owner=dana").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // olga is an account now: disabled, without a password, named as before.
    let olga = Username::parse("olga").unwrap();
    let account = app.accounts.user(&olga).await.unwrap();
    assert!(account.is_disabled());
    assert_eq!(account.display_name.as_str(), "olga");
    assert_eq!(account.id.get_version_num(), 7, "a UUIDv7 like every id");
    let dana = app
        .accounts
        .user(&Username::parse("dana").unwrap())
        .await
        .unwrap();
    assert_eq!(
        dana.display_name.as_str(),
        "Dana Kim",
        "existing accounts stay"
    );
    assert_eq!(app.accounts.users().await.unwrap().len(), 2);

    // Nobody can take the name, or sign in as olga.
    let taken = app
        .accounts
        .create_user(NewUser {
            username: olga.clone(),
            display_name: None,
            password: Password::parse(PASSWORD).unwrap(),
            role: Role::Engineer,
        })
        .await;
    assert!(
        matches!(taken, Err(AccountError::UsernameTaken)),
        "{taken:?}"
    );
    let localhost = "127.0.0.1".parse().unwrap();
    assert!(
        app.accounts
            .authenticate("olga", "", localhost)
            .await
            .is_err()
    );
    // Still searchable by its owner, as before the upgrade.
    let found = app.get_json("/api/sessions?q=olga").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 2, "{found}");
}

async fn put_owner_is_for_admins_and_names_an_enabled_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_active("Disk full on db01").await;
    let path = format!("/api/sessions/{id}/owner");
    user(&app.accounts, "lee", Role::Engineer).await;
    let root = app.client_as("root", Role::Admin).await;
    let put = |client: &reqwest::Client, path: &str, body: Value| {
        client.put(app.url(path)).json(&body).send()
    };

    // dana owns it, but only an admin reassigns.
    let own = put(&app.client, &path, json!({ "owner": "lee" }))
        .await
        .unwrap();
    let body = problem(own, StatusCode::FORBIDDEN).await;
    assert_eq!(
        body["detail"],
        "Only an admin can give a session to another owner."
    );

    let unknown = put(&root, &path, json!({ "owner": "nobody" }))
        .await
        .unwrap();
    let body = problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "owner");
    assert_eq!(body["errors"][0]["message"], "“nobody” is not an account");
    app.accounts
        .disable_user(&Username::parse("lee").unwrap())
        .await
        .unwrap();
    let disabled = put(&root, &path, json!({ "owner": "lee" })).await.unwrap();
    let body = problem(disabled, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("“lee” is a disabled account"),
        "{body}"
    );
    for bad in [
        json!({}),
        json!({ "owner": "" }),
        json!({ "owner": "not a name" }),
    ] {
        let response = put(&root, &path, bad).await.unwrap();
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], "owner");
    }
    let nowhere = format!("/api/sessions/{}/owner", Uuid::now_v7());
    let response = put(&root, &nowhere, json!({ "owner": "dana" }))
        .await
        .unwrap();
    problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(app.session(&id).await["owner"], "dana");

    // To an enabled account: the owner field stays a username.
    let sam = user(&app.accounts, "sam", Role::Engineer).await;
    let response = put(&root, &path, json!({ "owner": " Sam " }))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["owner"], sam.username.as_str());
    let events = app.events(&id).await;
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "owner_changed");
    assert_eq!(
        (&last["from"], &last["to"]),
        (&json!("dana"), &json!("sam"))
    );
    assert_eq!(
        (&last["actor"], &last["via"]),
        (&json!("root"), &json!("api"))
    );
    // dana may no longer close it; sam may.
    let refused = app.complete(&id, "resolved", None).await;
    problem(refused, StatusCode::FORBIDDEN).await;
    let sams = app.client_as("sam", Role::Engineer).await;
    let closed = sams
        .post(app.url(&format!("/api/sessions/{id}/complete")))
        .json(&json!({ "outcome": "resolved" }))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::OK);
}

async fn an_owner_change_reaches_live_streams_and_webhooks(backend: Backend) {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = TestApp::spawn_with(TestDb::new(backend).await, |settings| {
        settings.webhooks.poll_interval = Duration::from_millis(50);
    })
    .await;
    let stores = store::connect_all(&app.db().url).await.unwrap();
    let webhooks = WebhookService::new(stores.webhooks, Arc::new(SystemClock));
    let (_, secret) = webhooks
        .add(
            &admin(),
            WebhookUrl::parse(&receiver.url).unwrap(),
            WebhookEvents::parse("owner_changed").unwrap(),
        )
        .await
        .unwrap();
    let id = app.create_active("Certificate expired").await;
    user(&app.accounts, "lee", Role::Engineer).await;
    let root = app.client_as("root", Role::Admin).await;
    let mut stream = EventStream::open(&app.client, &app.url("/api/stream"), None).await;

    let response = root
        .put(app.url(&format!("/api/sessions/{id}/owner")))
        .json(&json!({ "owner": "lee" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let live = stream
        .next_session_where(Duration::from_secs(20), |s| {
            s["id"] == json!(id) && s["owner"] == "lee"
        })
        .await;
    assert!(live.is_some(), "the stream tells of the new owner");
    let delivery = receiver
        .wait_for(1, Duration::from_secs(20))
        .await
        .remove(0);
    assert!(delivery.signed_with(secret.expose()));
    assert_eq!(delivery.event, "owner_changed");
    let body = delivery.json();
    assert_eq!(body["event"]["kind"], "owner_changed");
    assert_eq!(
        (&body["event"]["from"], &body["event"]["to"]),
        (&json!("dana"), &json!("lee"))
    );
    assert_eq!(body["session"]["owner"], "lee");
}

async fn seed_demo_makes_accounts_no_new_user_can_take(backend: Backend) {
    let db = TestDb::new(backend).await;
    let casebook = |args: &[&str], stdin: &'static str| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook"));
        command
            .args(args)
            .args(["--database-url", &db.url])
            .env_remove("CASEBOOK_DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        async move {
            use tokio::io::AsyncWriteExt;
            let mut child = command.spawn().expect("casebook starts");
            let mut input = child.stdin.take().unwrap();
            let _ = input.write_all(stdin.as_bytes()).await;
            drop(input);
            child.wait_with_output().await.unwrap()
        }
    };
    let seeded = casebook(&["seed", "--demo"], "").await;
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );

    let refused = casebook(
        &["user", "add", "alex", "--password-stdin"],
        "a long passphrase\n",
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("The username “alex” is taken by another account, perhaps a disabled one."),
        "{stderr}"
    );

    // The sample engineers are accounts with display names, disabled.
    let stores = store::connect_all(&db.url).await.unwrap();
    let accounts = AccountService::new(stores.accounts.clone(), Arc::new(SystemClock));
    let users = accounts.users().await.unwrap();
    let names: Vec<(&str, &str, bool)> = users
        .iter()
        .map(|u| {
            (
                u.username.as_str(),
                u.display_name.as_str(),
                u.is_disabled(),
            )
        })
        .collect();
    let expected: Vec<(&str, &str, bool)> = {
        let mut e: Vec<_> = casebook::demo::ENGINEERS
            .iter()
            .map(|(u, d)| (*u, *d, true))
            .collect();
        e.sort();
        e
    };
    assert_eq!(names, expected);
    let localhost = "127.0.0.1".parse().unwrap();
    assert!(accounts.authenticate("alex", "", localhost).await.is_err());
    // An admin cannot enable one before it has a password.
    let root = accounts
        .create_user(NewUser {
            username: Username::parse("root").unwrap(),
            display_name: None,
            password: Password::parse(PASSWORD).unwrap(),
            role: Role::Admin,
        })
        .await
        .unwrap();
    let alex = Username::parse("alex").unwrap();
    let enabled = accounts
        .change_user_as(&root, &alex, casebook::service::UserChange::Enable)
        .await;
    assert!(
        matches!(enabled, Err(AccountError::NoPassword)),
        "{enabled:?}"
    );
    // Every session has its sample engineer as owner; alex's stay alex's.
    let sessions = SessionService::new(stores.sessions.clone(), Arc::new(SystemClock));
    let page = sessions
        .list(&ListQuery {
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(
        page.items
            .iter()
            .all(|s| users.iter().any(|u| u.username.as_str() == s.owner))
    );
    assert!(page.items.iter().any(|s| s.owner == "alex"));
    stores.sessions.close().await;
}
