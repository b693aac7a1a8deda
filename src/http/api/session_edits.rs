//! Changing a session's plan and fields before it starts: `PUT` replaces a
//! prepared session's fields and plan, `DELETE` removes a prepared session.
//! Both are 409 once the session has started. And, in any status, an admin
//! gives a session to another owner: `PUT /sessions/{id}/owner`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::bodies::SessionBody;
use super::schema::StepTextSchema;
use crate::domain::{NewSession, Username, ValidationErrors};
use crate::http::error::ProblemDetails;
use crate::http::extract::{ApiJson, Via, parse_id};
use crate::http::state::CurrentActor;
use crate::http::{ApiError, AppState};
use crate::service::{AccountError, ServiceError};

const TAG: &str = "sessions";

/// A prepared session's fields and plan, replaced whole (the fields of a new
/// session, without `start`). Texts are trimmed; blank optional texts mean none.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"title": "Disk full on db01", "problem": "Writes fail with ENOSPC.", "reference": "INC-1042", "customer": "Acme", "steps": ["Check df -h", "Rotate the logs", "Check the backup job"]}))]
pub struct EditSession {
    /// At most 200 characters, not all spaces.
    #[schema(required, value_type = String, max_length = 200, pattern = "^[^\\u0000]*[^\\u0000\\t\\n\\x0B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$")]
    pub title: Option<String>,
    /// The problem as reported: at most 10,000 characters.
    #[schema(max_length = 10000, pattern = "^[^\\u0000]*$")]
    pub problem: Option<String>,
    /// A ticket or case reference: at most 200 characters.
    #[schema(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub reference: Option<String>,
    /// At most 200 characters.
    #[schema(max_length = 200, pattern = "^[^\\u0000]*$")]
    pub customer: Option<String>,
    /// The whole new plan: at most 100 steps of 1–500 characters each.
    #[schema(max_items = 100, value_type = Vec<StepTextSchema>)]
    #[serde(default)]
    pub steps: Vec<String>,
}

/// Replaces a prepared session's title, problem, reference, customer and plan.
#[utoipa::path(put, path = "/sessions/{id}", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), request_body = EditSession, responses(
    (status = 200, description = "The session as edited.", body = SessionBody),
    (status = 409, description = "The session has started; only a prepared session can be edited.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn edit_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EditSession>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let edited = NewSession::parse(
        body.title.as_deref(),
        body.problem.as_deref(),
        body.reference.as_deref(),
        body.customer.as_deref(),
        &body.steps,
    )?;
    let session = state.sessions.edit(&actor, via, id, edited).await?;
    Ok(Json(SessionBody::from(&session)).into_response())
}

/// Deletes a prepared session with its plan; a started session is kept.
#[utoipa::path(delete, path = "/sessions/{id}", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), responses(
    (status = 204, description = "The session is gone."),
    (status = 409, description = "The session has started; only a prepared session can be deleted.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn delete_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    // Nothing is recorded (the timeline goes with the session), but the
    // header means what it means on every other write: an unknown one is
    // refused, not ignored.
    Via(_): Via,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.sessions.delete(&actor, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The account a session is given to.
#[derive(Deserialize, Default, ToSchema)]
#[schema(example = json!({"owner": "lee"}))]
pub struct ReassignSession {
    /// The new owner's username: an enabled account.
    #[schema(required, value_type = String, max_length = 64)]
    pub owner: Option<String>,
}

/// Gives a session, in any status, to another owner; for admins only. The
/// timeline records it as `owner_changed` with `from` and `to`.
#[utoipa::path(put, path = "/sessions/{id}/owner", tag = TAG, params(("id" = Uuid, Path, description = "The session's id.")), request_body = ReassignSession, responses(
    (status = 200, description = "The session with its new owner (unchanged when it was already theirs).", body = SessionBody),
    (status = 403, description = "Only an admin can reassign a session.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 409, description = "Another admin reassigned the session meanwhile.", body = ProblemDetails, content_type = "application/problem+json"),
    (status = 422, description = "The owner is not an enabled account.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all, fields(session = %id))]
pub async fn reassign_session(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    Via(via): Via,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReassignSession>,
) -> Result<Response, ApiError> {
    // Who may ask comes before what was asked: a non-admin learns nothing
    // of which accounts exist.
    if !actor.is_admin() {
        return Err(ServiceError::NotAdmin.into());
    }
    let id = parse_id(&id)?;
    let username = Username::parse(body.owner.as_deref().unwrap_or_default())
        .map_err(|why| ValidationErrors::single("owner", why))?;
    let to = match state.accounts.user(&username).await {
        Ok(user) => user,
        Err(AccountError::UserNotFound) => {
            return Err(ServiceError::UnknownOwner {
                username: username.to_string(),
            }
            .into());
        }
        Err(AccountError::Unavailable(e)) => return Err(ApiError::Unavailable(e.into())),
        Err(e) => return Err(ApiError::Internal(e.into())),
    };
    let session = state.sessions.reassign(&actor, via, id, &to).await?;
    Ok(Json(SessionBody::from(&session)).into_response())
}
