//! `casebook webhook …`: register, list and disable outbound webhooks and
//! read their deliveries, straight against the database (the operator acts
//! as an admin).

use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::config::DatabaseArgs;
use crate::domain::{Actor, Delivery, Role, WebhookEvents, WebhookUrl};
use crate::service::{SystemClock, WebhookError, WebhookService};
use crate::store;

/// `casebook webhook …`.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    #[command(subcommand)]
    pub command: WebhookCommand,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register a receiver; prints its id and its signing secret (shown only this once).
    Add {
        /// Where deliveries are POSTed: an http:// or https:// URL.
        url: String,
        /// The event kinds to send, comma-separated (every kind when omitted):
        /// created, started, note_added, step_checked, step_unchecked,
        /// completed, reopened, step_added, step_reworded, step_skipped,
        /// note_corrected, edited, owner_changed, summary_generated.
        #[arg(long, value_name = "KINDS")]
        events: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List every webhook (never the secrets).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Stop deliveries to a webhook; its pending deliveries fail, its history stays.
    #[command(alias = "remove")]
    Disable {
        id: Uuid,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// The webhook's latest deliveries and the answers to them, newest first.
    Deliveries {
        id: Uuid,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub async fn run(args: WebhookArgs) -> anyhow::Result<()> {
    let operator = Actor::with_role(crate::service::SYSTEM_ACTOR, Role::Admin);
    match args.command {
        WebhookCommand::Add {
            url,
            events,
            database,
        } => {
            let url = WebhookUrl::parse(&url).map_err(|e| anyhow::anyhow!("the URL {e}"))?;
            let events = WebhookEvents::parse(events.as_deref().unwrap_or(""))
                .map_err(|e| anyhow::anyhow!("--events {e}"))?;
            with_service(&database, |webhooks| async move {
                let (webhook, secret) = webhooks.add(&operator, url, events).await?;
                // stdout carries only the secret, so `$(casebook webhook add …)` works.
                println!("{}", secret.expose());
                eprintln!(
                    "Added webhook {} for {} ({}). Its signing secret is shown only this once.",
                    webhook.id,
                    webhook.url.as_str(),
                    webhook.events
                );
                Ok(())
            })
            .await
        }
        WebhookCommand::List { database } => {
            with_service(&database, |webhooks| async move {
                let list = webhooks.list(&operator).await?;
                println!(
                    "{:<36}  {:<8}  {:<20}  {:<24}  URL",
                    "ID", "STATUS", "CREATED", "EVENTS"
                );
                for w in list {
                    println!(
                        "{:<36}  {:<8}  {:<20}  {:<24}  {}",
                        w.id,
                        if w.active { "active" } else { "disabled" },
                        w.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                        w.events.to_string(),
                        w.url.as_str()
                    );
                }
                Ok(())
            })
            .await
        }
        WebhookCommand::Disable { id, database } => {
            with_service(&database, |webhooks| async move {
                webhooks.disable(&operator, id).await?;
                println!("Disabled webhook {id}; it receives nothing more.");
                Ok(())
            })
            .await
        }
        WebhookCommand::Deliveries { id, database } => {
            with_service(&database, |webhooks| async move {
                let (webhook, deliveries) = webhooks.deliveries(&operator, id).await?;
                eprintln!("Deliveries to {}, newest first:", webhook.url.as_str());
                println!(
                    "{:<36}  {:<17}  {:<9}  {:>8}  {:>6}  {:>8}  ANSWER",
                    "DELIVERY", "EVENT", "STATE", "ATTEMPTS", "STATUS", "TIME"
                );
                for d in &deliveries {
                    print_delivery(d);
                }
                Ok(())
            })
            .await
        }
    }
}

fn print_delivery(d: &Delivery) {
    let (status, duration, excerpt) = match &d.last_attempt {
        Some(a) => (
            a.status.map_or("-".to_string(), |s| s.to_string()),
            format!("{} ms", a.duration_ms),
            a.excerpt.chars().take(60).collect::<String>(),
        ),
        None => ("-".into(), "-".into(), String::new()),
    };
    println!(
        "{:<36}  {:<17}  {:<9}  {:>8}  {:>6}  {:>8}  {}",
        d.id,
        d.event,
        d.state.as_str(),
        d.attempts,
        status,
        duration,
        excerpt
    );
}

/// Opens the database, runs `work`, and closes the database either way.
async fn with_service<F, Fut>(database: &DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(WebhookService) -> Fut,
    Fut: std::future::Future<Output = Result<(), WebhookError>>,
{
    let stores = store::connect_all(&database.resolve_url()?)
        .await
        .context("cannot open the database")?;
    let webhooks = WebhookService::new(stores.webhooks.clone(), Arc::new(SystemClock));
    let result = work(webhooks).await;
    stores.sessions.close().await;
    Ok(result?)
}

/// Kept beside the flag's help so a new kind cannot be forgotten there.
#[cfg(test)]
#[test]
fn the_events_help_names_every_kind() {
    use crate::domain::WEBHOOK_EVENTS;
    use clap::CommandFactory;
    let help = crate::config::Cli::command()
        .find_subcommand_mut("webhook")
        .and_then(|c| c.find_subcommand_mut("add").map(|a| a.render_long_help()))
        .unwrap()
        .to_string();
    for kind in WEBHOOK_EVENTS {
        assert!(help.contains(kind), "{kind} missing from --events help");
    }
}
