//! Command line and environment: every setting is a flag and a `CASEBOOK_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Serve(ServeArgs),
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
    #[arg(long, env = "CASEBOOK_DATABASE_URL")]
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

/// An OpenAI-compatible chat endpoint for summaries; without one, summaries
/// are written locally.
#[derive(Debug, Clone, Args)]
pub struct LlmArgs {
    /// Base URL of a `/v1/chat/completions` endpoint.
    #[arg(long, env = "CASEBOOK_LLM_URL")]
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
        })
    }
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
}
