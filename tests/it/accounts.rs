//! Accounts on both backends, through the service every surface will use:
//! users, passwords, login sessions, API tokens, first-run setup and the
//! sign-in throttle. Time moves only when a test moves the clock.

mod admin;
mod cli;
mod profile;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use casebook::domain::{Password, Role, TokenName, User, Username};
use casebook::service::{
    AccountError, AccountPolicy, AccountService, AuthError, Clock, ManualClock, NewUser,
};
use casebook::store::{self, Stores};
use chrono::TimeDelta;

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestDb};

backend_tests!(
    users_are_created_listed_and_disabled,
    a_taken_username_is_refused_whatever_its_case,
    only_the_right_password_of_an_enabled_user_authenticates,
    a_new_password_replaces_the_old_one_and_ends_every_session,
    a_login_session_lives_until_it_is_idle_for_30_minutes,
    a_login_session_ends_12_hours_after_sign_in_however_busy,
    a_setup_link_works_for_an_hour_and_a_restart_prints_a_new_one,
    sixty_concurrent_wrong_passwords_for_one_user_are_evaluated_at_most_five_times,
    changing_ones_own_password_needs_the_current_one_and_ends_the_other_sessions,
    purging_deletes_only_expired_login_sessions,
    signing_out_ends_the_session_and_every_sign_in_gets_a_new_id,
    disabling_a_user_ends_their_sessions_and_refuses_their_tokens,
    an_api_token_authenticates_its_owner_until_it_is_revoked,
    the_setup_token_creates_exactly_one_admin_even_when_raced,
    five_failed_sign_ins_lock_the_username_for_30_seconds_then_allow_again,
    lockouts_in_a_row_double_and_a_success_resets_the_username,
    one_address_guessing_many_usernames_is_locked_out,
    the_throttle_is_shared_by_every_process_on_the_database,
);

struct Fixture {
    accounts: AccountService,
    clock: Arc<ManualClock>,
    db: TestDb,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDb::new(backend).await;
    let clock = Arc::new(ManualClock::starting_now());
    let accounts = service_on(&db, clock.clone()).await;
    Fixture {
        accounts,
        clock,
        db,
    }
}

/// Another "process": its own pools on the same database and clock.
async fn service_on(db: &TestDb, clock: Arc<ManualClock>) -> AccountService {
    let Stores { accounts, .. } = store::connect_all(&db.url).await.expect("store opens");
    AccountService::new(accounts, clock)
}

fn name(value: &str) -> Username {
    Username::parse(value).unwrap()
}

fn new_user(username: &str, role: Role) -> NewUser {
    NewUser {
        username: name(username),
        display_name: None,
        password: Password::parse(PASSWORD).unwrap(),
        role,
    }
}

fn addr(value: &str) -> IpAddr {
    value.parse().unwrap()
}

const HOME: &str = "192.0.2.10";

impl Fixture {
    async fn user(&self, username: &str) -> User {
        self.accounts
            .create_user(new_user(username, Role::Engineer))
            .await
            .unwrap()
    }

    async fn authenticate(&self, username: &str, password: &str) -> Result<User, AuthError> {
        self.accounts
            .authenticate(username, password, addr(HOME))
            .await
    }

    async fn fail(&self, username: &str, times: usize) {
        self.fail_from(username, times, HOME).await;
    }

    async fn fail_from(&self, username: &str, times: usize, client: &str) {
        for _ in 0..times {
            assert!(matches!(
                self.accounts
                    .authenticate(username, "wrong password", addr(client))
                    .await,
                Err(AuthError::InvalidCredentials)
            ));
        }
    }

    async fn session_id(&self, username: &str) -> String {
        let user = self.authenticate(username, PASSWORD).await.unwrap();
        let signed_in = self.accounts.start_login_session(&user).await.unwrap();
        signed_in.session_id.expose().to_owned()
    }

    async fn live(&self, session_id: &str) -> bool {
        self.accounts
            .login_session(session_id)
            .await
            .unwrap()
            .is_some()
    }
}

fn retry_after(result: Result<User, AuthError>) -> Duration {
    match result {
        Err(AuthError::Throttled { retry_after }) => retry_after,
        other => panic!("expected a lockout, got {other:?}"),
    }
}

async fn users_are_created_listed_and_disabled(backend: Backend) {
    let f = fixture(backend).await;
    let dana = f
        .accounts
        .create_user(NewUser {
            display_name: Some(casebook::domain::DisplayName::parse("Dana K").unwrap()),
            ..new_user("dana", Role::Engineer)
        })
        .await
        .unwrap();
    f.accounts
        .create_user(new_user("root", Role::Admin))
        .await
        .unwrap();

    let users = f.accounts.users().await.unwrap();
    let summary: Vec<_> = users
        .iter()
        .map(|u| (u.username.as_str(), u.display_name.as_str(), u.role))
        .collect();
    assert_eq!(
        summary,
        [
            ("dana", "Dana K", Role::Engineer),
            ("root", "root", Role::Admin)
        ]
    );
    assert_eq!(users[0], dana);
    assert!(users[1].actor().is_admin());

    let disabled = f.accounts.disable_user(&name("dana")).await.unwrap();
    assert_eq!(disabled.disabled_at, Some(f.clock.now()));
    // Disabling again is no change, not an error.
    let again = f.accounts.disable_user(&name("dana")).await.unwrap();
    assert_eq!(again.disabled_at, disabled.disabled_at);
    assert!(matches!(
        f.accounts.disable_user(&name("nobody")).await,
        Err(AccountError::UserNotFound)
    ));
}

async fn a_taken_username_is_refused_whatever_its_case(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let again = f
        .accounts
        .create_user(new_user("Dana", Role::Admin))
        .await
        .unwrap_err();
    assert!(matches!(again, AccountError::UsernameTaken), "{again:?}");
    assert_eq!(
        again.to_string(),
        "this username is taken by another account"
    );
    assert_eq!(f.accounts.users().await.unwrap().len(), 1);
}

async fn only_the_right_password_of_an_enabled_user_authenticates(backend: Backend) {
    let f = fixture(backend).await;
    let dana = f.user("dana").await;
    assert_eq!(f.authenticate("dana", PASSWORD).await.unwrap(), dana);
    assert_eq!(f.authenticate(" DANA ", PASSWORD).await.unwrap(), dana);
    let with_a_space = format!("{PASSWORD} ");
    for (username, password) in [
        ("dana", with_a_space.as_str()),
        ("dana", ""),
        ("nobody", PASSWORD),
        ("not a username!", PASSWORD),
    ] {
        assert!(
            matches!(
                f.authenticate(username, password).await,
                Err(AuthError::InvalidCredentials)
            ),
            "{username:?} / {password:?}"
        );
    }
    f.accounts.disable_user(&name("dana")).await.unwrap();
    assert!(matches!(
        f.authenticate("dana", PASSWORD).await,
        Err(AuthError::InvalidCredentials)
    ));
}

async fn a_new_password_replaces_the_old_one_and_ends_every_session(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let session = f.session_id("dana").await;
    let new = Password::parse("a brand new secret").unwrap();
    f.accounts.set_password(&name("dana"), &new).await.unwrap();
    assert!(!f.live(&session).await);
    assert!(f.authenticate("dana", PASSWORD).await.is_err());
    assert!(f.authenticate("dana", "a brand new secret").await.is_ok());
    assert!(matches!(
        f.accounts.set_password(&name("nobody"), &new).await,
        Err(AccountError::UserNotFound)
    ));
}

/// ASVS 3.3.2 at level 2: 30 minutes idle (the default policy).
async fn a_login_session_lives_until_it_is_idle_for_30_minutes(backend: Backend) {
    let f = fixture(backend).await;
    let dana = f.user("dana").await;
    let signed_in = f.accounts.start_login_session(&dana).await.unwrap();
    let id = signed_in.session_id.expose();

    let found = f.accounts.login_session(id).await.unwrap().unwrap();
    assert_eq!(found.user, dana);
    assert_eq!(
        found.csrf_token.expose(),
        signed_in.session.csrf_token.expose()
    );
    assert!(found.csrf_matches(signed_in.session.csrf_token.expose()));
    assert!(!found.csrf_matches("forged"));
    assert!(!f.live("an id nobody was given").await);

    // Each use within 30 minutes keeps the session alive for 30 more.
    for _ in 0..3 {
        f.clock.advance(TimeDelta::minutes(29));
        assert!(f.live(id).await);
    }
    f.clock.advance(TimeDelta::minutes(30));
    assert!(!f.live(id).await);
    // Once expired, it stays gone.
    f.clock.advance(TimeDelta::minutes(-30));
    assert!(!f.live(id).await);
}

/// ASVS 3.3.2 at level 2: 12 hours from sign-in (the default policy).
async fn a_login_session_ends_12_hours_after_sign_in_however_busy(backend: Backend) {
    let f = fixture(backend).await;
    let dana = f.user("dana").await;
    let signed_in = f.accounts.start_login_session(&dana).await.unwrap();
    let id = signed_in.session_id.expose();
    assert_eq!(
        signed_in.session.expires_at - signed_in.session.created_at,
        TimeDelta::hours(12)
    );
    for _ in 0..24 {
        f.clock.advance(TimeDelta::minutes(29));
        assert!(f.live(id).await);
    }
    let end = signed_in.session.expires_at;
    f.clock.set(end - TimeDelta::microseconds(1));
    assert!(f.live(id).await);
    f.clock.set(end);
    assert!(!f.live(id).await);
}

async fn purging_deletes_only_expired_login_sessions(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let idle = f.session_id("dana").await;
    f.clock.advance(TimeDelta::minutes(20));
    let recent = f.session_id("dana").await;
    f.clock.advance(TimeDelta::minutes(20));
    assert_eq!(f.accounts.purge_expired().await.unwrap(), 1);
    assert!(f.live(&recent).await);
    assert!(!f.live(&idle).await);
    assert_eq!(f.accounts.purge_expired().await.unwrap(), 0);
}

async fn signing_out_ends_the_session_and_every_sign_in_gets_a_new_id(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let first = f
        .accounts
        .sign_in("dana", PASSWORD, addr(HOME), None)
        .await
        .unwrap();
    let first_id = first.session_id.expose();
    let second = f
        .accounts
        .sign_in("dana", PASSWORD, addr(HOME), Some(first_id))
        .await
        .unwrap();
    let second_id = second.session_id.expose();
    assert_ne!(first_id, second_id);
    assert_ne!(
        first.session.csrf_token.expose(),
        second.session.csrf_token.expose()
    );
    // The id the browser had before signing in is worth nothing after.
    assert!(!f.live(first_id).await);
    assert!(f.live(second_id).await);

    f.accounts.sign_out(second_id).await.unwrap();
    assert!(!f.live(second_id).await);
    f.accounts.sign_out(second_id).await.unwrap();
}

async fn disabling_a_user_ends_their_sessions_and_refuses_their_tokens(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    f.user("sam").await;
    let dana_session = f.session_id("dana").await;
    let sam_session = f.session_id("sam").await;
    let (_, token) = f
        .accounts
        .create_token(&name("dana"), TokenName::parse("ci").unwrap())
        .await
        .unwrap();
    assert!(
        f.accounts
            .authenticate_token(token.expose())
            .await
            .unwrap()
            .is_some()
    );

    f.accounts.disable_user(&name("dana")).await.unwrap();
    assert!(!f.live(&dana_session).await);
    assert!(f.live(&sam_session).await);
    assert_eq!(
        f.accounts.authenticate_token(token.expose()).await.unwrap(),
        None
    );
    assert!(matches!(
        f.accounts
            .create_token(&name("dana"), TokenName::parse("new").unwrap())
            .await,
        Err(AccountError::UserDisabled)
    ));
}

async fn an_api_token_authenticates_its_owner_until_it_is_revoked(backend: Backend) {
    let f = fixture(backend).await;
    let dana = f.user("dana").await;
    let sam = f.user("sam").await;
    let (listed, token) = f
        .accounts
        .create_token(&name("dana"), TokenName::parse("laptop").unwrap())
        .await
        .unwrap();
    let secret = token.expose();
    assert!(
        secret.starts_with("cb_") && secret.len() >= 3 + 43,
        "{secret}"
    );
    assert!(!format!("{token:?}").contains(&secret[3..]));
    assert_eq!(
        f.accounts.authenticate_token(secret).await.unwrap(),
        Some(dana.clone())
    );

    let (_, other) = f
        .accounts
        .create_token(&name("dana"), TokenName::parse("ci").unwrap())
        .await
        .unwrap();
    let tokens = f.accounts.tokens(Some(&name("dana"))).await.unwrap();
    let names: Vec<_> = tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ci", "laptop"], "newest first");
    assert_eq!(tokens[1], listed);
    assert!(
        f.accounts
            .tokens(Some(&name("sam")))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.accounts.tokens(None).await.unwrap().len(), 2);

    // Someone else's token is "not found" to a user revoking their own.
    assert!(matches!(
        f.accounts.revoke_token(listed.id, Some(&sam)).await,
        Err(AccountError::TokenNotFound)
    ));
    f.accounts
        .revoke_token(listed.id, Some(&dana))
        .await
        .unwrap();
    assert_eq!(f.accounts.authenticate_token(secret).await.unwrap(), None);
    assert_eq!(
        f.accounts.authenticate_token(other.expose()).await.unwrap(),
        Some(dana)
    );
    assert!(matches!(
        f.accounts.revoke_token(listed.id, None).await,
        Err(AccountError::TokenNotFound)
    ));
    let revoked = &f.accounts.tokens(None).await.unwrap()[1];
    assert_eq!(revoked.revoked_at, Some(f.clock.now()));

    for unknown in ["", "cb_", "cb_nothing", &secret[3..], "Bearer x"] {
        assert_eq!(
            f.accounts.authenticate_token(unknown).await.unwrap(),
            None,
            "{unknown:?}"
        );
    }
}

async fn the_setup_token_creates_exactly_one_admin_even_when_raced(backend: Backend) {
    let f = fixture(backend).await;
    let other_process = service_on(&f.db, f.clock.clone()).await;
    assert!(f.accounts.needs_setup().await.unwrap());
    let token = f.accounts.begin_setup().await.unwrap().unwrap();
    let second_token = other_process.begin_setup().await.unwrap().unwrap();
    assert!(matches!(
        f.accounts
            .complete_setup("a guess", new_user("mallory", Role::Engineer))
            .await,
        Err(AccountError::SetupRefused)
    ));

    // Four racers in two processes, with the same token and with another one.
    let racers = [
        (f.accounts.clone(), token.clone(), "ada"),
        (other_process.clone(), token.clone(), "bob"),
        (f.accounts.clone(), second_token.clone(), "cy"),
        (other_process.clone(), second_token, "di"),
    ];
    let results = futures::future::join_all(racers.into_iter().map(|(service, token, who)| {
        tokio::spawn(async move {
            service
                .complete_setup(token.expose(), new_user(who, Role::Engineer))
                .await
        })
    }))
    .await;
    let (won, lost): (Vec<_>, Vec<_>) = results
        .into_iter()
        .map(|r| r.unwrap())
        .partition(Result::is_ok);
    assert_eq!(won.len(), 1, "exactly one racer wins: {won:?} {lost:?}");
    assert!(
        lost.iter()
            .all(|r| matches!(r, Err(AccountError::SetupRefused))),
        "every loser is refused, none fails: {lost:?}"
    );
    let admin = won.into_iter().next().unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin, "setup makes an admin");
    assert_eq!(f.accounts.users().await.unwrap(), [admin]);

    assert!(!f.accounts.needs_setup().await.unwrap());
    assert!(f.accounts.begin_setup().await.unwrap().is_none());
    assert!(matches!(
        f.accounts
            .complete_setup(token.expose(), new_user("late", Role::Admin))
            .await,
        Err(AccountError::SetupRefused)
    ));
}

async fn five_failed_sign_ins_lock_the_username_for_30_seconds_then_allow_again(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    f.fail("dana", 5).await;
    assert_eq!(
        retry_after(f.authenticate("dana", PASSWORD).await),
        Duration::from_secs(30)
    );
    f.clock.advance(TimeDelta::seconds(20));
    let wait = retry_after(f.authenticate("dana", PASSWORD).await);
    assert_eq!(wait, Duration::from_secs(10));
    assert_eq!(
        AuthError::Throttled { retry_after: wait }.to_string(),
        "too many failed sign-ins; try again in 10 s"
    );
    // Another username from another address is not affected.
    f.user("sam").await;
    assert!(
        f.accounts
            .authenticate("sam", PASSWORD, addr("198.51.100.7"))
            .await
            .is_ok()
    );

    f.clock.advance(TimeDelta::seconds(10));
    assert!(f.authenticate("dana", PASSWORD).await.is_ok());
}

async fn lockouts_in_a_row_double_and_a_success_resets_the_username(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let mut waits = Vec::new();
    // From a new address each round, so only the username's count matters.
    for round in 0..7 {
        f.fail_from("dana", 5, &format!("10.0.0.{round}")).await;
        let wait = retry_after(f.authenticate("dana", PASSWORD).await);
        waits.push(wait.as_secs());
        f.clock.advance(TimeDelta::from_std(wait).unwrap());
    }
    assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900], "capped at 15 min");

    // A success forgets the username's failures and lockouts.
    assert!(f.authenticate("dana", PASSWORD).await.is_ok());
    f.fail("dana", 4).await;
    assert!(f.authenticate("dana", PASSWORD).await.is_ok());
    f.fail("dana", 4).await;
    assert!(f.authenticate("dana", PASSWORD).await.is_ok());
    f.fail("dana", 5).await;
    assert_eq!(
        retry_after(f.authenticate("dana", PASSWORD).await),
        Duration::from_secs(30)
    );
}

async fn one_address_guessing_many_usernames_is_locked_out(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    for i in 0..20 {
        // Four tries per name: no single username reaches its limit.
        f.fail(&format!("user{}", i / 4), 1).await;
    }
    let wait = retry_after(f.authenticate("dana", PASSWORD).await);
    assert_eq!(wait, Duration::from_secs(30));
    assert!(
        f.accounts
            .authenticate("dana", PASSWORD, addr("198.51.100.7"))
            .await
            .is_ok(),
        "other addresses still sign in"
    );
    // IPv6 neighbours in one /64 share a count: they are one host's addresses.
    for i in 0..20 {
        let neighbour = addr(&format!("2001:db8:1:2::{:x}", i + 1));
        let _ = f.accounts.authenticate("dana", "wrong!", neighbour).await;
        f.accounts
            .authenticate("dana", PASSWORD, addr("198.51.100.7"))
            .await
            .unwrap();
    }
    retry_after(
        f.accounts
            .authenticate("dana", PASSWORD, addr("2001:db8:1:2::ffff"))
            .await,
    );
}

async fn the_throttle_is_shared_by_every_process_on_the_database(backend: Backend) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let other_process = service_on(&f.db, f.clock.clone()).await;
    f.fail("dana", 3).await;
    for _ in 0..2 {
        let _ = other_process
            .authenticate("dana", "wrong", addr("203.0.113.9"))
            .await;
    }
    assert_eq!(
        retry_after(f.authenticate("dana", PASSWORD).await),
        Duration::from_secs(30)
    );
    retry_after(
        other_process
            .authenticate("dana", PASSWORD, addr("203.0.113.9"))
            .await,
    );
}

/// A setup link dies an hour after the start that printed it; the next
/// start prints a new one, which works. A wrong or late link is refused
/// before any password is hashed: twenty refusals take less time than a
/// few hashes would.
async fn a_setup_link_works_for_an_hour_and_a_restart_prints_a_new_one(backend: Backend) {
    let f = fixture(backend).await;
    let old = f.accounts.begin_setup().await.unwrap().unwrap();
    f.clock.advance(TimeDelta::minutes(61));
    assert!(matches!(
        f.accounts
            .complete_setup(old.expose(), new_user("ada", Role::Admin))
            .await,
        Err(AccountError::SetupRefused)
    ));
    assert!(f.accounts.needs_setup().await.unwrap());

    // What one hash costs here, measured with a sign-in of an unknown user.
    let started = std::time::Instant::now();
    let _ = f.authenticate("nobody", "a wrong password").await;
    let one_hash = started.elapsed();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert!(matches!(
            f.accounts
                .complete_setup(old.expose(), new_user("ada", Role::Admin))
                .await,
            Err(AccountError::SetupRefused)
        ));
    }
    assert!(
        started.elapsed() < one_hash * 5,
        "20 refusals took {:?}, one hash {one_hash:?}",
        started.elapsed()
    );

    let restarted = f.accounts.begin_setup().await.unwrap().unwrap();
    f.clock.advance(TimeDelta::minutes(59));
    let admin = f
        .accounts
        .complete_setup(restarted.expose(), new_user("ada", Role::Admin))
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Admin);
}

/// ASVS 2.2.1: the attempt is counted before the password is checked, in
/// one atomic step, so sixty guesses at once get exactly the policy's five
/// checks (before, 38 of 60 were checked). Every guess comes from its own
/// address and hashing slots are plenty, so only the username's count can
/// stop them.
async fn sixty_concurrent_wrong_passwords_for_one_user_are_evaluated_at_most_five_times(
    backend: Backend,
) {
    let f = fixture(backend).await;
    f.user("dana").await;
    let accounts = f.accounts.clone().with_policy(AccountPolicy {
        max_concurrent_hashes: 64,
        ..AccountPolicy::default()
    });
    let guesses = (0..60).map(|i| {
        let accounts = accounts.clone();
        tokio::spawn(async move {
            accounts
                .authenticate("dana", "a wrong guess", addr(&format!("10.1.0.{i}")))
                .await
        })
    });
    let results = futures::future::join_all(guesses).await;
    let checked = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap(), Err(AuthError::InvalidCredentials)))
        .count();
    let throttled = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap(), Err(AuthError::Throttled { .. })))
        .count();
    assert_eq!((checked, throttled), (5, 55));
    retry_after(f.authenticate("dana", PASSWORD).await);
}

/// ASVS 2.1.5 and 3.3.3: the current password is required (and a wrong one
/// counts towards the throttle); the new one follows the policy; afterwards
/// every earlier login session has ended and the caller holds a new one.
async fn changing_ones_own_password_needs_the_current_one_and_ends_the_other_sessions(
    backend: Backend,
) {
    let f = fixture(backend).await;
    let dana = f.user("dana").await;
    let here = f.session_id("dana").await;
    let elsewhere = f.session_id("dana").await;
    let new = Password::parse("a whole new passphrase").unwrap();
    assert!(matches!(
        f.accounts
            .change_password(&dana, "not the password", &new, addr(HOME))
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(f.live(&here).await && f.live(&elsewhere).await);

    let signed_in = f
        .accounts
        .change_password(&dana, PASSWORD, &new, addr(HOME))
        .await
        .unwrap();
    assert!(!f.live(&here).await && !f.live(&elsewhere).await);
    assert!(f.live(signed_in.session_id.expose()).await);
    assert!(matches!(
        f.authenticate("dana", PASSWORD).await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(
        f.authenticate("dana", "a whole new passphrase")
            .await
            .is_ok()
    );
}
