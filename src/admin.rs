//! `casebook user …` and `casebook token …`: account administration for
//! operators who can reach the database. Passwords come only from standard
//! input, never from arguments (which `ps` and shell history would show).

use std::io::BufRead;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::config::DatabaseArgs;
use crate::domain::{DisplayName, Password, Role, TokenName, User, Username};
use crate::service::{AccountError, AccountService, NewUser, SystemClock};
use crate::store;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is the first line of standard input.
    Add {
        username: String,
        /// An admin may write to every session; an engineer to their own.
        #[arg(long)]
        admin: bool,
        /// How the person is shown; the username when omitted.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (the only way to give one).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List every account.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Set a new password (first line of standard input); ends the user's sessions.
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Disable an account: its sessions end and its password and tokens stop working.
    Disable {
        username: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token; prints only the token, once.
    Create {
        #[arg(long)]
        user: String,
        /// What the token is for, to recognise it when listing.
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a token by its id.
    Revoke {
        id: Uuid,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// `casebook user …`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
}

/// `casebook token …`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

pub async fn user(args: UserArgs) -> anyhow::Result<()> {
    match args.command {
        UserCommand::Add {
            username,
            admin,
            display_name,
            password_stdin: _,
            database,
        } => {
            let new = NewUser {
                username: parse("username", Username::parse(&username))?,
                display_name: display_name
                    .map(|d| parse("display name", DisplayName::parse(&d)))
                    .transpose()?,
                password: read_password()?,
                role: if admin { Role::Admin } else { Role::Engineer },
            };
            with_service(&database, |accounts| async move {
                let username = new.username.clone();
                let user = match accounts.create_user(new).await {
                    Err(AccountError::UsernameTaken) => {
                        anyhow::bail!("{}", AccountError::taken(&username))
                    }
                    other => other.with_context(|| format!("cannot create {username}"))?,
                };
                println!("Created {} {}.", user.role, user.username);
                Ok(())
            })
            .await
        }
        UserCommand::List { database } => {
            with_service(&database, |accounts| async move {
                print_users(&accounts.users().await?);
                Ok(())
            })
            .await
        }
        UserCommand::SetPassword {
            username,
            password_stdin: _,
            database,
        } => {
            let username = parse("username", Username::parse(&username))?;
            let password = read_password()?;
            with_service(&database, |accounts| async move {
                accounts.set_password(&username, &password).await?;
                println!("Password of {username} changed; their sessions ended.");
                Ok(())
            })
            .await
        }
        UserCommand::Disable { username, database } => {
            let username = parse("username", Username::parse(&username))?;
            with_service(&database, |accounts| async move {
                accounts.disable_user(&username).await?;
                println!("Disabled {username}; their sessions and tokens no longer work.");
                Ok(())
            })
            .await
        }
    }
}

pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Create {
            user,
            name,
            database,
        } => {
            let username = parse("user", Username::parse(&user))?;
            let name = parse("name", TokenName::parse(&name))?;
            with_service(&database, |accounts| async move {
                let (token, secret) = accounts.create_token(&username, name).await?;
                // stdout carries only the token, so `$(casebook token create …)` works.
                println!("{}", secret.expose());
                eprintln!(
                    "Created token {} ({}) for {}. It is shown only this once.",
                    token.id,
                    token.name.as_str(),
                    token.username
                );
                Ok(())
            })
            .await
        }
        TokenCommand::List { user, database } => {
            let username = user
                .map(|u| parse("user", Username::parse(&u)))
                .transpose()?;
            with_service(&database, |accounts| async move {
                let tokens = accounts.tokens(username.as_ref()).await?;
                println!(
                    "{:<36}  {:<20}  {:<8}  {:<20}  NAME",
                    "ID", "USER", "STATUS", "CREATED"
                );
                for t in tokens {
                    let status = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<36}  {:<20}  {:<8}  {:<20}  {}",
                        t.id,
                        t.username.as_str(),
                        status,
                        t.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                        t.name.as_str()
                    );
                }
                Ok(())
            })
            .await
        }
        TokenCommand::Revoke { id, database } => {
            with_service(&database, |accounts| async move {
                accounts.revoke_token(id, None).await?;
                println!("Revoked token {id}.");
                Ok(())
            })
            .await
        }
    }
}

/// Prints a refusal as one line on stderr and exits 1: an answer, not a crash.
pub fn exit_on_error(command: &str, result: anyhow::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = result {
        eprintln!("casebook {command}: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

/// Opens the database, runs `work`, and closes the database either way.
async fn with_service<F, Fut>(database: &DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(AccountService) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let stores = store::connect_all(&database.resolve_url()?)
        .await
        .context("cannot open the database")?;
    let accounts = AccountService::new(stores.accounts.clone(), Arc::new(SystemClock));
    let result = work(accounts).await;
    stores.sessions.close().await;
    result
}

fn parse<T>(what: &str, result: Result<T, String>) -> anyhow::Result<T> {
    result.map_err(|message| anyhow::anyhow!("{what} {message}"))
}

/// The first line of standard input, without its line ending.
fn read_password() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    parse("password", Password::parse(password))
}

fn print_users(users: &[User]) {
    println!(
        "{:<20}  {:<8}  {:<8}  {:<20}  DISPLAY NAME",
        "USERNAME", "ROLE", "STATUS", "CREATED"
    );
    for u in users {
        let status = if u.is_disabled() {
            "disabled"
        } else {
            "active"
        };
        println!(
            "{:<20}  {:<8}  {:<8}  {:<20}  {}",
            u.username.as_str(),
            u.role.as_str(),
            status,
            u.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            u.display_name.as_str()
        );
    }
}
