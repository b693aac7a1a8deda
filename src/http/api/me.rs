//! `GET /api/me`: who the credentials belong to, so a client can check a
//! token before keeping it and filter on its own sessions.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::Viewer;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The account the credentials belong to.
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
struct MeBody {
    username: String,
    display_name: String,
    /// `engineer` or `admin`.
    #[schema(value_type = RoleSchema)]
    role: &'static str,
}

/// What an account may do: engineers write to their own sessions, admins
/// to every session.
#[derive(ToSchema)]
#[schema(as = Role)]
#[allow(dead_code)]
enum RoleSchema {
    #[schema(rename = "engineer")]
    Engineer,
    #[schema(rename = "admin")]
    Admin,
}

/// Who is asking.
#[utoipa::path(get, path = "/me", tag = "accounts", responses(
    (status = 200, description = "The signed-in account.", body = MeBody),
))]
async fn me(Viewer(signed_in): Viewer) -> Json<MeBody> {
    let user = signed_in.user;
    Json(MeBody {
        username: user.username.as_str().to_string(),
        display_name: user.display_name.as_str().to_string(),
        role: user.role.as_str(),
    })
}
