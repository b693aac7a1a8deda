//! Outbound webhooks: where session changes are announced, and the record
//! of each delivery.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Event, Session};

/// The event kinds a webhook can subscribe to: every kind of timeline
/// event (`EventKind::name`). An auto-close is a `completed` event by
/// `system` via `system`.
pub const WEBHOOK_EVENTS: [&str; 14] = super::EventKind::NAMES;

/// The longest URL a webhook may have.
pub const MAX_URL_LENGTH: usize = 2000;

/// A registered receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub url: WebhookUrl,
    pub events: WebhookEvents,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// An absolute `http` or `https` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("is required".into());
        }
        if raw.chars().count() > MAX_URL_LENGTH {
            return Err(format!("must be at most {MAX_URL_LENGTH} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| {
            format!("is not a valid URL ({e}); write e.g. https://example.com/hook")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must start with http:// or https://".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which event kinds a webhook receives: all of them, or a chosen few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvents {
    All,
    Only(Vec<&'static str>),
}

impl WebhookEvents {
    /// A comma-separated list of kinds (`completed,reopened`); empty or `*`
    /// means every kind.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() || raw == "*" {
            return Ok(WebhookEvents::All);
        }
        let mut chosen = Vec::new();
        for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(known) = WEBHOOK_EVENTS.iter().find(|k| **k == name) else {
                return Err(format!(
                    "has an unknown event {name:?}; choose from {}",
                    WEBHOOK_EVENTS.join(", ")
                ));
            };
            if !chosen.contains(known) {
                chosen.push(*known);
            }
        }
        if chosen.is_empty() {
            return Ok(WebhookEvents::All);
        }
        // Kept in the canonical order, so equal choices look equal.
        chosen.sort_by_key(|n| WEBHOOK_EVENTS.iter().position(|k| k == n));
        Ok(WebhookEvents::Only(chosen))
    }

    /// The chosen kinds, or `None` for every kind: how the store keeps it.
    pub fn names(&self) -> Option<&[&'static str]> {
        match self {
            WebhookEvents::All => None,
            WebhookEvents::Only(names) => Some(names),
        }
    }

    pub fn includes(&self, kind: &str) -> bool {
        self.names().is_none_or(|names| names.contains(&kind))
    }
}

impl std::fmt::Display for WebhookEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookEvents::All => f.write_str("all events"),
            WebhookEvents::Only(names) => f.write_str(&names.join(", ")),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not sent yet, or failed and waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Retried for the whole retry period without success, or its webhook
    /// was disabled first.
    Failed,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// The id a receiver sees (`X-Casebook-Delivery`): derived from the event
/// and the webhook, so it is the same on every attempt and after a restart,
/// and different for each webhook that receives the same event.
pub fn delivery_id(event_id: Uuid, webhook_id: Uuid) -> Uuid {
    let digest = Sha256::new()
        .chain_update(event_id.as_bytes())
        .chain_update(webhook_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// One delivery and the answer to its last attempt, as listed to admins.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub session_id: Uuid,
    /// The event kind.
    pub event: String,
    pub created_at: DateTime<Utc>,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt: Option<AttemptAnswer>,
}

/// What the receiver (or the network) said to one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptAnswer {
    pub at: DateTime<Utc>,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The start of the answer's body, or why there was none.
    pub excerpt: String,
    pub duration_ms: u32,
}

/// A delivery due to be sent, with everything its request needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    pub event: Event,
    /// The session as it was right after the change.
    pub session: Session,
    pub created_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl DueDelivery {
    pub fn id(&self) -> Uuid {
        delivery_id(self.event.id, self.webhook_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_is_absolute_http_or_https() {
        assert!(WebhookUrl::parse("https://example.com/hook").is_ok());
        assert!(WebhookUrl::parse(" http://127.0.0.1:9000/x ").is_ok());
        assert!(WebhookUrl::parse("").is_err());
        assert!(WebhookUrl::parse("example.com/hook").is_err());
        assert!(WebhookUrl::parse("ftp://example.com/").is_err());
        assert!(WebhookUrl::parse("file:///etc/passwd").is_err());
    }

    #[test]
    fn events_are_known_kinds_in_canonical_order_and_empty_means_all() {
        assert_eq!(WebhookEvents::parse(""), Ok(WebhookEvents::All));
        assert_eq!(WebhookEvents::parse("*"), Ok(WebhookEvents::All));
        assert_eq!(
            WebhookEvents::parse("reopened, completed,completed"),
            Ok(WebhookEvents::Only(vec!["completed", "reopened"]))
        );
        assert!(WebhookEvents::parse("closed").is_err());
        let only = WebhookEvents::parse("completed").unwrap();
        assert!(only.includes("completed") && !only.includes("created"));
        assert!(WebhookEvents::All.includes("created"));
    }

    #[test]
    fn a_delivery_id_is_stable_and_differs_per_webhook() {
        let (event, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(delivery_id(event, a), delivery_id(event, a));
        assert_ne!(delivery_id(event, a), delivery_id(event, b));
    }
}
