//! ASVS 11.1.4 behind a reverse proxy: only a trusted proxy's forwarding
//! headers name the client, so one attacker behind the proxy cannot lock
//! everyone out, and nobody else can choose the address they are counted by.

use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, sign_in_with};

backend_tests!(behind_a_trusted_proxy_one_attacker_locks_out_only_their_own_address,);

/// Twenty wrong passwords (four for each of five usernames, so no username
/// locks) from `attacker`, as the proxy reports it.
async fn twenty_guesses_from(app: &TestApp, attacker: &str) {
    for i in 0..20 {
        let username = format!("user{}", i / 4);
        let response = sign_in_with(
            app,
            &[("username", &username), ("password", "a wrong guess")],
            &[("x-forwarded-for", attacker)],
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn dana_signs_in_from(app: &TestApp, forwarded: &[(&str, &str)]) -> StatusCode {
    sign_in_with(
        app,
        &[("username", "dana"), ("password", PASSWORD)],
        forwarded,
    )
    .await
    .status()
}

async fn behind_a_trusted_proxy_one_attacker_locks_out_only_their_own_address(backend: Backend) {
    let app = TestApp::spawn_with(TestDb::new(backend).await, |s| {
        s.security.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    twenty_guesses_from(&app, "203.0.113.66").await;
    // The attacker is locked out, also when they prepend a made-up hop.
    for forwarded in ["203.0.113.66", "198.51.100.2, 203.0.113.66"] {
        assert_eq!(
            dana_signs_in_from(&app, &[("x-forwarded-for", forwarded)]).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{forwarded}"
        );
    }
    // Everyone else behind the same proxy signs in.
    assert_eq!(
        dana_signs_in_from(&app, &[("x-forwarded-for", "198.51.100.2")]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        dana_signs_in_from(&app, &[("forwarded", "for=\"[2001:db8::7]:4711\"")]).await,
        StatusCode::SEE_OTHER
    );
    // Through a proxy, /metrics still wants its token.
    let metrics = app
        .anonymous()
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "127.0.0.1")
        .send()
        .await
        .unwrap();
    assert!(metrics.status().is_client_error(), "{}", metrics.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trusted_proxies_forwarding_headers_change_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    twenty_guesses_from(&app, "203.0.113.66").await;
    // Every request is counted by its socket's address: claiming another
    // address in a header does not escape the lockout.
    for forwarded in [
        &[("x-forwarded-for", "198.51.100.2")][..],
        &[("forwarded", "for=198.51.100.2")][..],
        &[][..],
    ] {
        assert_eq!(
            dana_signs_in_from(&app, forwarded).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{forwarded:?}"
        );
    }
}
