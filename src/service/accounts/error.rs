use std::time::Duration;

use crate::domain::Username;
use crate::store::{AccountStoreError, StoreError};

/// Why an account operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// By any account, enabled or not: a username is never reused, so
    /// nobody takes over sessions by choosing a name.
    #[error("this username is taken by another account")]
    UsernameTaken,
    /// Enabling it would let nobody in: it needs a password first.
    #[error("this account has no password yet")]
    NoPassword,
    #[error("no such user")]
    UserNotFound,
    #[error("this user is disabled")]
    UserDisabled,
    #[error("no such API token (or it is already revoked)")]
    TokenNotFound,
    /// Deliberately one answer for an unknown, used or late setup token.
    #[error("this setup link is invalid or was already used")]
    SetupRefused,
    /// Every password-hashing slot is taken: try again in a moment.
    #[error("too many passwords are being checked at once")]
    Busy,
    #[error("only an admin may manage accounts")]
    AdminOnly,
    /// The users page keeps the acting admin an admin: see `admin.rs`.
    #[error("you cannot disable yourself or remove your own admin rights; another admin can")]
    OwnAdminRights,
    #[error("the database is unavailable")]
    Unavailable(#[source] crate::store::DatabaseError),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl AccountError {
    /// Why a new account cannot be named `username`, in the words of the
    /// users page and `casebook user add` alike.
    pub fn taken(username: &Username) -> String {
        format!(
            "The username “{username}” is taken by another account, perhaps a disabled one. \
             Usernames are never reused, so that account keeps its sessions; choose another."
        )
    }
}

impl From<AccountStoreError> for AccountError {
    fn from(error: AccountStoreError) -> Self {
        match error {
            AccountStoreError::UsernameTaken => AccountError::UsernameTaken,
            AccountStoreError::Store(StoreError::Unavailable(e)) => AccountError::Unavailable(e),
            AccountStoreError::Store(e) => AccountError::Internal(e.into()),
        }
    }
}

impl From<anyhow::Error> for AccountError {
    fn from(error: anyhow::Error) -> Self {
        AccountError::Internal(error)
    }
}

/// Why a sign-in failed. A wrong password, an unknown username and a
/// disabled account are one answer, so none can be told from another.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    InvalidCredentials,
    /// Too many failures for this username or client address.
    #[error("too many failed sign-ins; try again in {} s", retry_after.as_millis().div_ceil(1000))]
    Throttled { retry_after: Duration },
    /// Every password-hashing slot is taken: try again in a moment.
    #[error("too many passwords are being checked at once")]
    Busy,
    #[error("the database is unavailable")]
    Unavailable(#[source] crate::store::DatabaseError),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<AccountError> for AuthError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Unavailable(e) => AuthError::Unavailable(e),
            AccountError::Internal(e) => AuthError::Internal(e),
            AccountError::Busy => AuthError::Busy,
            other => AuthError::Internal(other.into()),
        }
    }
}

impl From<AccountStoreError> for AuthError {
    fn from(error: AccountStoreError) -> Self {
        AccountError::from(error).into()
    }
}

impl From<anyhow::Error> for AuthError {
    fn from(error: anyhow::Error) -> Self {
        AuthError::Internal(error)
    }
}
