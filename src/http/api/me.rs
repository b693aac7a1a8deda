//! `GET /api/me`: who the credentials belong to, so a client can check a
//! token before keeping it and filter on its own sessions.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::http::AppState;
use crate::http::auth::Viewer;

pub fn router() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

#[derive(Serialize)]
struct MeBody {
    username: String,
    display_name: String,
    role: &'static str,
}

async fn me(Viewer(signed_in): Viewer) -> Json<MeBody> {
    let user = signed_in.user;
    Json(MeBody {
        username: user.username.as_str().to_string(),
        display_name: user.display_name.as_str().to_string(),
        role: user.role.as_str(),
    })
}
