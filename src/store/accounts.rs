//! Persistence of accounts, login sessions, API tokens, the first-run setup
//! token and the sign-in throttle. Everything lives in the database, so every
//! Casebook process on one PostgreSQL sees the same sessions and lockouts.
//!
//! Secrets are stored only as hashes (`token_hash`, `id_hash`); the store
//! never sees a token or a password, only what the service derived from them.

mod statements;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{ApiToken, Attempt, Role, Throttle, ThrottlePolicy, User, Username};

#[derive(Debug, thiserror::Error)]
pub enum AccountStoreError {
    #[error("this username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A login session as stored: the id that the cookie carries only as its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredLoginSession {
    pub id_hash: String,
    pub user_id: Uuid,
    /// Not a credential on its own: it proves a form came from a page that
    /// this session rendered.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredLoginSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLoginSession")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Fails with `UsernameTaken` when the username exists, disabled or not.
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), AccountStoreError>;

    async fn user_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<User>, AccountStoreError>;

    /// The user and their argon2 PHC string, for verifying a password.
    async fn user_with_password_hash(
        &self,
        username: &Username,
    ) -> Result<Option<(User, String)>, AccountStoreError>;

    /// Every user, by username.
    async fn users(&self) -> Result<Vec<User>, AccountStoreError>;

    async fn has_users(&self) -> Result<bool, AccountStoreError>;

    /// Replaces the password hash and ends the user's login sessions, so a
    /// reset locks out whoever knew the old password. False if no such user.
    async fn set_password_hash(&self, user_id: Uuid, hash: &str)
    -> Result<bool, AccountStoreError>;

    /// Marks the user disabled and ends their login sessions, in one
    /// transaction. False if no such user or already disabled.
    async fn disable_user(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError>;

    /// Lets a disabled user sign in again (their old sessions and tokens
    /// stay ended). False if no such user or not disabled.
    async fn enable_user(&self, user_id: Uuid) -> Result<bool, AccountStoreError>;

    /// Gives the user `role`. False if no such user or the role is already theirs.
    async fn set_role(&self, user_id: Uuid, role: Role) -> Result<bool, AccountStoreError>;

    async fn insert_setup_token(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError>;

    /// Whether a setup token issued after `issued_after` exists, unused.
    async fn setup_token_live(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError>;

    /// Consumes the setup token and creates `admin`, atomically: true for
    /// exactly one caller, false when the token is unknown, used or issued
    /// before `issued_after`, when setup already happened, or when any
    /// account exists.
    async fn complete_setup(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
        admin: &User,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError>;

    async fn insert_login_session(
        &self,
        session: &StoredLoginSession,
    ) -> Result<(), AccountStoreError>;

    /// The session and its user, whatever their expiry or state: the service decides.
    async fn login_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(StoredLoginSession, User)>, AccountStoreError>;

    async fn touch_login_session(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError>;

    async fn delete_login_session(&self, id_hash: &str) -> Result<(), AccountStoreError>;

    /// Deletes sessions last seen before `idle_before` or expiring by `now`.
    async fn delete_expired_login_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError>;

    async fn insert_api_token(
        &self,
        token: &ApiToken,
        token_hash: &str,
    ) -> Result<(), AccountStoreError>;

    /// Newest first; every user's when `user_id` is `None`.
    async fn api_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<ApiToken>, AccountStoreError>;

    /// Revokes a token that is not yet revoked (and belongs to `user_id`, if
    /// given). False when there is no such token.
    async fn revoke_api_token(
        &self,
        id: Uuid,
        user_id: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError>;

    /// The owner of an unrevoked token, if that owner is not disabled.
    async fn user_by_api_token(&self, token_hash: &str) -> Result<Option<User>, AccountStoreError>;

    /// Changes a user's display name. False if no such user.
    async fn set_display_name(
        &self,
        user_id: Uuid,
        display_name: &str,
    ) -> Result<bool, AccountStoreError>;

    /// Keeps `text` for the login session's next page, replacing any unread one.
    async fn put_flash(
        &self,
        session_id_hash: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError>;

    /// The login session's flash, deleted as it is read: it is shown once.
    async fn take_flash(&self, session_id_hash: &str) -> Result<Option<String>, AccountStoreError>;

    async fn throttle(&self, key: &str) -> Result<Option<Throttle>, AccountStoreError>;

    /// Counts one sign-in attempt for `key` under `policy` unless the key is
    /// locked at `at` (`policy.attempt`), atomically even with other
    /// processes counting for the same key.
    async fn record_attempt(
        &self,
        key: &str,
        policy: &ThrottlePolicy,
        at: DateTime<Utc>,
    ) -> Result<Attempt, AccountStoreError>;

    /// Takes back one counted attempt that turned out to be a success (a
    /// lockout it caused stays).
    async fn forgive_attempt(&self, key: &str) -> Result<(), AccountStoreError>;

    async fn clear_throttle(&self, key: &str) -> Result<(), AccountStoreError>;

    /// Forgets keys whose last failure and lockout both ended before `before`.
    async fn delete_stale_throttles(&self, before: DateTime<Utc>)
    -> Result<u64, AccountStoreError>;
}
