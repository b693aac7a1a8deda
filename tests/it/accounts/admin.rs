//! What an admin changes about accounts on the users page, on both
//! backends: the service's rules, then the page's forms over HTTP.

use casebook::domain::{Password, Role};
use casebook::service::{AccountError, UserChange};
use reqwest::StatusCode;

use super::{fixture, name, new_user};
use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestApp};

backend_tests!(
    an_admin_disables_enables_and_changes_roles_but_never_locks_themselves_out,
    only_an_admin_manages_accounts,
    the_users_page_adds_changes_and_refuses_with_the_clis_rules,
);

async fn an_admin_disables_enables_and_changes_roles_but_never_locks_themselves_out(
    backend: Backend,
) {
    let f = fixture(backend).await;
    let root = f
        .accounts
        .create_user(new_user("root", Role::Admin))
        .await
        .unwrap();
    f.user("dana").await;
    let change = |who: &'static str, c| {
        let accounts = f.accounts.clone();
        let root = root.clone();
        async move { accounts.change_user_as(&root, &name(who), c).await }
    };

    let dana = change("dana", UserChange::Disable).await.unwrap();
    assert!(dana.is_disabled());
    assert!(f.authenticate("dana", PASSWORD).await.is_err(), "disabled");
    let dana = change("dana", UserChange::Enable).await.unwrap();
    assert!(!dana.is_disabled());
    assert!(
        f.authenticate("dana", PASSWORD).await.is_ok(),
        "enabled again"
    );

    let dana = change("dana", UserChange::MakeAdmin).await.unwrap();
    assert_eq!(dana.role, Role::Admin);
    let dana = change("dana", UserChange::RemoveAdmin).await.unwrap();
    assert_eq!(dana.role, Role::Engineer);

    for own in [UserChange::Disable, UserChange::RemoveAdmin] {
        assert!(matches!(
            change("root", own).await,
            Err(AccountError::OwnAdminRights)
        ));
    }
    let root = f.accounts.user(&name("root")).await.unwrap();
    assert_eq!(root.role, Role::Admin);
    assert!(!root.is_disabled());
    assert!(matches!(
        change("nobody", UserChange::Disable).await,
        Err(AccountError::UserNotFound)
    ));
}

async fn only_an_admin_manages_accounts(backend: Backend) {
    let f = fixture(backend).await;
    let dana = f.user("dana").await;
    f.user("lee").await;
    let refused = f
        .accounts
        .change_user_as(&dana, &name("lee"), UserChange::MakeAdmin)
        .await;
    assert!(matches!(refused, Err(AccountError::AdminOnly)));
    let password = Password::parse("a brand new passphrase").unwrap();
    let refused = f
        .accounts
        .reset_password_as(&dana, &name("lee"), &password)
        .await;
    assert!(matches!(refused, Err(AccountError::AdminOnly)));
    assert!(
        f.authenticate("lee", PASSWORD).await.is_ok(),
        "lee unchanged"
    );
}

async fn the_users_page_adds_changes_and_refuses_with_the_clis_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let engineer = app.client_as("lee", Role::Engineer).await;
    let response = engineer.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("Admins only"));
    let response = engineer
        .post(app.url("/admin/users/dana/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let admin = app.client_as("root", Role::Admin).await;
    let page = admin.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("href=\"/admin/users\" aria-current=\"page\""));
    assert!(html.contains("data-username=\"dana\""));

    // The password policy is the CLI's.
    let short = [("username", "sam"), ("password", "short"), ("admin", "on")];
    let response = admin
        .post(app.url("/admin/users"))
        .form(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    let policy = format!(
        "The password must be at least {} characters.",
        Password::MIN_CHARS
    );
    assert!(html.contains(&policy), "{html}");
    assert!(html.contains("value=\"sam\""), "the username is kept");

    let good = [
        ("username", "Sam"),
        ("display_name", "Sam <Tyler>"),
        ("password", "a long enough passphrase"),
        ("admin", "on"),
    ];
    let response = admin
        .post(app.url("/admin/users"))
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Added admin “sam”."));
    assert!(html.contains("Sam &#60;Tyler&#62;") || html.contains("Sam &lt;Tyler&gt;"));
    let sam = app.accounts.user(&name("sam")).await.unwrap();
    assert_eq!(sam.role, Role::Admin);

    let again = admin
        .post(app.url("/admin/users"))
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("The username “sam” is taken by another account")
    );

    let html = admin
        .post(app.url("/admin/users/root/disable"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("You cannot disable yourself"));
    assert!(
        !app.accounts
            .user(&name("root"))
            .await
            .unwrap()
            .is_disabled()
    );

    let response = admin
        .post(app.url("/admin/users/sam/password"))
        .form(&[("password", "1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = admin
        .post(app.url("/admin/users/sam/password"))
        .form(&[("password", "another long passphrase")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Password of sam changed"));
    let client = "192.0.2.7".parse().unwrap();
    assert!(
        app.accounts
            .authenticate("sam", "another long passphrase", client)
            .await
            .is_ok()
    );

    let unknown = admin
        .post(app.url("/admin/users/nobody/enable"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
