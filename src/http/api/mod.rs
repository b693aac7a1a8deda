//! The JSON API under `/api`.

mod bodies;
mod export;
mod me;
mod outcomes;
mod sessions;

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(export::router())
        .merge(sessions::router())
        .merge(outcomes::router())
        .merge(me::router())
}
