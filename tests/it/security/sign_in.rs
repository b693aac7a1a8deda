//! Signing in: the throttle under a burst, the hashing slots, the cookie's
//! lifetime, signing in again with a live cookie, and what a bearer token
//! may not do.

use std::time::Duration;

use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::{
    Backend, PASSWORD, ServerProcess, TestApp, TestDb, cli_token, cookie_of, page, sign_in_with,
};

backend_tests!(
    signing_in_again_while_holding_a_live_cookie_replaces_the_old_login_session,
    the_cookie_ends_with_the_browser_unless_the_user_stays_signed_in,
);

/// ASVS 3.5: a leaked personal token cannot mint another one (that would
/// outlive its revocation), list tokens, or change the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_token_cannot_reach_token_or_account_management() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.without_redirects();
    let minted = client
        .post(app.url("/account/tokens"))
        .form(&[("name", "persistence")])
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), StatusCode::FORBIDDEN);
    let body = minted.text().await.unwrap();
    assert!(body.contains("sign in with your password"), "{body}");
    for (method, path) in [
        (reqwest::Method::GET, "/account"),
        (reqwest::Method::POST, "/account/password"),
        (
            reqwest::Method::POST,
            "/account/tokens/00000000-0000-0000-0000-000000000000/revoke",
        ),
    ] {
        let response = client.request(method, app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let dana = casebook::domain::Username::parse("dana").unwrap();
    assert_eq!(app.accounts.tokens(Some(&dana)).await.unwrap().len(), 1);
    // The token still works where it belongs.
    assert_eq!(app.get("/api/sessions").await.status(), StatusCode::OK);
}

/// A second tab signing in while the first one's cookie is live gets in
/// (a new login session replaces the old one) instead of a bare 403.
async fn signing_in_again_while_holding_a_live_cookie_replaces_the_old_login_session(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let form = [("username", "dana"), ("password", PASSWORD)];
    let (first, _) = cookie_of(&sign_in_with(&app, &form, &[]).await);
    let again = sign_in_with(&app, &form, &[("cookie", first.as_str())]).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let (second, _) = cookie_of(&again);
    assert_ne!(first, second);
    assert_eq!(
        page(&app, "/sessions", &second).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        page(&app, "/sessions", &first).await.status(),
        StatusCode::SEE_OTHER,
        "the old login session ended"
    );
    // Setup with a live cookie is answered too (setup is over: 410), not refused.
    let setup = app
        .anonymous_without_redirects()
        .post(app.url("/setup"))
        .header("cookie", &second)
        .form(&[("token", "x"), ("username", "eve"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), StatusCode::GONE);
    // Another site still cannot sign anyone in.
    let cross_site = sign_in_with(&app, &form, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
}

/// ASVS 3.3.2: the cookie ends with the browser unless the user asks to
/// stay signed in, and then lives as long as the session may (12 hours).
async fn the_cookie_ends_with_the_browser_unless_the_user_stays_signed_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, plain) =
        cookie_of(&sign_in_with(&app, &[("username", "dana"), ("password", PASSWORD)], &[]).await);
    assert!(
        !plain.contains("Max-Age") && !plain.contains("Expires"),
        "{plain}"
    );
    let (_, remembered) = cookie_of(
        &sign_in_with(
            &app,
            &[
                ("username", "dana"),
                ("password", PASSWORD),
                ("remember", "on"),
            ],
            &[],
        )
        .await,
    );
    assert!(remembered.contains("Max-Age=43200"), "{remembered}");
    let form = app.anonymous().get(app.url("/login")).send().await.unwrap();
    let html = form.text().await.unwrap();
    assert!(
        html.contains("name=\"remember\""),
        "the sign-in form offers it"
    );
}

/// ASVS 11.1.4: password checks beyond the hashing slots are answered at
/// once with 503 and `Retry-After`, not queued. Each guess names an unknown
/// user from its own address (through a trusted proxy), so no throttle
/// refuses any: only the one slot does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_beyond_the_hashing_slots_are_told_to_retry_shortly() {
    let app = TestApp::spawn_with(TestDb::new(Backend::Sqlite).await, |s| {
        s.security.max_concurrent_password_hashes = 1;
        s.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let guesses = (0..30).map(|i| {
        let client = app.anonymous_without_redirects();
        let url = app.url("/login");
        async move {
            client
                .post(url)
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .form(&[
                    ("username", format!("nobody{i}")),
                    ("password", "a wrong guess".into()),
                ])
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures::future::join_all(guesses).await;
    let mut busy = 0;
    for response in &responses {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(response.headers().contains_key("retry-after"));
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "30 guesses at once never found the one slot taken"
    );
    assert!(busy < 30, "some guesses were checked");
}

/// The VmHWM (peak resident memory) of a process, in MiB.
fn peak_memory_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

/// ASVS 2.2.1 and 11.1.4, against the real binary: sixty wrong passwords
/// for one user at once get at most the policy's five checks, the rest are
/// throttled (429) or told to retry (503), and the server's peak memory
/// grows by far less than sixty argon2 computations (19 MiB each; before,
/// it rose to 834 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sixty_wrong_passwords_is_checked_at_most_five_times_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = ["--data-dir", dir.path().to_str().unwrap()];
    cli_token(&data_dir).await;
    let server = ServerProcess::start(&data_dir, &[]).await;
    let pid = server.pid();
    let before = peak_memory_mib(pid);
    let url = format!("{}/login", server.base_url);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let guesses = (0..60).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(url)
                .form(&[("username", "dana"), ("password", "a wrong guess")])
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures::future::join_all(guesses).await;
    let count = |status: StatusCode| responses.iter().filter(|r| r.status() == status).count();
    let checked = count(StatusCode::UNAUTHORIZED);
    let refused = count(StatusCode::TOO_MANY_REQUESTS) + count(StatusCode::SERVICE_UNAVAILABLE);
    assert!(checked <= 5, "{checked} guesses were checked");
    assert_eq!(checked + refused, 60);
    let grown = peak_memory_mib(pid).saturating_sub(before);
    assert!(grown < 200, "peak memory grew by {grown} MiB");
    eprintln!(
        "60 wrong passwords at once: {checked} checked, {} throttled, {} told to retry; \
         peak memory {before} MiB before, +{grown} MiB",
        count(StatusCode::TOO_MANY_REQUESTS),
        count(StatusCode::SERVICE_UNAVAILABLE)
    );
}
