//! The body of a webhook delivery, in the API's own shapes: the timeline
//! event as `GET /api/sessions/{id}/events` lists it, and the session right
//! after the change as `GET /api/sessions/{id}` returns it.

use serde::Serialize;
use utoipa::openapi::OpenApi;
use utoipa::{PartialSchema, ToSchema};

use super::bodies::{EventBody, SessionBody};
use crate::domain::{Event, Session};

/// What Casebook POSTs to a webhook for each session change. Headers:
/// `X-Casebook-Event` (the event kind), `X-Casebook-Delivery` (the same on
/// every retry), `X-Casebook-Signature` (`sha256=` and the hex HMAC-SHA256
/// of the body, keyed with the webhook's secret).
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookPayload)]
pub struct WebhookPayload<'a> {
    /// What happened: `kind`, `actor`, `via`, `at` and what changed.
    event: EventBody<'a>,
    /// The session right after the change.
    session: SessionBody<'a>,
}

/// The JSON body of a delivery.
pub fn render(event: &Event, session: &Session) -> String {
    let payload = WebhookPayload {
        event: EventBody::from(event),
        session: SessionBody::from(session),
    };
    serde_json::to_string(&payload).expect("a payload serializes")
}

/// Adds the payload's schema to the document's components.
pub fn describe(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.schemas.insert(
        WebhookPayload::name().into_owned(),
        WebhookPayload::schema(),
    );
}
