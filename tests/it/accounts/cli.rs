//! `casebook user …` and `casebook token …` through the real binary, against
//! a fresh database that the test then reads through the service.

use std::sync::Arc;

use casebook::service::{AccountService, SystemClock};
use casebook::store;

use crate::backend_tests;
use crate::helpers::{Backend, Run, TestDb, casebook_with};

backend_tests!(
    user_add_reads_the_password_from_stdin_and_user_list_shows_every_account,
    user_add_refuses_a_short_password_or_a_taken_username_in_one_line,
    set_password_and_disable_change_how_a_user_signs_in,
    token_create_prints_only_the_token_and_revoke_makes_it_worthless,
);

/// Runs `casebook ARGS --database-url URL` with `stdin` as its input.
async fn casebook(db: &TestDb, args: &[&str], stdin: &str) -> Run {
    casebook_with(&[args, &["--database-url", &db.url]].concat(), &[], stdin).await
}

async fn ok(db: &TestDb, args: &[&str], stdin: &str) -> String {
    casebook(db, args, stdin).await.succeeded().to_string()
}

/// The refusal's one line, after checking the exit status is 1.
async fn refused(db: &TestDb, args: &[&str], stdin: &str) -> String {
    casebook(db, args, stdin).await.refused().to_string()
}

async fn accounts(db: &TestDb) -> AccountService {
    let stores = store::connect_all(&db.url).await.unwrap();
    AccountService::new(stores.accounts, Arc::new(SystemClock))
}

fn localhost() -> std::net::IpAddr {
    "127.0.0.1".parse().unwrap()
}

async fn user_add_reads_the_password_from_stdin_and_user_list_shows_every_account(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let out = ok(
        &db,
        &[
            "user",
            "add",
            "Dana",
            "--display-name",
            "Dana Kim",
            "--password-stdin",
        ],
        "dana's secret\n",
    )
    .await;
    assert_eq!(out, "Created engineer dana.\n");
    ok(
        &db,
        &["user", "add", "root", "--admin", "--password-stdin"],
        "root's secret\r\n",
    )
    .await;

    let list = ok(&db, &["user", "list"], "").await;
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(&rows[0][..3], ["dana", "engineer", "active"]);
    assert!(list.lines().nth(1).unwrap().ends_with("Dana Kim"));
    assert_eq!(&rows[1][..3], ["root", "admin", "active"]);

    // The line ending is not part of the password.
    let service = accounts(&db).await;
    let dana = service
        .authenticate("dana", "dana's secret", localhost())
        .await
        .unwrap();
    assert_eq!(dana.display_name.as_str(), "Dana Kim");
    assert!(
        service
            .authenticate("root", "root's secret", localhost())
            .await
            .unwrap()
            .actor()
            .is_admin()
    );
}

async fn user_add_refuses_a_short_password_or_a_taken_username_in_one_line(backend: Backend) {
    let db = TestDb::new(backend).await;
    let short = refused(&db, &["user", "add", "dana", "--password-stdin"], "short\n").await;
    assert!(
        short.contains("casebook user: password must be at least 12 characters"),
        "{short}"
    );
    ok(
        &db,
        &["user", "add", "dana", "--password-stdin"],
        "long enough now\n",
    )
    .await;
    let taken = refused(
        &db,
        &["user", "add", "DANA", "--password-stdin"],
        "long enough now\n",
    )
    .await;
    assert!(
        taken.contains("casebook user: The username “dana” is taken by another account"),
        "{taken}"
    );
    let bad = refused(&db, &["user", "add", "dana kim", "--password-stdin"], "x").await;
    assert!(bad.contains("username may contain only"), "{bad}");
    // Without --password-stdin there is no way to give a password at all.
    let output = casebook(&db, &["user", "add", "sam"], "long enough now\n").await;
    assert_ne!(output.code, 0);
    assert!(output.stderr.contains("--password-stdin"), "{output:?}");
}

async fn set_password_and_disable_change_how_a_user_signs_in(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok(
        &db,
        &["user", "add", "dana", "--password-stdin"],
        "first secret\n",
    )
    .await;
    ok(
        &db,
        &["user", "set-password", "dana", "--password-stdin"],
        "second secret\n",
    )
    .await;
    let service = accounts(&db).await;
    assert!(
        service
            .authenticate("dana", "first secret", localhost())
            .await
            .is_err()
    );
    assert!(
        service
            .authenticate("dana", "second secret", localhost())
            .await
            .is_ok()
    );

    ok(&db, &["user", "disable", "dana"], "").await;
    assert!(
        service
            .authenticate("dana", "second secret", localhost())
            .await
            .is_err()
    );
    let list = ok(&db, &["user", "list"], "").await;
    assert!(list.lines().nth(1).unwrap().contains("disabled"), "{list}");
    let missing = refused(&db, &["user", "disable", "nobody"], "").await;
    assert!(missing.contains("no such user"), "{missing}");
}

async fn token_create_prints_only_the_token_and_revoke_makes_it_worthless(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok(
        &db,
        &["user", "add", "dana", "--password-stdin"],
        "dana's secret\n",
    )
    .await;
    let out = ok(
        &db,
        &["token", "create", "--user", "dana", "--name", "laptop"],
        "",
    )
    .await;
    let token = out.strip_suffix('\n').expect("one line");
    assert!(!token.contains('\n'), "{out:?}");
    let body = token.strip_prefix("cb_").expect("the cb_ prefix");
    assert!(body.len() >= 43, "at least 32 random bytes: {token}");
    assert!(
        body.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{token}"
    );

    let service = accounts(&db).await;
    let owner = service.authenticate_token(token).await.unwrap().unwrap();
    assert_eq!(owner.username.as_str(), "dana");

    let list = ok(&db, &["token", "list", "--user", "dana"], "").await;
    assert!(!list.contains(body), "the list never shows the token");
    let row: Vec<&str> = list.lines().nth(1).unwrap().split_whitespace().collect();
    let (id, status) = (row[0], row[2]);
    assert_eq!(
        (row[1], status, *row.last().unwrap()),
        ("dana", "active", "laptop")
    );

    let revoked = ok(&db, &["token", "revoke", id], "").await;
    assert_eq!(revoked, format!("Revoked token {id}.\n"));
    assert_eq!(service.authenticate_token(token).await.unwrap(), None);
    let list = ok(&db, &["token", "list"], "").await;
    assert!(list.lines().nth(1).unwrap().contains("revoked"), "{list}");
    let again = refused(&db, &["token", "revoke", id], "").await;
    assert!(again.contains("no such API token"), "{again}");
    let nobody = refused(&db, &["token", "create", "--user", "nobody"], "").await;
    assert!(nobody.contains("no such user"), "{nobody}");
}
