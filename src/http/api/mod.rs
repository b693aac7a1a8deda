//! The JSON API under `/api`, and its OpenAPI document: both come from the
//! same route list, so a route cannot exist without being described.

mod bodies;
mod export;
mod me;
mod outcomes;
mod plan_edits;
mod reports;
mod runbooks;
mod schema;
mod session_edits;
mod session_json;
mod sessions;
mod similar;
mod stream;
mod timestamp;
mod webhook;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use reports::ReportParams;
pub use schema::StatusSchema;
pub use session_json::SessionJsonCache;
pub use webhook::render as webhook_payload;

use super::AppState;

/// The API's routes, `/api/openapi.json` among them; not the live stream
/// (see [`stream_router`]).
pub fn router() -> Router<AppState> {
    let (router, _) = request_routes().split_for_parts();
    let json = schema::to_json(&documented_routes().into_openapi()).to_string();
    router.layer(Extension(Document(Arc::from(json))))
}

/// `GET /api/stream`: served apart from the other routes because a stream
/// stays open; it counts against `--max-streams`, not the request limits.
pub fn stream_router() -> Router<AppState> {
    let (router, _) = OpenApiRouter::new()
        .nest("/api", stream::router())
        .split_for_parts();
    router
}

/// The API's OpenAPI 3.1 document, as served.
pub fn openapi() -> serde_json::Value {
    schema::to_json(&documented_routes().into_openapi())
}

/// Every route, as the document describes them.
fn documented_routes() -> OpenApiRouter<AppState> {
    let mut router = request_routes().merge(OpenApiRouter::new().nest("/api", stream::router()));
    schema::complete(router.get_openapi_mut());
    webhook::describe(router.get_openapi_mut());
    router
}

/// The routes that answer a request and are done.
fn request_routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(openapi_document))
        .merge(export::router())
        .merge(sessions::router())
        .merge(plan_edits::router())
        .merge(outcomes::router())
        .merge(me::router())
        .merge(runbooks::router())
        .merge(reports::router())
        .merge(similar::router());
    OpenApiRouter::new().nest("/api", api)
}

#[derive(Clone)]
struct Document(Arc<str>);

/// This document: every operation of the API, open to everyone.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "openapi_document", responses(
    (status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json", body = Object),
))]
async fn openapi_document(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
}
