use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{Outcome, OutcomeKind};
use crate::http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_outcomes))
}

/// One way a session can end.
#[derive(Serialize, ToSchema)]
#[schema(as = OutcomeInfo)]
struct OutcomeBody {
    value: Outcome,
    label: &'static str,
    kind: OutcomeKind,
}

/// Every outcome, in the order users see them; never more than one page.
#[derive(Serialize, ToSchema)]
struct OutcomeList {
    items: Vec<OutcomeBody>,
    next_cursor: Option<String>,
}

/// The outcomes a session can be completed with.
#[utoipa::path(get, path = "/outcomes", tag = "outcomes", responses(
    (status = 200, description = "Every outcome.", body = OutcomeList),
))]
async fn list_outcomes() -> Json<OutcomeList> {
    let items = Outcome::ALL
        .into_iter()
        .map(|value| OutcomeBody {
            value,
            label: value.label(),
            kind: value.kind(),
        })
        .collect();
    Json(OutcomeList {
        items,
        next_cursor: None,
    })
}
