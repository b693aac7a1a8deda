//! Building the server (bound, migrated, ready) separately from running it,
//! so tests and the binary start it the same way on any port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::config::SecuritySettings;
use crate::config::{Limits, Settings};
use crate::http::{self, AppState, MetricsAccess, TrustedProxies};
use crate::metrics::Metrics;
use crate::service::{
    AccountPolicy, AccountService, AutoClose, DeliveryWorker, Live, SessionService, SystemClock,
    WebhookService,
};
use crate::store::{self, SessionStore};
use crate::summary::OpenAiSummarizer;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    store: Arc<dyn SessionStore>,
    accounts: AccountService,
    limits: Limits,
    auto_close: Option<AutoClose>,
    deliveries: DeliveryWorker,
    live: Live,
    feed: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Opens and migrates the database, then binds the listening socket.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let stores =
            store::connect_all_with(&settings.database_url, settings.sqlite, settings.postgres)
                .await
                .context("cannot open the database")?;
        let store = stores.sessions;
        let clock = Arc::new(SystemClock);
        let accounts = AccountService::new(stores.accounts, clock.clone())
            .with_policy(account_policy(&settings.security));
        let webhooks = WebhookService::new(stores.webhooks.clone(), clock.clone());
        let metrics = Metrics::shared();
        let deliveries = DeliveryWorker::new(
            store.clone(),
            stores.webhooks,
            clock.clone(),
            settings.webhooks.clone(),
            http::webhook_payload,
        )?
        .with_metrics(metrics.clone());
        let live = Live::new(store.clone(), stores.changes);
        let mut service = SessionService::new(store.clone(), clock)
            .with_metrics(metrics.clone())
            .with_live(live.clone());
        if let Some(llm) = &settings.llm {
            tracing::info!(model = %llm.model, url = %crate::summary::redacted_url(&llm.base_url), "summaries by an OpenAI-compatible endpoint");
            service = service.with_summarizer(Arc::new(OpenAiSummarizer::new(llm.clone())?));
        }
        let auto_close = settings.auto_close_after.map(|after| {
            tracing::info!(after = %humantime::format_duration(after), "idle sessions close automatically");
            AutoClose::new(service.clone(), after)
        });
        let access = MetricsAccess::new(settings.metrics_token.as_deref());
        let state = AppState::new(service, accounts.clone(), settings.secure_cookies)
            .with_metrics(metrics, access)
            .with_trusted_proxies(TrustedProxies::new(
                settings.security.trusted_proxies.clone(),
            ))
            .with_webhooks(webhooks)
            .with_max_streams(settings.limits.max_streams);
        // Ready once it hears changes (on PostgreSQL, once it listens), or
        // after a while, when /readyz says what is missing.
        let feed = live.start();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !live.is_listening() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.addr))?;
        Ok(Self {
            listener,
            router: http::router(state, &settings.limits),
            store,
            accounts,
            limits: settings.limits,
            auto_close,
            deliveries,
            live,
            feed,
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
        let deliveries = tokio::spawn(self.deliveries.run());
        let feed = self.feed;
        let live = self.live;
        // Open streams end when shutdown begins, or they would hold it up.
        let shutdown = async move {
            shutdown.await;
            live.close();
        };
        serve(self.listener, self.router, &self.limits, shutdown).await;
        purger.abort();
        feed.abort();
        if let Some(task) = auto_close {
            task.abort();
        }
        // An attempt cut short here is sent again after its claim expires.
        deliveries.abort();
        self.store.close().await;
        tracing::info!("casebook stopped");
        Ok(())
    }
}

/// Serves HTTP/1 connections until `shutdown` resolves, then stops accepting
/// and waits for open connections to finish their requests. Run directly on
/// hyper rather than through `axum::serve` for the header read timeout: a
/// client that trickles its headers is disconnected instead of holding its
/// connection (and memory) forever.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: pause, then accept again.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request.map(axum::body::Body::new)
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// The account policy with the operator's session lifetimes and hashing slots.
fn account_policy(security: &SecuritySettings) -> AccountPolicy {
    let delta =
        |d: std::time::Duration| chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
    AccountPolicy {
        idle_timeout: delta(security.session_idle_timeout),
        absolute_timeout: delta(security.session_absolute_timeout),
        max_concurrent_hashes: security.max_concurrent_password_hashes,
        ..AccountPolicy::default()
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
