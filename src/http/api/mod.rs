//! The JSON API under `/api`, and its OpenAPI document: both come from the
//! same route list, so a route cannot exist without being described.

mod bodies;
mod export;
mod me;
mod outcomes;
mod plan_edits;
mod schema;
mod session_edits;
mod sessions;
mod timestamp;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use schema::StatusSchema;

use super::AppState;

/// The API's routes, `/api/openapi.json` among them.
pub fn router() -> Router<AppState> {
    let (router, openapi) = documented_routes().split_for_parts();
    let json = schema::to_json(&openapi).to_string();
    router.layer(Extension(Document(Arc::from(json))))
}

/// The API's OpenAPI 3.1 document, as served.
pub fn openapi() -> serde_json::Value {
    schema::to_json(&documented_routes().into_openapi())
}

fn documented_routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(openapi_document))
        .merge(export::router())
        .merge(sessions::router())
        .merge(plan_edits::router())
        .merge(outcomes::router())
        .merge(me::router());
    let mut router = OpenApiRouter::new().nest("/api", api);
    schema::complete(router.get_openapi_mut());
    router
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
