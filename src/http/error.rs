//! RFC 9457 problem details: the one error shape of the JSON API.

use std::any::Any;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::domain::{Session, ValidationErrors};
use crate::service::{Conflict, ServiceError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("not signed in: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error(transparent)]
    Conflict(Conflict),
    /// The request is valid but what it names is in no state for it (not a
    /// session's status: that is [`ApiError::Conflict`]).
    #[error("conflict: {0}")]
    StateConflict(String),
    #[error("invalid fields: {0}")]
    Validation(ValidationErrors),
    /// The summarizer failed; the detail says why.
    #[error("{0}")]
    SummaryFailed(String),
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// `--max-streams` live streams are open already.
    #[error("too many live streams")]
    TooManyStreams,
    /// Other processes' changes do not reach this one's live streams now.
    #[error("not listening for changes")]
    NotListening,
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// The shape of [`Problem`] for the OpenAPI document, with every member
/// some problem adds. Only documents; nothing serializes it.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub struct ProblemDetails {
    /// A URI reference naming the kind of problem, e.g. `/problems/not-found`.
    #[schema(rename = "type")]
    kind: String,
    title: String,
    /// The HTTP status code.
    status: u16,
    /// What went wrong, for a person.
    detail: String,
    /// Every invalid field (validation problems).
    #[schema(nullable = false)]
    errors: Option<Vec<FieldErrorDetails>>,
    /// The session's status now (wrong-status problems).
    #[schema(nullable = false, value_type = Option<crate::http::api::StatusSchema>)]
    current_status: Option<String>,
    #[schema(nullable = false)]
    session_id: Option<uuid::Uuid>,
    /// How the session ended, when it is completed (wrong-status problems).
    #[schema(nullable = false)]
    outcome: Option<crate::domain::Outcome>,
    #[schema(nullable = false)]
    outcome_label: Option<String>,
    completed_by: Option<String>,
    completed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One invalid field and why.
#[derive(utoipa::ToSchema)]
#[schema(as = FieldError)]
#[allow(dead_code)]
pub struct FieldErrorDetails {
    /// The field, e.g. `title` or `steps[2]`.
    field: String,
    message: String,
}

impl ApiError {
    pub fn from_store(error: StoreError) -> Self {
        ServiceError::from(error).into()
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) | ApiError::StateConflict(_) => StatusCode::CONFLICT,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::SummaryFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::TooManyStreams | ApiError::NotListening => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let (kind, title, detail, extra) = match self {
            ApiError::BadRequest(detail) => (
                "/problems/malformed-request",
                "Malformed request",
                detail.clone(),
                Map::new(),
            ),
            ApiError::NotFound(detail) => (
                "/problems/not-found",
                "Not found",
                detail.clone(),
                Map::new(),
            ),
            ApiError::Unauthorized(detail) => (
                "/problems/unauthorized",
                "Not signed in",
                detail.clone(),
                Map::new(),
            ),
            ApiError::Forbidden(detail) => (
                "/problems/forbidden",
                "Forbidden",
                detail.clone(),
                Map::new(),
            ),
            ApiError::UnsupportedMediaType => (
                "/problems/unsupported-media-type",
                "Unsupported media type",
                "Send the body as JSON with Content-Type: application/json.".into(),
                Map::new(),
            ),
            ApiError::PayloadTooLarge => (
                "/problems/payload-too-large",
                "Payload too large",
                format!(
                    "The body is larger than the {} KiB limit.",
                    super::BODY_LIMIT / 1024
                ),
                Map::new(),
            ),
            ApiError::Conflict(conflict) => (
                "/problems/wrong-status",
                "Wrong status",
                conflict.detail(),
                conflict_fields(&conflict.current),
            ),
            ApiError::StateConflict(detail) => {
                ("/problems/conflict", "Conflict", detail.clone(), Map::new())
            }
            ApiError::Validation(errors) => {
                let list: Vec<Value> = errors
                    .0
                    .iter()
                    .map(|e| json!({ "field": e.field, "message": e.message }))
                    .collect();
                let mut extra = Map::new();
                extra.insert("errors".into(), Value::Array(list));
                (
                    "/problems/validation",
                    "Invalid fields",
                    errors.to_string(),
                    extra,
                )
            }
            ApiError::SummaryFailed(detail) => (
                "/problems/summary-failed",
                "Summary failed",
                detail.clone(),
                Map::new(),
            ),
            ApiError::Unavailable(_) => (
                "/problems/unavailable",
                "Service unavailable",
                crate::service::UNAVAILABLE.into(),
                Map::new(),
            ),
            ApiError::TooManyStreams => (
                "/problems/too-many-streams",
                "Too many live streams",
                "This server has as many live streams open as it allows; try again shortly, \
                 or another server."
                    .into(),
                Map::new(),
            ),
            ApiError::NotListening => (
                "/problems/not-listening",
                "Not listening for changes",
                "Changes made through other Casebook processes do not reach this one now; \
                 it is reconnecting to the database."
                    .into(),
                Map::new(),
            ),
            ApiError::Internal(_) => (
                "/problems/internal",
                "Internal server error",
                crate::service::INTERNAL.into(),
                Map::new(),
            ),
        };
        Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
            extra,
        }
    }
}

/// What a client needs to explain a conflict without another request: the
/// session's status, and for a closed session how, by whom and when.
fn conflict_fields(session: &Session) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("current_status".into(), json!(session.status().as_str()));
    fields.insert("session_id".into(), json!(session.id));
    if let Some(outcome) = session.outcome {
        fields.insert("outcome".into(), json!(outcome));
        fields.insert("outcome_label".into(), json!(outcome.label()));
        fields.insert("completed_by".into(), json!(session.completed_by));
        fields.insert("completed_at".into(), json!(session.completed_at));
    }
    fields
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(error) => tracing::error!(error = ?error, "request failed"),
            ApiError::Unavailable(error) => tracing::warn!(error = ?error, "database unavailable"),
            _ => {}
        }
        problem_response(self.status(), &self.problem())
    }
}

fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let mut response = (status, Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"casebook\""),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        // The service words every refusal; the pages use the same words.
        let detail = error.detail();
        match error {
            ServiceError::NotFound | ServiceError::StepNotFound | ServiceError::NoteNotFound => {
                ApiError::NotFound(detail)
            }
            ServiceError::Forbidden { .. } | ServiceError::NotNoteAuthor { .. } => {
                ApiError::Forbidden(detail)
            }
            ServiceError::Conflict(conflict) => ApiError::Conflict(conflict),
            ServiceError::NotAdmin => ApiError::Forbidden(detail),
            ServiceError::UnknownOwner { .. } | ServiceError::OwnerDisabled { .. } => {
                ApiError::Validation(ValidationErrors::single("owner", detail))
            }
            ServiceError::OwnerChanged { .. } => ApiError::StateConflict(detail),
            ServiceError::Summary(_) => ApiError::SummaryFailed(detail),
            ServiceError::Unavailable(e) => ApiError::Unavailable(e.into()),
            ServiceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(errors)
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("There is nothing at this address.".into())
}

pub async fn method_not_allowed() -> Response {
    let problem = Problem {
        kind: "/problems/method-not-allowed",
        title: "Method not allowed",
        status: 405,
        detail: "This address does not accept this method.".into(),
        extra: Map::new(),
    };
    problem_response(StatusCode::METHOD_NOT_ALLOWED, &problem)
}

/// The answer when the server is at its concurrency limit (the request is
/// refused at once rather than queued) or a request took longer than the
/// request timeout: 503 with `Retry-After`, as problem+json.
pub async fn overloaded_or_timed_out(error: tower::BoxError) -> Response {
    let problem = if error.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!("request timed out");
        Problem {
            kind: "/problems/timeout",
            title: "Request timed out",
            status: 503,
            detail: "The request took too long and was abandoned; try again shortly.".into(),
            extra: Map::new(),
        }
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        Problem {
            kind: "/problems/overloaded",
            title: "Overloaded",
            status: 503,
            detail: "The server is handling as many requests as it can; try again shortly.".into(),
            extra: Map::new(),
        }
    } else {
        return ApiError::Internal(anyhow::anyhow!("request failed: {error}")).into_response();
    };
    problem_response(StatusCode::SERVICE_UNAVAILABLE, &problem)
}

/// A panic in a handler becomes a logged 500, and the server keeps serving.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}
