//! Who is asking, for every request: a personal token (`Authorization:
//! Bearer …`, for scripts) or the login-session cookie (for the pages). Only
//! the sign-in pages, health checks and assets are open to everyone. Requests
//! that change something and ride on the cookie must prove they come from
//! Casebook's own pages (same origin, and the session's CSRF token).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

use super::{ApiError, AppState, BODY_LIMIT};
use crate::domain::{Actor, User};
use crate::service::{AccountError, LoginSession};

pub const SESSION_COOKIE: &str = "casebook_session";
/// The cookie's name over HTTPS: browsers accept a `__Host-` cookie only
/// when it is `Secure`, has `Path=/` and no `Domain`, so no other host (a
/// sibling subdomain, a plain-HTTP page) can set or shadow it (ASVS 3.4.4).
pub const SECURE_SESSION_COOKIE: &str = "__Host-casebook_session";
/// The header Casebook's script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The hidden field Casebook's forms send it in.
pub const CSRF_FIELD: &str = "csrf";

/// The signed-in user of a request, put there by [`authenticate`].
#[derive(Clone)]
pub struct SignedInUser {
    pub user: User,
    /// The login session; `None` for token-authenticated calls.
    pub login: Option<LoginSession>,
}

impl SignedInUser {
    /// What this session's forms and script send back.
    pub fn csrf_token(&self) -> &str {
        self.login
            .as_ref()
            .map(|l| l.csrf_token.expose())
            .unwrap_or("")
    }
}

/// Who makes the request. Routes behind [`authenticate`] always have one.
pub struct CurrentActor(pub Actor);

impl FromRequestParts<AppState> for CurrentActor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Viewer(signed_in) = Viewer::from_request_parts(parts, state).await?;
        Ok(CurrentActor(signed_in.user.actor()))
    }
}

/// The signed-in user, for pages that show who they are.
pub struct Viewer(pub SignedInUser);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        match parts.extensions.get::<SignedInUser>() {
            Some(signed_in) => Ok(Viewer(signed_in.clone())),
            None => Err(not_signed_in(
                parts.uri.path(),
                parts.uri.path_and_query().map(|p| p.as_str()),
            )),
        }
    }
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Open to everyone: signing in, first-run setup, health checks, assets, and
/// the API's description (so tools can read it before they hold a token).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/setup" | "/healthz" | "/readyz" | "/api/openapi.json"
    ) || path.starts_with("/assets/")
}

/// The API answers 401; a page sends the browser to sign in and come back.
fn not_signed_in(path: &str, path_and_query: Option<&str>) -> Response {
    if is_api(path) {
        return ApiError::Unauthorized(
            "Sign in, or send a personal token as Authorization: Bearer <token>.".into(),
        )
        .into_response();
    }
    let next = path_and_query.unwrap_or("/sessions");
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}")).into_response()
}

fn forbidden(path: &str, why: &str) -> Response {
    if is_api(path) {
        ApiError::Forbidden(why.to_string()).into_response()
    } else {
        (StatusCode::FORBIDDEN, why.to_string()).into_response()
    }
}

fn unavailable(path: &str, error: AccountError) -> Response {
    match error {
        AccountError::Unavailable(_) if is_api(path) => {
            ApiError::Unavailable(anyhow::anyhow!("{error}")).into_response()
        }
        _ if is_api(path) => ApiError::Internal(anyhow::anyhow!("{error}")).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "Casebook cannot check who you are right now; try again shortly.",
        )
            .into_response(),
    }
}

/// The login-session cookie's name, with or without HTTPS.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The value of the login-session cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap, secure: bool) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(session_cookie_name(secure))
        .map(|c| c.value().to_string())
}

/// Token and account management: for a person signed in with a password,
/// never for a bearer token, so a leaked token cannot mint another that
/// outlives its revocation (ASVS 3.5).
fn manages_the_account(path: &str) -> bool {
    path == "/account" || path.starts_with("/account/")
}

/// The forms that start a login session. They carry no CSRF token (there is
/// no session to take it from yet), so a browser still holding a cookie
/// must be let through: signing in again replaces that session. Requests
/// from other sites are still refused by the origin check.
fn starts_a_login_session(path: &str) -> bool {
    matches!(path, "/login" | "/setup")
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Identifies the caller, refuses anonymous requests to private routes, and
/// checks cookie-authenticated writes for cross-site forgery.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    // Health checks answer for the process and its database, whoever asks:
    // a probe that happens to carry credentials must not see an outage of
    // the account tables as the process being down. The scraper's bearer
    // token is the metrics token, not a person's: /metrics checks it itself.
    if matches!(path.as_str(), "/healthz" | "/readyz") || path == super::metrics::PATH {
        return next.run(request).await;
    }
    let headers = request.headers();
    let signed_in = if let Some(token) = bearer(headers) {
        match state.accounts.authenticate_token(token).await {
            Ok(Some(_)) if manages_the_account(&path) => {
                return ApiError::Forbidden(
                    "Personal tokens cannot manage accounts or tokens; sign in with your password."
                        .into(),
                )
                .into_response();
            }
            Ok(Some(user)) => Some(SignedInUser { user, login: None }),
            Ok(None) => {
                return ApiError::Unauthorized(
                    "This token is unknown, revoked, or its user is disabled.".into(),
                )
                .into_response();
            }
            Err(e) => return unavailable(&path, e),
        }
    } else if let Some(id) = session_cookie(headers, state.secure_cookies) {
        match state.accounts.login_session(&id).await {
            Ok(Some(session)) => Some(SignedInUser {
                user: session.user.clone(),
                login: Some(session),
            }),
            Ok(None) => None,
            Err(e) => return unavailable(&path, e),
        }
    } else {
        None
    };

    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_state && !same_origin(request.headers()) {
        return forbidden(
            &path,
            "This request came from another site, so Casebook refused it.",
        );
    }
    match signed_in {
        _ if starts_a_login_session(&path) => next.run(request).await,
        None if is_public(&path) => next.run(request).await,
        None => not_signed_in(&path, request.uri().path_and_query().map(|p| p.as_str())),
        Some(signed_in) => {
            if changes_state {
                if let Some(login) = &signed_in.login {
                    request = match checked_csrf(request, login).await {
                        Ok(request) => request,
                        Err(()) => {
                            return forbidden(
                                &path,
                                "This form has expired or did not come from Casebook; reload the page and try again.",
                            );
                        }
                    };
                }
            }
            request.extensions_mut().insert(signed_in);
            next.run(request).await
        }
    }
}

/// Browsers say where a request comes from; anything but Casebook's own
/// origin (or a direct navigation) is refused. Clients that send neither
/// header (scripts, curl) are judged by their credentials alone.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, origin_host)| origin_host == host)
}

/// Passes the request on when it carries the session's CSRF token, in the
/// header (script) or in the form body (pages); the body is read and put back.
async fn checked_csrf(request: Request, login: &LoginSession) -> Result<Request, ()> {
    let matches = |candidate: &str| login.csrf_matches(candidate);
    if let Some(value) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return if matches(value) { Ok(request) } else { Err(()) };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(());
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ())?;
    let found = form_urlencoded_value(&bytes, CSRF_FIELD);
    if !found.as_deref().is_some_and(matches) {
        return Err(());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn form_urlencoded_value(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
