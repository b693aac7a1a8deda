//! Outbound webhooks: admins register receivers; every session change is
//! written to an outbox in the change's own transaction (see
//! `store::webhooks`), and [`DeliveryWorker`] POSTs it, signed, with
//! retries.

mod signature;
mod worker;

use std::sync::Arc;

use uuid::Uuid;

use super::{Clock, Secret};
use crate::domain::{Actor, Delivery, Webhook, WebhookEvents, WebhookUrl};
use crate::store::{StoreError, WebhookStore};

pub use signature::{SIGNATURE_PREFIX, sign};
pub use worker::{DeliveryWorker, RenderPayload, WebhookSettings};

/// The start of every webhook secret, so a leaked one is recognisable.
pub const SECRET_PREFIX: &str = "whsec_";

/// Deliveries listed per webhook.
pub const DELIVERIES_SHOWN: u32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no such webhook")]
    NotFound,
    #[error("only admins manage webhooks")]
    Forbidden,
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for WebhookError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => WebhookError::Unavailable(error),
            other => WebhookError::Store(other),
        }
    }
}

/// Registering, listing and disabling webhooks, and their deliveries. Every
/// operation is for admins (the command line acts as one).
#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    clock: Arc<dyn Clock>,
}

impl WebhookService {
    pub fn new(store: Arc<dyn WebhookStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    fn allowed(actor: &Actor) -> Result<(), WebhookError> {
        if actor.is_admin() {
            Ok(())
        } else {
            Err(WebhookError::Forbidden)
        }
    }

    /// Registers a receiver and returns it with its signing secret, which
    /// is shown this once.
    pub async fn add(
        &self,
        actor: &Actor,
        url: WebhookUrl,
        events: WebhookEvents,
    ) -> Result<(Webhook, Secret), WebhookError> {
        Self::allowed(actor)?;
        let webhook = Webhook {
            id: Uuid::now_v7(),
            url,
            events,
            active: true,
            created_at: self.clock.now(),
            created_by: actor.username.clone(),
        };
        let secret = Secret::generate(SECRET_PREFIX);
        self.store.insert_webhook(&webhook, secret.expose()).await?;
        Ok((webhook, secret))
    }

    /// Every webhook, newest first.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<Webhook>, WebhookError> {
        Self::allowed(actor)?;
        Ok(self.store.webhooks().await?)
    }

    pub async fn get(&self, actor: &Actor, id: Uuid) -> Result<Webhook, WebhookError> {
        Self::allowed(actor)?;
        self.store.webhook(id).await?.ok_or(WebhookError::NotFound)
    }

    /// Stops deliveries to a webhook; its history stays listed.
    pub async fn disable(&self, actor: &Actor, id: Uuid) -> Result<(), WebhookError> {
        Self::allowed(actor)?;
        if self.store.disable_webhook(id).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    /// The webhook's latest deliveries, newest first.
    pub async fn deliveries(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(Webhook, Vec<Delivery>), WebhookError> {
        let webhook = self.get(actor, id).await?;
        let deliveries = self.store.deliveries(id, DELIVERIES_SHOWN).await?;
        Ok((webhook, deliveries))
    }
}
