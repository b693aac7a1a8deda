//! ASVS 2.1: at least 12 characters, any Unicode, long passphrases welcome;
//! a signed-in user changes their own password with the current one, and
//! their other login sessions end.

use casebook::domain::{Password, Username};
use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, cookie_of, csrf_of, page, sign_in_with};

backend_tests!(
    a_unicode_passphrase_of_64_characters_signs_in,
    a_user_changes_their_password_on_the_account_page_and_other_sign_ins_end,
);

#[test]
fn passwords_have_twelve_to_1024_characters_of_any_kind() {
    let refused = Password::parse("elevenchars").unwrap_err();
    assert_eq!(refused, "must be at least 12 characters");
    assert!(Password::parse("twelve chars").is_ok());
    // Characters, not bytes: twelve CJK characters and an emoji phrase.
    assert!(Password::parse("正しい馬の電池のホチキス止め").is_ok());
    assert!(Password::parse("🐴🔋📎🐴🔋📎🐴🔋📎🐴🔋").is_err());
    assert!(Password::parse(&"long passphrase ".repeat(64)).is_ok());
    assert!(Password::parse(&"x".repeat(1025)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_form_refuses_a_password_under_twelve_characters() {
    let app = TestApp::spawn_on(TestDb::new(Backend::Sqlite).await).await;
    let response = app
        .anonymous()
        .post(app.url("/setup"))
        .form(&[
            ("token", "any"),
            ("username", "root"),
            ("password", "short pass"),
        ])
        .send()
        .await
        .unwrap();
    // The fields are judged first, so the form names the problem.
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("at least 12 characters"), "{html}");
}

async fn a_unicode_passphrase_of_64_characters_signs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let passphrase = "Ünïcödé pässphrâse — 正しい馬 🐴🔋📎 ".repeat(3);
    let passphrase: String = passphrase.chars().take(64).collect();
    app.accounts
        .set_password(
            &Username::parse("dana").unwrap(),
            &Password::parse(&passphrase).unwrap(),
        )
        .await
        .unwrap();
    let response = sign_in_with(
        &app,
        &[("username", "dana"), ("password", passphrase.as_str())],
        &[],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

async fn change(
    app: &TestApp,
    cookie: &str,
    current: &str,
    new: &str,
    repeat: &str,
) -> reqwest::Response {
    let csrf = csrf_of(app, cookie).await;
    app.anonymous_without_redirects()
        .post(app.url("/account/password"))
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("current_password", current),
            ("new_password", new),
            ("repeat_password", repeat),
        ])
        .send()
        .await
        .unwrap()
}

async fn a_user_changes_their_password_on_the_account_page_and_other_sign_ins_end(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let form = [("username", "dana"), ("password", PASSWORD)];
    let (here, _) = cookie_of(&sign_in_with(&app, &form, &[]).await);
    let (laptop, _) = cookie_of(&sign_in_with(&app, &form, &[]).await);
    let account = page(&app, "/account", &here).await.text().await.unwrap();
    assert!(account.contains("Change your password"));
    assert!(account.contains("name=\"current_password\""));

    let new = "a fresh passphrase for dana";
    let wrong = change(&app, &here, "not my password", new, new).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("current password is not right")
    );
    let short = change(&app, &here, PASSWORD, "too short", "too short").await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 12 characters")
    );
    let typo = change(&app, &here, PASSWORD, new, "a fresh passphrase for dan").await;
    assert_eq!(typo.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(typo.text().await.unwrap().contains("differ"));

    let changed = change(&app, &here, PASSWORD, new, new).await;
    // Post–redirect–get: back to the account page in a new login session.
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(changed.headers()["location"], "/account");
    assert_eq!(changed.headers()["cache-control"], "no-store");
    let (renewed, _) = cookie_of(&changed);
    let account = page(&app, "/account", &renewed).await;
    assert_eq!(account.status(), StatusCode::OK);
    assert_eq!(account.headers()["cache-control"], "no-store");
    assert!(
        account
            .text()
            .await
            .unwrap()
            .contains("Your password is changed")
    );
    for old in [&here, &laptop] {
        assert_eq!(
            page(&app, "/sessions", old).await.status(),
            StatusCode::SEE_OTHER,
            "an earlier sign-in ended"
        );
    }
    assert_eq!(
        page(&app, "/sessions", &renewed).await.status(),
        StatusCode::OK
    );
    let old = sign_in_with(&app, &form, &[]).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let fresh = sign_in_with(&app, &[("username", "dana"), ("password", new)], &[]).await;
    assert_eq!(fresh.status(), StatusCode::SEE_OTHER);
}
