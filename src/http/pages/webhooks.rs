//! `/admin/webhooks`: admins register outbound webhooks (each secret shown
//! once), disable them, and read each one's latest deliveries.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use axum_extra::extract::FormRejection;
use serde::Deserialize;

use super::layout::{Layout, PageError, parse_id, render};
use crate::domain::{Delivery, DeliveryState, WEBHOOK_EVENTS, Webhook, WebhookEvents, WebhookUrl};
use crate::http::AppState;
use crate::http::auth::SignedInUser;
use crate::http::state::Viewer;
use crate::service::{WebhookError, WebhookService};

const TIME: &str = "%Y-%m-%d %H:%M:%S UTC";

fn service(state: &AppState) -> Result<&WebhookService, PageError> {
    state
        .webhooks
        .as_ref()
        .ok_or_else(|| PageError::Internal(anyhow::anyhow!("webhooks are not configured")))
}

impl From<WebhookError> for PageError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::NotFound => PageError::NotFound,
            WebhookError::Forbidden => PageError::AdminOnly,
            WebhookError::Unavailable(e) => PageError::Unavailable(e.into()),
            WebhookError::Store(e) => PageError::Internal(e.into()),
        }
    }
}

struct WebhookView {
    id: String,
    url: String,
    events: String,
    active: bool,
    created: String,
    created_by: String,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            id: w.id.to_string(),
            url: w.url.as_str().to_string(),
            events: w.events.to_string(),
            active: w.active,
            created: w.created_at.format(TIME).to_string(),
            created_by: w.created_by.clone(),
        }
    }
}

struct EventChoice {
    name: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    webhooks: Vec<WebhookView>,
    /// The webhook just added and its secret, shown this once.
    created: Option<(String, String)>,
    url: String,
    events: Vec<EventChoice>,
    url_error: Option<String>,
    events_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddForm {
    url: String,
    events: Vec<String>,
}

async fn list_page(
    state: &AppState,
    viewer: &SignedInUser,
    form: AddForm,
    created: Option<(String, String)>,
    errors: (Option<String>, Option<String>),
) -> Result<Response, PageError> {
    let webhooks = service(state)?.list(&viewer.user.actor()).await?;
    render(&WebhooksPage {
        layout: Layout::signed_in("Webhooks", viewer),
        webhooks: webhooks.iter().map(WebhookView::from).collect(),
        created,
        events: WEBHOOK_EVENTS
            .iter()
            .map(|&name| EventChoice {
                name,
                checked: form.events.iter().any(|e| e == name),
            })
            .collect(),
        url: form.url,
        url_error: errors.0,
        events_error: errors.1,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
) -> Result<Response, PageError> {
    list_page(&state, &viewer, AddForm::default(), None, (None, None)).await
}

#[tracing::instrument(skip_all)]
pub async fn add(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    body: Result<Form<AddForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = body.map(|Form(f)| f).unwrap_or_default();
    let url = WebhookUrl::parse(&form.url).map_err(|e| format!("The URL {e}."));
    let events = WebhookEvents::parse(&form.events.join(",")).map_err(|e| format!("The list {e}."));
    let (url, events) = match (url, events) {
        (Ok(url), Ok(events)) => (url, events),
        (url, events) => {
            let errors = (url.err(), events.err());
            let mut response = list_page(&state, &viewer, form, None, errors).await?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
    };
    let (webhook, secret) = service(&state)?
        .add(&viewer.user.actor(), url, events)
        .await?;
    let created = (
        webhook.url.as_str().to_string(),
        secret.expose().to_string(),
    );
    list_page(
        &state,
        &viewer,
        AddForm::default(),
        Some(created),
        (None, None),
    )
    .await
}

struct DeliveryView {
    id: String,
    event: String,
    state: &'static str,
    /// `ok`, `pending` or `failed`: how the state badge looks.
    tone: &'static str,
    created: String,
    attempts: u32,
    next: Option<String>,
    answer: Option<AnswerView>,
}

struct AnswerView {
    at: String,
    status: String,
    duration_ms: u32,
    excerpt: String,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            id: d.id.to_string(),
            event: d.event.clone(),
            state: d.state.as_str(),
            tone: match d.state {
                DeliveryState::Delivered => "st-completed",
                DeliveryState::Pending => "st-active",
                DeliveryState::Failed => "oc-unresolved",
            },
            created: d.created_at.format(TIME).to_string(),
            attempts: d.attempts,
            next: d.next_attempt_at.map(|at| at.format(TIME).to_string()),
            answer: d.last_attempt.as_ref().map(|a| AnswerView {
                at: a.at.format(TIME).to_string(),
                status: a
                    .status
                    .map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}")),
                duration_ms: a.duration_ms,
                excerpt: a.excerpt.clone(),
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    layout: Layout,
    webhook: WebhookView,
    deliveries: Vec<DeliveryView>,
}

pub async fn details(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let (webhook, deliveries) = service(&state)?
        .deliveries(&viewer.user.actor(), id)
        .await?;
    render(&WebhookPage {
        layout: Layout::signed_in("Webhook", &viewer),
        webhook: WebhookView::from(&webhook),
        deliveries: deliveries.iter().map(DeliveryView::from).collect(),
    })
}

pub async fn disable(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    service(&state)?.disable(&viewer.user.actor(), id).await?;
    Ok(Redirect::to(&format!("/admin/webhooks/{id}")).into_response())
}
