use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do useful work: its database answers, and other
/// processes' changes reach its live streams.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .sessions
        .store()
        .ping()
        .await
        .map_err(ApiError::from_store)?;
    if state
        .sessions
        .live()
        .is_some_and(|live| !live.is_listening())
    {
        return Err(ApiError::NotListening);
    }
    Ok(Json(json!({ "status": "ready" })))
}
