use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::http::api::SessionJsonCache;
use crate::metrics::Metrics;
use crate::service::{AccountService, SessionService, WebhookService};

pub use super::auth::{CurrentActor, Viewer};
pub use super::metrics::MetricsAccess;
pub use super::security::TrustedProxies;

/// Everything a handler may need, shared by every request. Cloned for
/// every extractor and middleware of every request, so a clone is one
/// reference count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Clone)]
pub struct Shared {
    pub sessions: SessionService,
    pub accounts: AccountService,
    /// Mark cookies `Secure`: Casebook is reached over HTTPS.
    pub secure_cookies: bool,
    pub metrics: Arc<Metrics>,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// Reverse proxies whose forwarding headers name the client.
    pub trusted_proxies: TrustedProxies,
    /// Outbound webhooks (the admin pages); `None` where none are managed.
    pub webhooks: Option<WebhookService>,
    /// One permit per live stream that may be open (`--max-streams`).
    pub streams: Arc<Semaphore>,
    /// Each session's JSON as the last list wrote it.
    pub session_json: Arc<SessionJsonCache>,
}

impl AppState {
    pub fn new(sessions: SessionService, accounts: AccountService, secure_cookies: bool) -> Self {
        Self(Arc::new(Shared {
            sessions,
            accounts,
            secure_cookies,
            metrics: Metrics::shared(),
            metrics_access: MetricsAccess::default(),
            trusted_proxies: TrustedProxies::default(),
            webhooks: None,
            streams: Arc::new(Semaphore::new(crate::config::Limits::default().max_streams)),
            session_json: Arc::default(),
        }))
    }

    /// The state with `change` made; only while the server is being built.
    fn changed(self, change: impl FnOnce(Shared) -> Shared) -> Self {
        let shared = Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone());
        Self(Arc::new(change(shared)))
    }

    /// Requests from `proxies` are judged by the client their headers name.
    pub fn with_trusted_proxies(self, proxies: TrustedProxies) -> Self {
        self.changed(|shared| Shared {
            trusted_proxies: proxies,
            ..shared
        })
    }

    /// Webhooks are managed on the admin pages through `webhooks`.
    pub fn with_webhooks(self, webhooks: WebhookService) -> Self {
        self.changed(|shared| Shared {
            webhooks: Some(webhooks),
            ..shared
        })
    }

    /// At most `max` live streams open at once.
    pub fn with_max_streams(self, max: usize) -> Self {
        self.changed(|shared| Shared {
            streams: Arc::new(Semaphore::new(max)),
            ..shared
        })
    }

    /// Requests are counted in `metrics`, which `access` guards.
    pub fn with_metrics(self, metrics: Arc<Metrics>, access: MetricsAccess) -> Self {
        self.changed(|shared| Shared {
            metrics,
            metrics_access: access,
            ..shared
        })
    }
}
