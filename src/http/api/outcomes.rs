use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::domain::{Outcome, OutcomeKind};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/outcomes", get(list_outcomes))
}

#[derive(Serialize)]
struct OutcomeBody {
    value: Outcome,
    label: &'static str,
    kind: OutcomeKind,
}

#[derive(Serialize)]
struct OutcomeList {
    items: Vec<OutcomeBody>,
    next_cursor: Option<String>,
}

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
