//! Similar past sessions and search across what was found, on both
//! backends, over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDb, problem};

backend_tests!(
    the_completed_session_most_like_a_new_one_comes_first,
    similar_never_lists_the_session_itself_nor_prepared_or_active_ones,
    similar_takes_a_limit_of_1_to_20_and_404s_an_unknown_session,
    similar_to_a_typed_text_offers_matching_completed_sessions,
    a_word_only_in_a_finding_a_note_or_an_outcome_note_finds_its_session,
    the_owners_display_name_finds_their_sessions,
    the_index_forgets_what_was_unchecked_or_reopened_away,
    the_history_card_marks_the_matching_words_and_keeps_hostile_text_escaped,
    the_workspace_and_details_pages_list_similar_past_sessions,
    the_new_session_form_copies_a_similar_sessions_plan_without_script,
    an_existing_database_is_indexed_when_it_upgrades,
);

/// A started session with a problem, a plan and a customer; returns its JSON.
async fn start(app: &TestApp, title: &str, problem: &str, steps: &[&str]) -> Value {
    let response = app
        .post_json(
            "/api/sessions",
            &json!({ "title": title, "problem": problem, "customer": "ACME", "steps": steps, "start": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn id(session: &Value) -> String {
    session["id"].as_str().unwrap().to_string()
}

/// A completed session; returns its id.
async fn solved(app: &TestApp, title: &str, problem: &str, steps: &[&str], notes: &str) -> String {
    let session = start(app, title, problem, steps).await;
    let response = app.complete(&id(&session), "workaround", Some(notes)).await;
    assert_eq!(response.status(), StatusCode::OK);
    id(&session)
}

/// Five solved problems that share only everyday words.
async fn history(app: &TestApp) -> Vec<String> {
    vec![
        solved(
            app,
            "VPN tunnel drops every hour",
            "Remote users lose the IPsec tunnel to the branch office every hour.",
            &["Check the IPsec rekey timers", "Read the firewall logs"],
            "Longer rekey lifetime on the branch firewall",
        )
        .await,
        solved(
            app,
            "Disk full on db01",
            "Writes fail with ENOSPC on the primary database server.",
            &["Check df -h", "Rotate the logs"],
            "Rotated the logs and added a volume",
        )
        .await,
        solved(
            app,
            "Certificate expired on the API gateway",
            "Clients get TLS handshake errors from the gateway.",
            &["Check the certificate expiry", "Renew through ACME"],
            "Renewed the certificate by hand",
        )
        .await,
        solved(
            app,
            "Kafka consumer lag on payments",
            "The payments consumer group falls behind during the evening peak.",
            &["Check consumer lag", "Compare partition counts"],
            "Added partitions to the topic",
        )
        .await,
        solved(
            app,
            "Login loop in the portal",
            "Users are sent back to the login page after signing in.",
            &["Check the session cookie", "Compare the SSO clock skew"],
            "Fixed the cookie domain",
        )
        .await,
    ]
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn the_completed_session_most_like_a_new_one_comes_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let past = history(&app).await;
    let new = start(
        &app,
        "Branch office VPN keeps dropping",
        "The IPsec tunnel to the branch drops again, roughly every hour.",
        &["Check the rekey timers"],
    )
    .await;
    let similar = app
        .get_json(&format!("/api/sessions/{}/similar", id(&new)))
        .await;
    let found = ids(&similar);
    assert_eq!(found.first(), Some(&past[0]), "{similar:#}");
    let first = &similar["items"][0];
    assert_eq!(first["title"], "VPN tunnel drops every hour");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["outcome"], "workaround");
    assert_eq!(
        first["outcome_notes"],
        "Longer rekey lifetime on the branch firewall"
    );
    assert_eq!(first["steps"][0]["text"], "Check the IPsec rekey timers");

    let disk = start(&app, "db01 disk is full again", "ENOSPC on writes", &[]).await;
    let similar = app
        .get_json(&format!("/api/sessions/{}/similar", id(&disk)))
        .await;
    assert_eq!(ids(&similar).first(), Some(&past[1]), "{similar:#}");
}

async fn similar_never_lists_the_session_itself_nor_prepared_or_active_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let solved_one = solved(
        &app,
        "Printer spooler hangs",
        "The spooler service hangs on the third floor printer.",
        &["Restart the spooler"],
        "Restarted the spooler service",
    )
    .await;
    let solved_two = solved(
        &app,
        "Spooler hangs again on the printer",
        "Third floor printer spooler hangs.",
        &["Restart the spooler"],
        "Cleared the spooler queue",
    )
    .await;
    let active = id(&start(&app, "Printer spooler hangs", "Spooler hangs", &[]).await);
    let prepared = app
        .post_json(
            "/api/sessions",
            &json!({ "title": "Printer spooler hangs", "problem": "Spooler hangs on the printer" }),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    for (of, expected) in [
        (&solved_one, vec![solved_two.clone()]),
        (&solved_two, vec![solved_one.clone()]),
        (&active, vec![solved_one.clone(), solved_two.clone()]),
        (&id(&prepared), vec![solved_one.clone(), solved_two.clone()]),
    ] {
        let mut found = ids(&app.get_json(&format!("/api/sessions/{of}/similar")).await);
        found.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(found, expected, "similar to {of}");
    }
}

async fn similar_takes_a_limit_of_1_to_20_and_404s_an_unknown_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for n in 0..7 {
        solved(
            &app,
            &format!("Mail relay queue stuck {n}"),
            "The outbound mail relay queue is stuck.",
            &[],
            "Flushed the relay queue",
        )
        .await;
    }
    let new = id(&start(
        &app,
        "Mail relay queue stuck",
        "Outbound mail is queued",
        &[],
    )
    .await);
    let path = format!("/api/sessions/{new}/similar");
    assert_eq!(ids(&app.get_json(&path).await).len(), 5);
    assert_eq!(
        ids(&app.get_json(&format!("{path}?limit=1")).await).len(),
        1
    );
    assert_eq!(
        ids(&app.get_json(&format!("{path}?limit=20")).await).len(),
        7
    );
    for bad in ["0", "21", "-3", "many"] {
        let body = problem(
            app.get(&format!("{path}?limit={bad}")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "limit", "{bad}");
    }
    let unknown = uuid::Uuid::now_v7();
    problem(
        app.get(&format!("/api/sessions/{unknown}/similar")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/api/sessions/not-an-id/similar").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn similar_to_a_typed_text_offers_matching_completed_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let past = history(&app).await;
    let url = |text: &str| format!("/api/similar?text={}", urlencode(text));
    let found = app
        .get_json(&url("kafka lag on the payments consumers"))
        .await;
    assert_eq!(ids(&found).first(), Some(&past[3]), "{found:#}");
    // Only everyday words, or nothing: nothing to offer.
    assert!(ids(&app.get_json(&url("the and of")).await).is_empty());
    assert!(ids(&app.get_json("/api/similar").await).is_empty());
    let body = problem(
        app.get(&url("nul \u{0} byte")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "text");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The ids the list API finds for `q`.
async fn search(app: &TestApp, q: &str) -> Vec<String> {
    ids(&app
        .get_json(&format!("/api/sessions?q={}", urlencode(q)))
        .await)
}

async fn a_word_only_in_a_finding_a_note_or_an_outcome_note_finds_its_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let finding = start(&app, "Slow dashboards", "", &["Check the query plans"]).await;
    let step = finding["steps"][0]["id"].as_str().unwrap();
    let response = app
        .post_json(
            &format!("/api/sessions/{}/steps/{step}/check", id(&finding)),
            &json!({ "finding": "Sequential scan on the zeppelin table" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let note = id(&start(&app, "Slow dashboards", "", &[]).await);
    let response = app
        .post_json(
            &format!("/api/sessions/{note}/notes"),
            &json!({ "text": "Vendor calls it the marmalade bug" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let outcome_note = id(&start(&app, "Slow dashboards", "", &[]).await);
    let response = app
        .complete(
            &outcome_note,
            "resolved",
            Some("Raised the quokka cache size"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let plan = id(&start(&app, "Slow dashboards", "", &["Ask the wombat team"]).await);

    assert_eq!(search(&app, "zeppelin").await, [id(&finding)]);
    assert_eq!(search(&app, "marmal").await, std::slice::from_ref(&note));
    assert_eq!(search(&app, "quokka cache").await, [outcome_note]);
    assert_eq!(search(&app, "wombat").await, [plan]);
    // Every word must match, wherever it is.
    assert_eq!(search(&app, "slow marmalade").await, [note]);
    assert!(search(&app, "zeppelin marmalade").await.is_empty());
}

async fn the_owners_display_name_finds_their_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mine = id(&start(&app, "Slow dashboards", "", &[]).await);
    // The account gets its display name after the session exists.
    app.db()
        .raw_execute("update users set display_name = 'Dana Okonkwo' where username = 'dana'")
        .await
        .unwrap();
    assert_eq!(search(&app, "okonkwo").await, std::slice::from_ref(&mine));
    assert_eq!(search(&app, "dana slow").await, [mine]);
}

async fn the_index_forgets_what_was_unchecked_or_reopened_away(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = start(&app, "Slow dashboards", "", &["Check the query plans"]).await;
    let step = session["steps"][0]["id"].as_str().unwrap();
    let path = |action: &str| format!("/api/sessions/{}/steps/{step}/{action}", id(&session));
    app.post_json(&path("check"), &json!({ "finding": "zeppelin" }))
        .await;
    assert_eq!(search(&app, "zeppelin").await, [id(&session)]);
    app.post(&path("uncheck")).await;
    assert!(search(&app, "zeppelin").await.is_empty());

    app.complete(&id(&session), "resolved", Some("quokka"))
        .await;
    assert_eq!(search(&app, "quokka").await, [id(&session)]);
    app.post(&format!("/api/sessions/{}/reopen", id(&session)))
        .await;
    assert!(search(&app, "quokka").await.is_empty());
}

async fn the_history_card_marks_the_matching_words_and_keeps_hostile_text_escaped(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let session = id(&start(&app, "Slow dashboards", "", &[]).await);
    let hostile = "<script>alert(1)</script> the zeppelin <b>table</b> & more";
    app.post_json(
        &format!("/api/sessions/{session}/notes"),
        &json!({ "text": hostile }),
    )
    .await;
    let page = app
        .get("/sessions?owner=all&q=zeppelin")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("id=\"s-{session}\"")), "{page}");
    assert!(page.contains("<mark>zeppelin</mark>"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<b>table</b>"), "{page}");
    if backend == Backend::Sqlite {
        assert!(page.contains("&#60;b&#62;table&#60;/b&#62;"), "{page}");
    }
    // (PostgreSQL's ts_headline drops what its parser reads as tags.)
    assert!(!page.contains('\u{E000}') && !page.contains('\u{E001}'));
    // Without a search, no snippet.
    let page = app.get("/sessions?owner=all").await.text().await.unwrap();
    assert!(!page.contains("<mark>"));
}

async fn the_workspace_and_details_pages_list_similar_past_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    history(&app).await;
    let new = id(&start(
        &app,
        "Kafka lag on payments again",
        "Consumer group is behind",
        &[],
    )
    .await);
    let page = app
        .get(&format!("/sessions/{new}/work"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Similar past sessions"), "{page}");
    assert!(page.contains("Kafka consumer lag on payments"), "{page}");
    assert!(page.contains("Added partitions to the topic"), "{page}");
    assert!(page.contains("Workaround"), "{page}");
    let details = app
        .get(&format!("/sessions/{new}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        details.contains("Kafka consumer lag on payments"),
        "{details}"
    );
}

async fn the_new_session_form_copies_a_similar_sessions_plan_without_script(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let past = history(&app).await;
    let fragment = app
        .get(&format!(
            "/sessions/new/similar?text={}",
            urlencode("certificate expired, TLS handshake errors")
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        fragment.contains(&format!("value=\"copy-{}\"", past[2])),
        "{fragment}"
    );
    // The copy button posts the form; the plan comes back with its steps.
    let client = app
        .client_as("erin", casebook::domain::Role::Engineer)
        .await;
    let form = [
        ("title", "TLS errors from the gateway"),
        ("problem", "Handshake failures"),
        ("steps", "Call the customer"),
        ("intent", &format!("copy-{}", past[2])),
    ];
    let page = client
        .post(app.url("/sessions/new"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let call = page.find("value=\"Call the customer\"").expect("kept step");
    let expiry = page
        .find("value=\"Check the certificate expiry\"")
        .expect("copied step");
    let renew = page
        .find("value=\"Renew through ACME\"")
        .expect("copied step");
    assert!(call < expiry && expiry < renew);
    assert!(page.contains("value=\"TLS errors from the gateway\""));
}

async fn an_existing_database_is_indexed_when_it_upgrades(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.migrate_before(7).await;
    // A session written before the upgrade, with a finding and a note.
    let (id, now) = match backend {
        Backend::Sqlite => ("randomblob(16)", "1700000000000000"),
        Backend::Postgres => ("gen_random_uuid()", "now()"),
    };
    for sql in [
        format!(
            "insert into sessions (id, title, problem, owner, created_at, updated_at, started_at) \
             values ({id}, 'Slow dashboards', '', 'olga', {now}, {now}, {now})"
        ),
        format!(
            "insert into session_steps (id, session_id, position, text, checked_at, finding) \
             select {id}, id, 1, 'Check the plans', {now}, 'zeppelin table scan' from sessions"
        ),
        format!(
            "insert into session_events (id, session_id, at, actor, kind, via, data) \
             select {id}, id, {now}, 'dana', 'note_added', 'api', \
             '{{\"kind\":\"note_added\",\"text\":\"the marmalade bug\"}}' from sessions"
        ),
    ] {
        db.raw_execute(&sql).await.unwrap();
    }
    let app = TestApp::spawn_on(db).await;
    assert_eq!(search(&app, "zeppelin").await.len(), 1);
    assert_eq!(search(&app, "marmalade").await.len(), 1);
    assert_eq!(search(&app, "slow dash").await.len(), 1);
}
