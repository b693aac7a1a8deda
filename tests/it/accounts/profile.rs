//! What the account page changes about its own user, and its one-time
//! messages, on both backends.

use casebook::domain::{DisplayName, Role};

use super::{HOME, addr, fixture, name};
use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD};

backend_tests!(
    a_display_name_changes_and_the_username_stays,
    a_flash_is_read_once_by_its_own_login_session_and_ends_with_it,
);

async fn a_display_name_changes_and_the_username_stays(backend: Backend) {
    let f = fixture(backend).await;
    let dana = f.user("dana").await;
    let new = DisplayName::parse("Dana Scully").unwrap();
    f.accounts.set_display_name(&dana, &new).await.unwrap();
    let stored = f.accounts.user(&name("dana")).await.unwrap();
    assert_eq!(stored.display_name.as_str(), "Dana Scully");
    assert_eq!(stored.username.as_str(), "dana");
    assert_eq!(stored.role, Role::Engineer);
}

async fn a_flash_is_read_once_by_its_own_login_session_and_ends_with_it(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let sign_in = || f.accounts.sign_in("dana", PASSWORD, addr(HOME), None);
    let first = sign_in().await.unwrap();
    let other = sign_in().await.unwrap();
    let (first, other) = (first.session_id.expose(), other.session_id.expose());

    f.accounts.flash(first, "older").await.unwrap();
    f.accounts.flash(first, "token created").await.unwrap();
    assert_eq!(
        f.accounts.take_flash(other).await.unwrap(),
        None,
        "not another session's"
    );
    assert_eq!(
        f.accounts.take_flash(first).await.unwrap().as_deref(),
        Some("token created"),
        "the latest replaces an unread one"
    );
    assert_eq!(
        f.accounts.take_flash(first).await.unwrap(),
        None,
        "read once"
    );

    f.accounts.flash(first, "unread").await.unwrap();
    f.accounts.sign_out(first).await.unwrap();
    let left = f.db.raw_execute("delete from login_flashes").await.unwrap();
    assert_eq!(left, 0, "a flash ends with its login session");
}
