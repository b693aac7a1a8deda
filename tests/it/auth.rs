//! Who may do what: tokens and login sessions, 401 / 403, CSRF, the sign-in
//! page with its throttle, and what pages show to whom.

use casebook::domain::Role;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestDb, cookie_of, csrf_of, problem, sign_in, sign_in_with,
};

backend_tests!(
    tokens_and_login_sessions_are_stored_only_as_hashes,
    a_disabled_account_signs_in_with_nothing,
    repeated_failed_sign_ins_are_refused_for_a_while_with_retry_after,
    unknown_and_revoked_tokens_authenticate_nobody,
    pages_send_strangers_to_sign_in_and_the_cookie_is_safe,
    the_history_page_shows_mine_by_default_and_close_only_where_the_viewer_may_close,
);

/// Sends `method path` with an optional JSON body through `client`.
async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = client.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// A session of dana's in `status`, with one step; returns (id, step id).
async fn dana_session(app: &TestApp, status: &str) -> (String, String) {
    let created = app.create("dana's", &["look"]).await;
    let id = created["id"].as_str().unwrap().to_string();
    let step = created["steps"][0]["id"].as_str().unwrap().to_string();
    if status != "prepared" {
        assert!(
            app.post(&format!("/api/sessions/{id}/start"))
                .await
                .status()
                .is_success()
        );
    }
    if status == "completed" {
        assert!(
            app.complete(&id, "resolved", None)
                .await
                .status()
                .is_success()
        );
    }
    (id, step)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_changing_route_is_for_the_owner_and_admins_and_reads_are_for_everyone() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let anonymous = app.anonymous();
    let sam = app.client_as("sam", Role::Engineer).await;
    let root = app.client_as("root", Role::Admin).await;
    let note = json!({ "text": "a note" });
    let close = json!({ "outcome": "resolved" });
    // (route, status it needs, body, success status)
    let routes: [(&str, &str, Option<&Value>, StatusCode); 7] = [
        ("/start", "prepared", None, StatusCode::OK),
        ("/complete", "active", Some(&close), StatusCode::OK),
        ("/reopen", "completed", None, StatusCode::OK),
        ("/notes", "active", Some(&note), StatusCode::CREATED),
        ("/steps/{step}/check", "active", None, StatusCode::OK),
        ("/steps/{step}/uncheck", "active", None, StatusCode::OK),
        ("/summary", "completed", None, StatusCode::OK),
    ];
    for (route, status, body, success) in routes {
        for who in ["owner", "admin"] {
            let (id, step) = dana_session(&app, status).await;
            let path = format!("/api/sessions/{id}{}", route.replace("{step}", &step));
            let refused = send(&app, &anonymous, Method::POST, &path, body).await;
            assert!(refused.headers().contains_key("www-authenticate"));
            problem(refused, StatusCode::UNAUTHORIZED).await;
            let body_403 = problem(
                send(&app, &sam, Method::POST, &path, body).await,
                StatusCode::FORBIDDEN,
            )
            .await;
            assert!(
                body_403["detail"].as_str().unwrap().contains("dana"),
                "{body_403}"
            );
            let client = if who == "owner" { &app.client } else { &root };
            let response = send(&app, client, Method::POST, &path, body).await;
            assert_eq!(response.status(), success, "{who} POST {route}");
            // Everyone signed in reads everything.
            for read in [
                format!("/api/sessions/{id}"),
                format!("/api/sessions/{id}/events"),
                "/api/sessions".into(),
            ] {
                assert_eq!(
                    send(&app, &sam, Method::GET, &read, None).await.status(),
                    StatusCode::OK
                );
                problem(
                    send(&app, &anonymous, Method::GET, &read, None).await,
                    StatusCode::UNAUTHORIZED,
                )
                .await;
            }
        }
    }
    // Anyone signed in prepares sessions of their own; the timeline names who acted.
    let created = send(
        &app,
        &sam,
        Method::POST,
        "/api/sessions",
        Some(&json!({ "title": "sam's" })),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["owner"], "sam");
    let (id, _) = dana_session(&app, "active").await;
    send(
        &app,
        &root,
        Method::POST,
        &format!("/api/sessions/{id}/complete"),
        Some(&close),
    )
    .await;
    let events = app.events(&id).await;
    let closing = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (closing["actor"].as_str(), closing["via"].as_str()),
        (Some("root"), Some("api"))
    );
    // Open to everyone: health and sign-in.
    for path in ["/healthz", "/readyz", "/login"] {
        assert_eq!(
            send(&app, &anonymous, Method::GET, path, None)
                .await
                .status(),
            StatusCode::OK,
            "{path}"
        );
    }
}

async fn unknown_and_revoked_tokens_authenticate_nobody(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bogus = reqwest::Client::new()
        .get(app.url("/api/sessions"))
        .bearer_auth("cb_not-a-token")
        .send()
        .await
        .unwrap();
    problem(bogus, StatusCode::UNAUTHORIZED).await;
    let tokens = app.accounts.tokens(None).await.unwrap();
    app.accounts.revoke_token(tokens[0].id, None).await.unwrap();
    problem(app.get("/api/sessions").await, StatusCode::UNAUTHORIZED).await;
}

async fn pages_send_strangers_to_sign_in_and_the_cookie_is_safe(backend: Backend) {
    let app = TestApp::spawn_with(TestDb::new(backend).await, |s| s.secure_cookies = true).await;
    let page = app
        .anonymous_without_redirects()
        .get(app.url("/sessions?status=active"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()[LOCATION],
        "/login?next=%2Fsessions%3Fstatus%3Dactive"
    );

    let wrong = sign_in(&app, "dana", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong username or password.")
    );

    let form = [
        ("username", "dana"),
        ("password", PASSWORD),
        ("next", "/sessions?status=active"),
    ];
    let signed_in = sign_in_with(&app, &form, &[]).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        signed_in.headers()[LOCATION],
        "/sessions?status=active",
        "back where they were going"
    );
    let (cookie, set_cookie) = cookie_of(&signed_in);
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie} has {flag}");
    }
    let again = sign_in(&app, "dana", PASSWORD).await;
    assert_ne!(
        cookie_of(&again).0,
        cookie,
        "a new session id at every sign-in"
    );

    let history = app
        .anonymous()
        .get(app.url("/sessions"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), StatusCode::OK);
    assert!(history.text().await.unwrap().contains("Sign out"));

    // Signing out ends the session on the server, not only in the browser.
    let csrf = csrf_of(&app, &cookie).await;
    let out = app
        .anonymous_without_redirects()
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = app
        .anonymous_without_redirects()
        .get(app.url("/sessions"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_writes_need_the_csrf_token_and_casebooks_own_origin() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (cookie, _) = cookie_of(&sign_in(&app, "dana", PASSWORD).await);
    let csrf = csrf_of(&app, &cookie).await;
    let (id, _) = dana_session(&app, "active").await;
    let close = |token: Option<&str>, origin: Option<&str>| {
        let mut form = vec![("outcome", "resolved")];
        if let Some(token) = token {
            form.push(("csrf", token));
        }
        let mut request = app
            .anonymous_without_redirects()
            .post(app.url(&format!("/sessions/{id}/complete")))
            .header("cookie", &cookie)
            .form(&form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    assert_eq!(
        close(None, None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        close(Some("forged"), None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        close(Some(&csrf), Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.session(&id).await["status"],
        "active",
        "nothing was changed"
    );
    let own_origin = format!("http://{}", app.addr);
    assert_eq!(
        close(Some(&csrf), Some(&own_origin))
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.session(&id).await["status"], "completed");

    // The script sends the token in a header; the API checks it for cookies too.
    let reopen = |token: Option<&str>| {
        let mut request = app
            .anonymous()
            .post(app.url(&format!("/api/sessions/{id}/reopen")))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin");
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    problem(reopen(None).await.unwrap(), StatusCode::FORBIDDEN).await;
    assert_eq!(reopen(Some(&csrf)).await.unwrap().status(), StatusCode::OK);
    let cross_site = app
        .anonymous()
        .post(app.url(&format!("/api/sessions/{id}/complete")))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .header("x-csrf-token", &csrf)
        .json(&json!({ "outcome": "resolved" }))
        .send()
        .await
        .unwrap();
    problem(cross_site, StatusCode::FORBIDDEN).await;
}

async fn repeated_failed_sign_ins_are_refused_for_a_while_with_retry_after(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..5 {
        assert_eq!(
            sign_in(&app, "dana", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let refused = sign_in(&app, "dana", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
}

async fn the_history_page_shows_mine_by_default_and_close_only_where_the_viewer_may_close(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_active("dana's active").await;
    let sam = app.client_as("sam", Role::Engineer).await;
    let page = |client: reqwest::Client, path: &'static str| {
        let url = app.url(path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let sams_default = page(sam.clone(), "/sessions").await;
    assert!(!sams_default.contains(&id), "Mine is the default view");
    let sams_everyone = page(sam.clone(), "/sessions?owner=all").await;
    assert!(sams_everyone.contains(&format!("id=\"s-{id}\"")));
    assert!(
        !sams_everyone.contains("data-close"),
        "no Close on someone else's session"
    );
    assert!(
        !sams_everyone.contains(&format!("/sessions/{id}/work")),
        "no Resume either"
    );
    let danas = page(app.client.clone(), "/sessions").await;
    assert!(danas.contains("data-close") && danas.contains(&format!("/sessions/{id}/work")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_form_posts_send_strangers_to_sign_in_and_refuse_other_engineers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let sams = app.without_redirects_as("sam", Role::Engineer).await;
    let no_redirects =
        |client: &reqwest::Client, path: String, form: Vec<(&'static str, String)>| {
            client.post(app.url(&path)).form(&form).send()
        };
    let anonymous = app.anonymous_without_redirects();
    let dana = app.without_redirects();
    for (route, status) in [
        ("/complete", "active"),
        ("/start", "prepared"),
        ("/reopen", "completed"),
        ("/work/notes", "active"),
        ("/summary", "completed"),
    ] {
        let (id, _) = dana_session(&app, status).await;
        let path = format!("/sessions/{id}{route}");
        let form = vec![
            ("outcome", "resolved".to_string()),
            ("text", "n".to_string()),
        ];
        let stranger = no_redirects(&anonymous, path.clone(), form.clone())
            .await
            .unwrap();
        assert_eq!(stranger.status(), StatusCode::SEE_OTHER, "{route}");
        assert!(
            stranger.headers()[LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login?next=")
        );
        let other = no_redirects(&sams, path.clone(), form.clone())
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::FORBIDDEN, "{route}");
        let text = other.text().await.unwrap();
        assert!(
            text.contains("Not yours to change") && text.contains("(dana)"),
            "{route}: {text}"
        );
        let owner = no_redirects(&dana, path, form).await.unwrap();
        assert_eq!(
            owner.status(),
            StatusCode::SEE_OTHER,
            "{route} by the owner"
        );
    }
}

async fn tokens_and_login_sessions_are_stored_only_as_hashes(backend: Backend) {
    use sha2::Digest;
    let app = TestApp::spawn(backend).await;
    let (cookie, _) = cookie_of(&sign_in(&app, "dana", PASSWORD).await);
    let session_id = cookie.split_once('=').unwrap().1.to_string();
    let db = app.db();
    let token_hashes = db.strings("select token_hash from api_tokens").await;
    let session_hashes = db.strings("select id_hash from login_sessions").await;
    let sha256 = |value: &str| format!("{:x}", sha2::Sha256::digest(value.as_bytes()));
    assert_eq!(
        token_hashes,
        [sha256(&app.token)],
        "the token's hash, not the token"
    );
    assert!(session_hashes.contains(&sha256(&session_id)));
    let dump = [
        db.strings("select token_hash from api_tokens").await,
        db.strings("select id_hash from login_sessions").await,
        db.strings("select password_hash from users").await,
    ]
    .concat()
    .join(" ");
    for secret in [app.token.as_str(), session_id.as_str(), PASSWORD] {
        assert!(!dump.contains(secret), "a secret is stored as itself");
    }
    assert!(dump.contains("$argon2id$"), "passwords are argon2id hashes");
}

async fn a_disabled_account_signs_in_with_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (cookie, _) = cookie_of(&sign_in(&app, "dana", PASSWORD).await);
    let dana = casebook::domain::Username::parse("dana").unwrap();
    app.accounts.disable_user(&dana).await.unwrap();
    assert_eq!(
        sign_in(&app, "dana", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let with_cookie = app
        .anonymous_without_redirects()
        .get(app.url("/sessions"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_cookie.status(),
        StatusCode::SEE_OTHER,
        "the old cookie is worthless"
    );
    problem(app.get("/api/sessions").await, StatusCode::UNAUTHORIZED).await;
}
