//! Server-rendered HTML pages and their embedded assets.

mod account;
mod actions;
mod admin_users;
mod assets;
mod charts;
mod filters;
mod history;
mod layout;
mod owners;
mod prepare;
mod reports;
mod runbooks;
mod session;
mod session_edit;
mod similar;
mod view;
mod webhooks;
mod work_edits;
mod workspace;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Redirect;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;

/// Pages load only Casebook's own stylesheet and script; even a template
/// that forgot to escape could not run an injected script.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/sessions") }))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/setup", get(account::setup_form).post(account::setup))
        .route("/account", get(account::account))
        .route("/account/tokens", post(account::create_token))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/account/name", post(account::change_display_name))
        // The users page for admins.
        .route(
            "/admin/users",
            get(admin_users::page).post(admin_users::add),
        )
        .route(
            "/admin/users/{username}/password",
            post(admin_users::reset_password),
        )
        .route(
            "/admin/users/{username}/{action}",
            post(admin_users::change),
        )
        .route("/sessions", get(history::page))
        .route("/sessions/new", get(prepare::form).post(prepare::submit))
        .route("/sessions/new/similar", get(similar::fragment))
        .route("/sessions/{id}", get(session::details))
        // Editing and deleting a prepared session.
        .route(
            "/sessions/{id}/edit",
            get(session_edit::form).post(session_edit::submit),
        )
        .route("/sessions/{id}/delete", post(session_edit::delete))
        // The lifecycle: one form route per action, from every page.
        .route("/sessions/{id}/start", post(actions::start))
        .route("/sessions/{id}/complete", post(actions::complete))
        .route("/sessions/{id}/reopen", post(actions::reopen))
        .route("/sessions/{id}/summary", post(actions::summarize))
        // An admin gives a session to another owner.
        .route("/sessions/{id}/owner", post(session_edit::reassign))
        .route("/sessions/{id}/work/notes", post(workspace::add_note))
        .route(
            "/sessions/{id}/work/steps/{step_id}/check",
            post(workspace::check_step),
        )
        .route(
            "/sessions/{id}/work/steps/{step_id}/uncheck",
            post(workspace::uncheck_step),
        )
        .route("/sessions/{id}/work", get(session::work))
        // Changing the plan and one's notes while working.
        .route("/sessions/{id}/work/steps", post(work_edits::add_step))
        .route(
            "/sessions/{id}/work/steps/{step_id}/reword",
            post(work_edits::reword_step),
        )
        .route(
            "/sessions/{id}/work/steps/{step_id}/skip",
            post(work_edits::skip_step),
        )
        .route(
            "/sessions/{id}/work/notes/{note_id}/correct",
            post(work_edits::correct_note),
        )
        .route("/sessions/{id}/card", get(history::card))
        .route("/admin/webhooks", get(webhooks::list).post(webhooks::add))
        .route("/admin/webhooks/{id}", get(webhooks::details))
        .route("/admin/webhooks/{id}/disable", post(webhooks::disable))
        // Runbooks: the list, one runbook, a new one, a session's plan saved as one.
        .route("/runbooks", get(runbooks::list).post(runbooks::create))
        .route("/runbooks/new", get(runbooks::new_form))
        .route("/runbooks/{id}", get(runbooks::show).post(runbooks::update))
        .route("/runbooks/{id}/retire", post(runbooks::retire))
        .route("/sessions/{id}/runbook", post(runbooks::save_plan))
        // Reports: the page and the CSV of each of its tables.
        .route("/reports", get(reports::page))
        .route("/reports/outcomes.csv", get(reports::outcomes_csv))
        .route("/reports/weeks.csv", get(reports::weeks_csv))
        .route("/reports/time.csv", get(reports::time_csv))
        .route("/reports/customers.csv", get(reports::customers_csv))
        .route("/assets/{file}", get(assets::serve))
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
        // Pages change with every action; assets set their own long lifetime.
        .layer(header_layer(header::CACHE_CONTROL, "no-cache"))
        .layer(CompressionLayer::new())
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
