//! Similar past sessions: to a session, or to a text being typed.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bodies::SessionBody;
use crate::domain::{Session, SimilarLimit, SimilarText};
use crate::http::error::ProblemDetails;
use crate::http::extract::parse_id;
use crate::http::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(similar_sessions))
        .routes(routes!(similar_to_text))
}

const TAG: &str = "sessions";

/// Sessions, best first.
#[derive(Serialize, ToSchema)]
pub struct ItemsBody<T> {
    pub items: Vec<T>,
}

fn items(sessions: &[Session]) -> Response {
    Json(ItemsBody {
        items: sessions.iter().map(SessionBody::from).collect(),
    })
    .into_response()
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// How many sessions, 5 unless given.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 20)]
    pub limit: Option<String>,
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct SimilarTextParams {
    /// The text to match, such as a title and problem being typed; at most
    /// 10,000 characters. Without a word worth searching for, no sessions.
    #[param(max_length = 10000, pattern = "^[^\\u0000]*$")]
    pub text: Option<String>,
    /// How many sessions, 5 unless given.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 20)]
    pub limit: Option<String>,
}

fn params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// Completed sessions most like this one (its title, problem, reference,
/// customer and plan, matched against what other sessions say, found and
/// concluded), best first. Never the session itself, never a prepared or
/// active session. Ranked by the database's full-text search; words most
/// sessions contain count for little.
#[utoipa::path(get, path = "/sessions/{id}/similar", tag = TAG,
    params(("id" = Uuid, Path, description = "The session's id."), SimilarParams),
    responses(
        (status = 200, description = "Similar completed sessions, best first.", body = ItemsBody<SessionBody>),
        (status = 422, description = "The limit is not a whole number from 1 to 20.", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
async fn similar_sessions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<SimilarParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let limit = SimilarLimit::parse(params(query)?.limit.as_deref())?;
    let sessions = state.sessions.similar_to(id, limit).await?;
    Ok(items(&sessions))
}

/// Completed sessions most like a text, best first: what the new-session
/// form offers while the engineer types.
#[utoipa::path(get, path = "/similar", tag = TAG, params(SimilarTextParams), responses(
    (status = 200, description = "Similar completed sessions, best first.", body = ItemsBody<SessionBody>),
    (status = 422, description = "The text or the limit is invalid.", body = ProblemDetails, content_type = "application/problem+json"),
))]
#[tracing::instrument(skip_all)]
async fn similar_to_text(
    State(state): State<AppState>,
    query: Result<Query<SimilarTextParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(query)?;
    let text = SimilarText::parse(p.text.as_deref());
    let limit = SimilarLimit::parse(p.limit.as_deref());
    let (text, limit) = match (text, limit) {
        (Ok(text), Ok(limit)) => (text, limit),
        (text, limit) => {
            let mut errors = text.err().unwrap_or_default();
            errors.0.extend(limit.err().unwrap_or_default().0);
            return Err(ApiError::Validation(errors));
        }
    };
    let sessions = state.sessions.similar_to_text(text, limit).await?;
    Ok(items(&sessions))
}
