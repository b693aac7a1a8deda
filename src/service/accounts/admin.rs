//! What an admin changes about accounts on the users page: the same rules as
//! `casebook user …` (the same parsers, the same password policy), and one
//! more, because a page is used by a signed-in admin rather than an operator
//! at the database: an admin never disables themselves or removes their own
//! admin rights. The admin acting always stays an enabled admin, so the
//! page can never leave Casebook without one.

use super::{AccountError, AccountService, NewUser};
use crate::domain::{Password, Role, User, Username};

/// One change to another account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Disable,
    Enable,
    MakeAdmin,
    RemoveAdmin,
}

impl UserChange {
    pub fn parse(value: &str) -> Option<UserChange> {
        match value {
            "disable" => Some(UserChange::Disable),
            "enable" => Some(UserChange::Enable),
            "make-admin" => Some(UserChange::MakeAdmin),
            "remove-admin" => Some(UserChange::RemoveAdmin),
            _ => None,
        }
    }

    /// Would this change take the acting admin's own rights away?
    fn locks_out_self(self) -> bool {
        matches!(self, UserChange::Disable | UserChange::RemoveAdmin)
    }
}

impl AccountService {
    /// Creates an account on an admin's behalf.
    pub async fn add_user_as(&self, admin: &User, new: NewUser) -> Result<User, AccountError> {
        require_admin(admin)?;
        self.create_user(new).await
    }

    /// Sets another user's (or the admin's own) password; their login
    /// sessions end, as with `casebook user set-password`.
    pub async fn reset_password_as(
        &self,
        admin: &User,
        username: &Username,
        password: &Password,
    ) -> Result<(), AccountError> {
        require_admin(admin)?;
        self.set_password(username, password).await
    }

    /// Applies `change` to `username` and returns the account as it now is.
    /// Asking for what already holds (enabling an enabled user) changes nothing.
    #[tracing::instrument(skip_all, fields(admin = %admin.username, %username, ?change))]
    pub async fn change_user_as(
        &self,
        admin: &User,
        username: &Username,
        change: UserChange,
    ) -> Result<User, AccountError> {
        require_admin(admin)?;
        if change.locks_out_self() && *username == admin.username {
            return Err(AccountError::OwnAdminRights);
        }
        let user = self.user(username).await?;
        match change {
            UserChange::Disable => return self.disable_user(username).await,
            UserChange::Enable => {
                let has_password = self
                    .store
                    .user_with_password_hash(username)
                    .await?
                    .is_some_and(|(_, hash)| hash != super::NO_PASSWORD);
                if user.is_disabled() && !has_password {
                    return Err(AccountError::NoPassword);
                }
                self.store.enable_user(user.id).await?;
            }
            UserChange::MakeAdmin => {
                self.store.set_role(user.id, Role::Admin).await?;
            }
            UserChange::RemoveAdmin => {
                self.store.set_role(user.id, Role::Engineer).await?;
            }
        }
        tracing::info!("account changed by an admin");
        self.user(username).await
    }
}

fn require_admin(user: &User) -> Result<(), AccountError> {
    if user.role == Role::Admin && !user.is_disabled() {
        Ok(())
    } else {
        Err(AccountError::AdminOnly)
    }
}
