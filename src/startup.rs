//! Building the server (bound, migrated, ready) separately from running it,
//! so tests and the binary start it the same way on any port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::{self, AppState, MetricsAccess};
use crate::metrics::Metrics;
use crate::service::{AccountService, AutoClose, SessionService, SystemClock};
use crate::store::{self, SessionStore};
use crate::summary::OpenAiSummarizer;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    store: Arc<dyn SessionStore>,
    accounts: AccountService,
    auto_close: Option<AutoClose>,
}

impl Application {
    /// Opens and migrates the database, then binds the listening socket.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let stores = store::connect_all(&settings.database_url)
            .await
            .context("cannot open the database")?;
        let store = stores.sessions;
        let clock = Arc::new(SystemClock);
        let accounts = AccountService::new(stores.accounts, clock.clone());
        let metrics = Metrics::shared();
        let mut service = SessionService::new(store.clone(), clock).with_metrics(metrics.clone());
        if let Some(llm) = &settings.llm {
            tracing::info!(model = %llm.model, url = %llm.base_url, "summaries by an OpenAI-compatible endpoint");
            service = service.with_summarizer(Arc::new(OpenAiSummarizer::new(llm.clone())?));
        }
        let auto_close = settings.auto_close_after.map(|after| {
            tracing::info!(after = %humantime::format_duration(after), "idle sessions close automatically");
            AutoClose::new(service.clone(), after)
        });
        let access = MetricsAccess::new(settings.metrics_token.as_deref());
        let state = AppState::new(service, accounts.clone(), settings.secure_cookies)
            .with_metrics(metrics, access);
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.addr))?;
        Ok(Self {
            listener,
            router: http::router(state),
            store,
            accounts,
            auto_close,
        })
    }

    /// The accounts of this server's database (tests create users with it).
    pub fn accounts(&self) -> &AccountService {
        &self.accounts
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then
    /// closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(addr = %addr, "casebook listening on http://{addr}");
        if let Some(token) = self.accounts.begin_setup().await? {
            // The link is a secret: it goes to the operator's terminal, not the logs.
            tracing::warn!("no account exists yet: open the setup link printed on standard output");
            println!(
                "Create the first admin account at http://{addr}/setup?token={}",
                token.expose()
            );
        }
        let purger = tokio::spawn(purge_expired_logins(self.accounts.clone()));
        let auto_close = self.auto_close.map(|policy| tokio::spawn(policy.run()));
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await?;
        purger.abort();
        if let Some(task) = auto_close {
            task.abort();
        }
        self.store.close().await;
        tracing::info!("casebook stopped");
        Ok(())
    }
}

/// Ended login sessions and old sign-in failures are deleted hourly; any
/// process may do it, and doing it twice is harmless.
async fn purge_expired_logins(accounts: AccountService) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        match accounts.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged ended login sessions"),
            Err(error) => tracing::warn!(%error, "could not purge ended login sessions"),
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
