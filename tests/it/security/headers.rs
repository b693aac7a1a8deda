//! ASVS 14.4 and 8.2.1: one layer puts the security headers on every
//! response, whoever produced it; what carries secrets or customers' data
//! is never stored by a cache.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, cookie_of, csrf_of, page, sign_in_with};

fn assert_hardened(what: &str, headers: &HeaderMap) {
    let get = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what} has no {name}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "same-origin", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert!(
        get("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers_and_private_ones_are_never_stored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let anonymous = app.anonymous_without_redirects();
    let api_ok = app.get("/api/sessions").await;
    assert_eq!(api_ok.status(), StatusCode::OK);
    let api_401 = anonymous
        .get(app.url("/api/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(api_401.status(), StatusCode::UNAUTHORIZED);
    let api_404 = app
        .get(&format!("/api/sessions/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(api_404.status(), StatusCode::NOT_FOUND);
    let fallback = app
        .without_redirects()
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(fallback.status(), StatusCode::NOT_FOUND);
    let redirect = anonymous.get(app.url("/sessions")).send().await.unwrap();
    assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
    let health = anonymous.get(app.url("/healthz")).send().await.unwrap();
    let login = anonymous.get(app.url("/login")).send().await.unwrap();
    for (what, response) in [
        ("an API 200", &api_ok),
        ("an API 401", &api_401),
        ("a problem 404", &api_404),
        ("the fallback 404", &fallback),
        ("a redirect", &redirect),
        ("a health check", &health),
        ("the sign-in page", &login),
    ] {
        assert_hardened(what, response.headers());
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "no HSTS over plain HTTP ({what})"
        );
    }
    // Pages keep their own, fuller policy.
    assert!(
        login.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    for (what, response) in [("the API", &api_ok), ("sign-in", &login)] {
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
    }

    let signed_in = sign_in_with(&app, &[("username", "dana"), ("password", PASSWORD)], &[]).await;
    let (cookie, _) = cookie_of(&signed_in);
    let account = page(&app, "/account", &cookie).await;
    assert_eq!(account.status(), StatusCode::OK);
    assert_eq!(account.headers()["cache-control"], "no-store");
    let csrf = csrf_of(&app, &cookie).await;
    let new_token = app
        .anonymous_without_redirects()
        .post(app.url("/account/tokens"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "laptop")])
        .send()
        .await
        .unwrap();
    // Post–redirect–get: the new token is shown once on the account page.
    assert_eq!(new_token.status(), StatusCode::SEE_OTHER);
    assert_eq!(new_token.headers()["cache-control"], "no-store");
    assert_hardened("the new-token redirect", new_token.headers());
    let shown = app
        .anonymous_without_redirects()
        .get(app.url("/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(shown.headers()["cache-control"], "no-store");
    assert_hardened("the new-token page", shown.headers());
    assert!(shown.text().await.unwrap().contains("cb_"));
    // Other pages may be kept, but revalidated.
    assert_eq!(
        page(&app, "/sessions", &cookie).await.headers()["cache-control"],
        "no-cache"
    );
}

/// ASVS 3.4.4 and 14.4.5: over HTTPS the cookie is `__Host-` (so no other
/// host can plant or shadow it) and browsers are told to stay on HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_cookie_is_host_prefixed_and_browsers_are_told_to_stay_on_https() {
    let app = TestApp::spawn_with(TestDb::new(Backend::Sqlite).await, |s| {
        s.secure_cookies = true
    })
    .await;
    let anonymous = app.anonymous_without_redirects();
    for path in ["/login", "/api/sessions", "/no/such/page", "/sessions"] {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
    let signed_in = sign_in_with(&app, &[("username", "dana"), ("password", PASSWORD)], &[]).await;
    let (cookie, set_cookie) = cookie_of(&signed_in);
    assert!(
        cookie.starts_with("__Host-casebook_session="),
        "{set_cookie}"
    );
    for flag in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(set_cookie.contains(flag), "{set_cookie} has {flag}");
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    assert_eq!(
        page(&app, "/sessions", &cookie).await.status(),
        StatusCode::OK
    );
    // The history page's remembered owner filter is kept as carefully.
    let chosen = page(&app, "/sessions?owner=all", &cookie).await;
    let remembered = chosen
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("casebook_owner="))
        .expect("the owner choice is remembered");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(remembered.contains(flag), "{remembered} has {flag}");
    }
    // The old name is not read any more: it could be set by another host.
    let value = cookie.split_once('=').unwrap().1;
    let plain = format!("casebook_session={value}");
    assert_eq!(
        page(&app, "/sessions", &plain).await.status(),
        StatusCode::SEE_OTHER
    );
}
