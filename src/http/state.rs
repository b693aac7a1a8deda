use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::service::{AccountService, SessionService, WebhookService};

pub use super::auth::{CurrentActor, Viewer};
pub use super::metrics::MetricsAccess;
pub use super::security::TrustedProxies;

/// Everything a handler may need, shared by every request.
#[derive(Clone)]
pub struct AppState {
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
}

impl AppState {
    pub fn new(sessions: SessionService, accounts: AccountService, secure_cookies: bool) -> Self {
        Self {
            sessions,
            accounts,
            secure_cookies,
            metrics: Metrics::shared(),
            metrics_access: MetricsAccess::default(),
            trusted_proxies: TrustedProxies::default(),
            webhooks: None,
            streams: Arc::new(Semaphore::new(crate::config::Limits::default().max_streams)),
        }
    }

    /// Requests from `proxies` are judged by the client their headers name.
    pub fn with_trusted_proxies(self, proxies: TrustedProxies) -> Self {
        Self {
            trusted_proxies: proxies,
            ..self
        }
    }

    /// Webhooks are managed on the admin pages through `webhooks`.
    pub fn with_webhooks(self, webhooks: WebhookService) -> Self {
        Self {
            webhooks: Some(webhooks),
            ..self
        }
    }

    /// At most `max` live streams open at once.
    pub fn with_max_streams(self, max: usize) -> Self {
        Self {
            streams: Arc::new(Semaphore::new(max)),
            ..self
        }
    }

    /// Requests are counted in `metrics`, which `access` guards.
    pub fn with_metrics(self, metrics: Arc<Metrics>, access: MetricsAccess) -> Self {
        Self {
            metrics,
            metrics_access: access,
            ..self
        }
    }
}
