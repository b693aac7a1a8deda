use crate::service::{AccountService, SessionService};

pub use super::auth::{CurrentActor, Viewer};

/// Everything a handler may need, shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub sessions: SessionService,
    pub accounts: AccountService,
    /// Mark cookies `Secure`: Casebook is reached over HTTPS.
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(sessions: SessionService, accounts: AccountService, secure_cookies: bool) -> Self {
        Self {
            sessions,
            accounts,
            secure_cookies,
        }
    }
}
