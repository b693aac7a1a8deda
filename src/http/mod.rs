//! The HTTP surface: routing, middleware, and the translation of requests
//! into service calls and of results into responses.

mod api;
mod auth;
mod capacity;
pub(crate) mod error;
mod extract;
mod health;
mod metrics;
mod pages;
mod read_body;
pub(crate) mod security;
mod state;
mod time_text;

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, Response};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::config::Limits;

pub use api::openapi;
pub use api::webhook_payload;
pub use error::ApiError;
pub use metrics::MetricsAccess;
pub use security::TrustedProxies;
pub use state::AppState;

/// Bodies larger than this are refused with 413. The largest valid session
/// is 60,600 characters (title, problem, reference, customer, 100 steps of
/// 500); up to 4 bytes each, and 12 once a form percent-encodes them, that
/// is about 727 KB: every valid request fits, a flood does not.
pub const BODY_LIMIT: usize = 1024 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState, limits: &Limits) -> Router {
    // Layers added with `Router::layer` wrap each route, so the limit is a
    // global one: one semaphore shared by every route.
    let https = security::headers::Https(state.secure_cookies);
    let guard = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(error::overloaded_or_timed_out))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(
            limits.max_concurrent_requests,
        ))
        .timeout(limits.request_timeout);
    // Live streams stay open: outside the concurrency limit and the timeout
    // (they have `--max-streams`), with the same sign-in and counting.
    let streams = api::stream_router()
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(error::panic_response));
    Router::new()
        .merge(api::router())
        .merge(health::router())
        .merge(pages::router())
        .route(metrics::PATH, axum::routing::get(metrics::scrape))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            security::client_addr::resolve,
        ))
        // Outside authentication, so refusals are counted too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
        // Inside the request timeout, so a body that trickles in is abandoned.
        .layer(axum::middleware::from_fn(read_body::read_body_first))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(guard)
        .merge(streams)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(record_response),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Outermost: every response, whoever made it, carries these.
        .layer(axum::middleware::from_fn_with_state(
            https,
            security::headers::add,
        ))
}

/// One span per request: method, route, request id; status and latency when done.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

fn record_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    tracing::info!(parent: span, "finished");
}
