//! What the account page changes about its own user, and the one-time
//! message it shows after a redirect.

use super::{AccountError, AccountService, secret};
use crate::domain::{DisplayName, User};

impl AccountService {
    /// Renames the user as others see them; the username stays.
    #[tracing::instrument(skip_all, fields(username = %user.username))]
    pub async fn set_display_name(
        &self,
        user: &User,
        display_name: &DisplayName,
    ) -> Result<(), AccountError> {
        if !self
            .store
            .set_display_name(user.id, display_name.as_str())
            .await?
        {
            return Err(AccountError::UserNotFound);
        }
        Ok(())
    }

    /// Keeps `text` for the next page the login session (named by its
    /// cookie's id) sees, and only for that one.
    pub async fn flash(&self, session_id: &str, text: &str) -> Result<(), AccountError> {
        let id_hash = secret::sha256_hex(session_id);
        let now = self.clock.now();
        Ok(self.store.put_flash(&id_hash, text, now).await?)
    }

    /// The login session's one-time message, gone once read.
    pub async fn take_flash(&self, session_id: &str) -> Result<Option<String>, AccountError> {
        let id_hash = secret::sha256_hex(session_id);
        Ok(self.store.take_flash(&id_hash).await?)
    }
}
