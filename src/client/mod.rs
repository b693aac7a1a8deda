//! `casebook login` and `casebook sessions …`: the command-line client of a
//! Casebook server, over its JSON API with a personal token.

mod api;
mod config;
mod table;

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::domain::{Outcome, Status};
use api::{Api, ListFilter};
pub use config::config_path;

/// The server to talk to; the file `casebook login` wrote fills in the rest.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The Casebook server, e.g. https://casebook.example.com.
    #[arg(long, global = true, env = "CASEBOOK_URL")]
    pub url: Option<String>,

    /// A personal token (`cb_…`); prefer the variable, which `ps` does not show.
    #[arg(long, global = true, env = "CASEBOOK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `casebook login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The Casebook server, e.g. https://casebook.example.com.
    #[arg(long, env = "CASEBOOK_URL")]
    pub url: String,
}

/// `casebook sessions …`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(subcommand)]
    pub command: SessionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Newest first, as a table (or JSON).
    List {
        /// Only sessions in this status.
        #[arg(long, value_parser = status_parser())]
        status: Option<Status>,
        /// Only sessions closed with this outcome.
        #[arg(long, value_parser = outcome_parser())]
        outcome: Option<Outcome>,
        /// Only sessions the token's user owns.
        #[arg(long, conflicts_with = "owner")]
        mine: bool,
        /// Only sessions this username owns.
        #[arg(long)]
        owner: Option<String>,
        /// Words to find in title, reference, customer and problem.
        #[arg(long)]
        search: Option<String>,
        /// How many sessions, 1–100.
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// The sessions as the API sends them, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// One session: its fields, plan, outcome, summary and timeline.
    Show {
        /// The session's id, as `casebook sessions list` shows it.
        id: Uuid,
        /// The session (with its `events`) as the API sends it.
        #[arg(long)]
        json: bool,
    },
    /// Close an active session with an outcome.
    Close {
        /// The session's id, as `casebook sessions list` shows it.
        id: Uuid,
        #[arg(long, value_parser = outcome_parser())]
        outcome: Outcome,
        /// What happened, for whoever reads the session later.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Make a completed session active again; its closure stays in the timeline.
    Reopen {
        /// The session's id, as `casebook sessions list` shows it.
        id: Uuid,
    },
}

/// The six outcomes, from the domain's own list, each with its label as help.
fn outcome_parser() -> impl TypedValueParser<Value = Outcome> {
    let values = Outcome::ALL.map(|o| PossibleValue::new(o.as_str()).help(o.label()));
    PossibleValuesParser::new(values)
        .map(|v| Outcome::parse(&v).expect("clap accepts only listed outcomes"))
}

fn status_parser() -> impl TypedValueParser<Value = Status> {
    PossibleValuesParser::new(Status::ALL.map(Status::as_str))
        .map(|v| Status::parse(&v).expect("clap accepts only listed statuses"))
}

/// Writes to standard output; a reader that went away (`| head`) is no error.
fn emit(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

/// Prints a failure as one line on stderr and exits 1.
pub fn exit_on_error(result: anyhow::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = result {
        let line = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {line}");
        std::process::exit(1);
    }
    Ok(())
}

/// Checks the token against the server, then keeps both for later commands.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let url = config::normalize_url(&args.url)?;
    let token = read_token(&url)?;
    let api = Api::new(config::Server {
        url: url.clone(),
        token: token.clone(),
    })?;
    let me = api.me().await?;
    let path = config::config_path()?;
    config::save(&path, &config::SavedLogin { url, token })?;
    println!(
        "Signed in to {} as {} ({}, {}); saved to {}.",
        api.url(),
        me.username,
        me.display_name,
        me.role,
        path.display()
    );
    Ok(())
}

/// The first line of standard input; at a terminal, asked for without echo.
fn read_token(url: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::prompt_password(format!(
            "Personal token for {url} (from its account page, or `casebook token create`): "
        ))
        .context("cannot read the token from the terminal")?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the token from standard input")?;
        line
    };
    let token = line.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "no token given: pipe one in, e.g. `casebook token create --user dana | casebook login --url {url}`"
    );
    Ok(token.to_string())
}

pub async fn sessions(args: SessionsArgs) -> anyhow::Result<()> {
    let server = config::resolve(args.server.url.as_deref(), args.server.token.as_deref())?;
    let api = Api::new(server)?;
    let now = chrono::Utc::now();
    match args.command {
        SessionsCommand::List {
            status,
            outcome,
            mine,
            owner,
            search,
            limit,
            json,
        } => {
            let owner = if mine {
                Some(api.me().await?.username)
            } else {
                owner
            };
            let filter = ListFilter {
                status,
                outcome,
                owner,
                search,
                limit,
            };
            let page = api.list(&filter).await?;
            if json {
                emit(&format!("{:#}\n", page.raw_items))?;
            } else if page.sessions.is_empty() {
                emit("No sessions match.\n")?;
            } else {
                let mut out = table::session_table(&page.sessions, now);
                if page.more {
                    out.push_str("(more sessions match; raise --limit or narrow the filters)\n");
                }
                emit(&out)?;
            }
        }
        SessionsCommand::Show { id, json } => {
            let ((mut raw, session), (raw_events, events)) =
                tokio::try_join!(api.session(id), api.events(id))?;
            if json {
                raw["events"] = raw_events;
                emit(&format!("{raw:#}\n"))?;
            } else {
                emit(&table::session_page(&session, &events, now))?;
            }
        }
        SessionsCommand::Close { id, outcome, notes } => {
            let session = api.close(id, outcome, notes.as_deref()).await?;
            println!(
                "Closed \"{}\" as {}.",
                session.title,
                session.outcome.unwrap_or(outcome).label()
            );
        }
        SessionsCommand::Reopen { id } => {
            let session = api.reopen(id).await?;
            println!(
                "Reopened \"{}\"; it is {} again.",
                session.title, session.status
            );
        }
    }
    Ok(())
}
