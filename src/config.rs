//! Command line and environment: every setting is a flag and a `CASEBOOK_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::service::WebhookSettings;
use crate::store::{PostgresOptions, SqliteOptions};
use crate::summary::OpenAiSettings;

#[derive(Debug, Parser)]
#[command(
    name = "casebook",
    version,
    about = "Troubleshooting sessions for support and operations engineers"
)]
pub struct Cli {
    /// Log lines for people (text) or for machines (json).
    #[arg(long, global = true, env = "CASEBOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application and the JSON API.
    Serve(Box<ServeArgs>),
    /// Bring the database schema up to date and exit.
    Migrate(DatabaseArgs),
    /// Fill an empty database with sample data.
    Seed(SeedArgs),
    /// Manage accounts: add, list, set-password, disable.
    User(crate::admin::UserArgs),
    /// Manage personal API tokens: create, list, revoke.
    Token(crate::admin::TokenArgs),
    /// Copy the SQLite database to a new file while the server runs.
    Backup(crate::backup::BackupArgs),
    /// Check a personal token against a server and keep both for `casebook sessions`.
    Login(crate::client::LoginArgs),
    /// Sessions on a Casebook server, over its API: list, show, close, reopen.
    Sessions(crate::client::SessionsArgs),
    /// Outbound webhooks: add, list, disable, deliveries.
    Webhook(crate::cli::webhooks::WebhookArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// About thirty realistic sessions in every status and outcome; only
    /// into a database that has no sessions yet.
    #[arg(long, required = true)]
    pub demo: bool,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Directory for Casebook's own files; holds the SQLite database by default.
    #[arg(long, env = "CASEBOOK_DATA_DIR", default_value = "./casebook-data")]
    pub data_dir: PathBuf,

    /// A `sqlite:PATH` or `postgres://…` URL; overrides the data directory.
    /// (`--help` never shows its value: it may hold a password.)
    #[arg(long, env = "CASEBOOK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// The database to use, creating the data directory for the SQLite default.
    pub fn resolve_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                self.data_dir.display()
            )
        })?;
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("casebook.db").display()
        ))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "CASEBOOK_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Mark the sign-in cookie `Secure`: set this when Casebook is served
    /// over HTTPS (directly or behind a proxy).
    #[arg(long, env = "CASEBOOK_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// A bearer token Prometheus must send to read /metrics. Without one,
    /// /metrics answers only clients on this machine that do not come
    /// through a proxy.
    #[arg(long, env = "CASEBOOK_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Close active sessions without activity for this long (e.g. 14d, 36h)
    /// as unresolved. Off unless set.
    #[arg(long, env = "CASEBOOK_AUTO_CLOSE_AFTER", value_parser = parse_auto_close_after)]
    pub auto_close_after: Option<Duration>,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub llm: LlmArgs,

    #[command(flatten)]
    pub security: SecurityArgs,

    #[command(flatten)]
    pub sqlite: SqliteArgs,

    #[command(flatten)]
    pub postgres: PostgresArgs,

    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// The embedded SQLite database under sustained writes.
#[derive(Debug, Clone, Args)]
pub struct SqliteArgs {
    /// The most disk, in MiB, SQLite's write-ahead log (casebook.db-wal) may
    /// take: past half of it the WAL is checkpointed and restarted, near it
    /// writes wait briefly for that. Ignored on PostgreSQL.
    #[arg(long, env = "CASEBOOK_SQLITE_WAL_MAX_MB", default_value_t = SqliteOptions::DEFAULT_WAL_MAX_MB,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub sqlite_wal_max_mb: u64,
}

impl SqliteArgs {
    pub fn options(&self) -> SqliteOptions {
        SqliteOptions {
            wal_max_bytes: self.sqlite_wal_max_mb * 1024 * 1024,
        }
    }
}

/// The connection pool to PostgreSQL.
#[derive(Debug, Clone, Args)]
pub struct PostgresArgs {
    /// Connections to PostgreSQL this process keeps, at most. Ignored on
    /// SQLite.
    #[arg(long, env = "CASEBOOK_POSTGRES_POOL_SIZE", default_value_t = PostgresOptions::DEFAULT_POOL_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub postgres_pool_size: u32,
}

impl PostgresArgs {
    pub fn options(&self) -> PostgresOptions {
        PostgresOptions {
            pool_size: self.postgres_pool_size,
        }
    }
}

/// How much the server takes on before it says no.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "CASEBOOK_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Requests handled at once; more are refused at once with 503 and
    /// `Retry-After` rather than queued.
    #[arg(long, env = "CASEBOOK_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,

    /// Seconds a client may take to send a request's headers before its
    /// connection is closed (slow clients cannot hold connections forever).
    #[arg(long, env = "CASEBOOK_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Live streams (`GET /api/stream`) open at once in this process; more
    /// are refused with 503. They count neither against the concurrent
    /// requests nor the request timeout.
    #[arg(long, env = "CASEBOOK_MAX_STREAMS", default_value_t = 1000)]
    pub max_streams: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            max_concurrent_requests: self.max_concurrent_requests.max(1),
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            max_streams: self.max_streams,
        }
    }
}

/// See [`LimitArgs`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub header_read_timeout: Duration,
    pub max_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            header_read_timeout: Duration::from_secs(10),
            max_streams: 1000,
        }
    }
}

/// A humantime duration ("14d", "36h", "90min") of at least a minute.
fn parse_auto_close_after(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value.trim())
        .map_err(|e| format!("{e}; write a duration such as 14d, 36h or 90min"))?;
    if duration < Duration::from_secs(60) {
        return Err("must be at least 1 minute".into());
    }
    Ok(duration)
}

/// How outbound webhook deliveries are sent (receivers are registered with
/// `casebook webhook add` or on /admin/webhooks).
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// The most one delivery attempt may take (connect, send, answer).
    #[arg(long, env = "CASEBOOK_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub webhook_timeout: Duration,

    /// The wait before retrying a failed delivery; it doubles after each
    /// failure, up to an hour.
    #[arg(long, env = "CASEBOOK_WEBHOOK_RETRY_BASE", default_value = "30s", value_parser = parse_positive_duration)]
    pub webhook_retry_base: Duration,

    /// How long after the change a failing delivery is retried before it is
    /// marked failed.
    #[arg(long, env = "CASEBOOK_WEBHOOK_RETRY_FOR", default_value = "24h", value_parser = parse_positive_duration)]
    pub webhook_retry_for: Duration,

    /// Deliveries sent at once by this process.
    #[arg(long, env = "CASEBOOK_WEBHOOK_CONCURRENCY", default_value_t = 8)]
    pub webhook_concurrency: usize,

    /// How often to look for deliveries to send.
    #[arg(long, env = "CASEBOOK_WEBHOOK_POLL_INTERVAL", default_value = "1s", value_parser = parse_positive_duration)]
    pub webhook_poll_interval: Duration,
}

impl WebhookArgs {
    pub fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            timeout: self.webhook_timeout,
            retry_base: self.webhook_retry_base,
            retry_for: self.webhook_retry_for,
            concurrency: self.webhook_concurrency.max(1),
            poll_interval: self.webhook_poll_interval,
        }
    }
}

/// A humantime duration ("10s", "500ms", "24h") greater than zero.
fn parse_positive_duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value.trim())
        .map_err(|e| format!("{e}; write a duration such as 500ms, 10s or 24h"))?;
    if duration.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(duration)
}

/// An OpenAI-compatible chat endpoint for summaries; without one, summaries
/// are written locally.
#[derive(Debug, Clone, Args)]
pub struct LlmArgs {
    /// Base URL of a `/v1/chat/completions` endpoint.
    #[arg(long, env = "CASEBOOK_LLM_URL", hide_env_values = true)]
    pub llm_url: Option<String>,

    /// The model to ask; required with --llm-url.
    #[arg(long, env = "CASEBOOK_LLM_MODEL")]
    pub llm_model: Option<String>,

    #[arg(long, env = "CASEBOOK_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,

    /// Seconds to wait for a summary before giving up.
    #[arg(long, env = "CASEBOOK_LLM_TIMEOUT_SECS", default_value_t = 30)]
    pub llm_timeout_secs: u64,
}

impl LlmArgs {
    pub fn settings(&self) -> anyhow::Result<Option<OpenAiSettings>> {
        let Some(base_url) = self.llm_url.clone().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let model = self
            .llm_model
            .clone()
            .filter(|m| !m.trim().is_empty())
            .context("CASEBOOK_LLM_MODEL (--llm-model) is required when CASEBOOK_LLM_URL is set")?;
        Ok(Some(OpenAiSettings {
            base_url,
            model,
            api_key: self.llm_api_key.clone().filter(|k| !k.is_empty()),
            timeout: Duration::from_secs(self.llm_timeout_secs),
        }))
    }
}

/// What the server needs to start, whatever it was configured from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub database_url: String,
    pub secure_cookies: bool,
    /// Summaries through an OpenAI-compatible endpoint; local when `None`.
    pub llm: Option<OpenAiSettings>,
    pub limits: Limits,
    /// The bearer token /metrics wants; `None`: loopback clients only.
    pub metrics_token: Option<String>,
    /// The stale-session policy; `None`: off.
    pub auto_close_after: Option<Duration>,
    /// The SQLite store's settings (the WAL's limit).
    pub sqlite: SqliteOptions,
    /// The PostgreSQL store's settings (the pool's size).
    pub postgres: PostgresOptions,
    /// Sign-in sessions, proxies, password hashing.
    pub security: SecuritySettings,
    /// How outbound webhook deliveries are sent.
    pub webhooks: WebhookSettings,
}

impl Settings {
    /// The defaults on `database_url`, listening on a free loopback port:
    /// what embedding code and tests start from before adjusting.
    pub fn on_database(database_url: impl Into<String>) -> Settings {
        Settings {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            secure_cookies: false,
            llm: None,
            limits: Limits::default(),
            metrics_token: None,
            auto_close_after: None,
            sqlite: SqliteOptions::default(),
            postgres: PostgresOptions::default(),
            security: SecuritySettings::default(),
            webhooks: WebhookSettings::default(),
        }
    }
}

impl ServeArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings {
            addr: self.addr,
            database_url: self.database.resolve_url()?,
            secure_cookies: self.secure_cookies,
            llm: self.llm.settings()?,
            limits: self.limits.limits(),
            metrics_token: self.metrics_token.clone().filter(|t| !t.is_empty()),
            auto_close_after: self.auto_close_after,
            sqlite: self.sqlite.options(),
            postgres: self.postgres.options(),
            security: self.security.settings(),
            webhooks: self.webhooks.settings(),
        })
    }
}

// --- security settings (ASVS level 2; see docs/SECURITY.md) ----------------

/// Sign-in sessions, reverse proxies and password hashing.
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// Addresses of reverse proxies (CIDRs such as 10.0.0.0/8 or ::1/128,
    /// comma-separated) whose `X-Forwarded-For` / `Forwarded` headers name
    /// the client. Requests from anywhere else are judged by their own
    /// address and their forwarding headers are ignored.
    #[arg(long, env = "CASEBOOK_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// A login session unused this long ends (e.g. 30min, 1h).
    #[arg(long, env = "CASEBOOK_SESSION_IDLE_TIMEOUT", default_value = "30min", value_parser = parse_session_timeout)]
    pub session_idle_timeout: Duration,

    /// A login session ends this long after sign-in, however busy (e.g. 12h).
    #[arg(long, env = "CASEBOOK_SESSION_ABSOLUTE_TIMEOUT", default_value = "12h", value_parser = parse_session_timeout)]
    pub session_absolute_timeout: Duration,

    /// Password hashes computed at once (each takes 19 MiB and a core for
    /// tens of milliseconds); sign-ins beyond that are answered with 503
    /// and `Retry-After`. Default: twice the number of cores.
    #[arg(long, env = "CASEBOOK_MAX_CONCURRENT_PASSWORD_HASHES")]
    pub max_concurrent_password_hashes: Option<usize>,
}

impl SecurityArgs {
    pub fn settings(&self) -> SecuritySettings {
        let defaults = SecuritySettings::default();
        SecuritySettings {
            trusted_proxies: self.trusted_proxies.clone(),
            session_idle_timeout: self.session_idle_timeout,
            session_absolute_timeout: self.session_absolute_timeout,
            max_concurrent_password_hashes: self
                .max_concurrent_password_hashes
                .map_or(defaults.max_concurrent_password_hashes, |n| n.max(1)),
        }
    }
}

/// See [`SecurityArgs`].
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    pub max_concurrent_password_hashes: usize,
}

impl Default for SecuritySettings {
    /// ASVS 3.3.2 at level 2: 30 minutes idle, 12 hours in all.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        SecuritySettings {
            trusted_proxies: Vec::new(),
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_absolute_timeout: Duration::from_secs(12 * 3600),
            max_concurrent_password_hashes: 2 * cores,
        }
    }
}

/// An address block ("10.0.0.0/8"), or one address ("10.0.0.1") meaning just it.
fn parse_cidr(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{value:?} is not an address or CIDR block such as 10.0.0.0/8"))
}

/// A humantime duration of at least a minute.
fn parse_session_timeout(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value.trim())
        .map_err(|e| format!("{e}; write a duration such as 30min or 12h"))?;
    if duration < Duration::from_secs(60) {
        return Err("must be at least 1 minute".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_close_after_reads_human_durations_of_a_minute_or_more() {
        assert_eq!(
            parse_auto_close_after("14d"),
            Ok(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(
            parse_auto_close_after("36h"),
            Ok(Duration::from_secs(36 * 3_600))
        );
        assert!(parse_auto_close_after("30s").is_err());
        assert!(parse_auto_close_after("two weeks").is_err());
        assert!(parse_auto_close_after("").is_err());
    }

    #[test]
    fn security_flags_default_to_asvs_level_2_and_can_be_set() {
        let serve = |args: &[&str]| match Cli::try_parse_from(
            ["casebook", "serve"].iter().chain(args).copied(),
        ) {
            Ok(Cli {
                command: Command::Serve(serve),
                ..
            }) => serve.security.settings(),
            other => panic!("{other:?}"),
        };
        let defaults = serve(&[]);
        assert_eq!(defaults.session_idle_timeout, Duration::from_secs(30 * 60));
        assert_eq!(
            defaults.session_absolute_timeout,
            Duration::from_secs(12 * 3600)
        );
        assert!(defaults.trusted_proxies.is_empty());
        let set = serve(&[
            "--trusted-proxies",
            "10.0.0.0/8,::1",
            "--session-idle-timeout",
            "1h",
            "--max-concurrent-password-hashes",
            "3",
        ]);
        assert_eq!(set.trusted_proxies.len(), 2);
        assert_eq!(set.session_idle_timeout, Duration::from_secs(3600));
        assert_eq!(set.max_concurrent_password_hashes, 3);
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks_or_single_addresses() {
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr(" ::1 ").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("proxy.internal").is_err());
    }
}
