//! Signing in and out, first-run setup, and the account page with personal
//! API tokens.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::layout::{Layout, Notice, PageError, parse_id, render};
use crate::domain::{ApiToken, DisplayName, Password, Role, TokenName, Username};
use crate::http::AppState;
use crate::http::auth::{SignedInUser, session_cookie, session_cookie_name};
use crate::http::security::{ClientAddr, redirect};
use crate::http::state::Viewer;
use crate::service::{AccountError, AuthError, NewUser, SignedIn};

/// Where to go after signing in: only a path on this site.
fn safe_next(next: Option<&str>) -> String {
    next.and_then(redirect::local_path)
        .unwrap_or_else(|| "/sessions".to_string())
}

fn set_cookie(response: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The login-session cookie: unreadable by scripts, not sent on cross-site
/// posts, and `Secure` and `__Host-` when Casebook is served over HTTPS. It
/// ends with the browser unless the user asked to stay signed in; the
/// server ends the session itself after the idle and absolute timeouts.
fn session_cookie_for(state: &AppState, signed_in: &SignedIn, remember: bool) -> Cookie<'static> {
    let mut cookie = session_cookie_base(state, signed_in.session_id.expose().to_string());
    if remember {
        let lifetime = state.accounts.policy().absolute_timeout.num_seconds();
        cookie.set_max_age(time::Duration::seconds(lifetime));
    }
    cookie
}

fn session_cookie_base(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((session_cookie_name(state.secure_cookies), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .build()
}

/// The answer when every password-hashing slot is taken.
fn busy() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        "Casebook is checking many passwords right now; try again in a few seconds.",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

fn form<T: Default>(form: Result<Form<T>, FormRejection>) -> T {
    form.map(|Form(f)| f).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    remember: bool,
    error: Option<String>,
    /// Arrived here by signing out.
    signed_out: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NextParam {
    next: Option<String>,
    signed_out: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
    /// "Stay signed in": the cookie outlives the browser.
    remember: Option<String>,
}

pub async fn login_form(
    query: Result<Query<NextParam>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.unwrap_or_default();
    render(&LoginPage {
        layout: Layout::new("Sign in"),
        username: String::new(),
        next: safe_next(q.next.as_deref()),
        remember: false,
        error: None,
        signed_out: q.signed_out.is_some(),
    })
}

#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let LoginForm {
        username,
        password,
        next,
        remember,
    } = form(body);
    let remember = remember.is_some();
    let next = safe_next(next.as_deref());
    let previous = session_cookie(&headers, state.secure_cookies);
    let previous = previous.as_deref();
    let refused = |status: StatusCode, message: String, username: String, next: String| {
        let page = render(&LoginPage {
            layout: Layout::new("Sign in"),
            username,
            next,
            remember,
            error: Some(message),
            signed_out: false,
        });
        page.map(|mut response| {
            *response.status_mut() = status;
            response
        })
    };
    match state
        .accounts
        .sign_in(&username, &password, client, previous)
        .await
    {
        Ok(signed_in) => {
            let mut response = Redirect::to(&next).into_response();
            set_cookie(
                &mut response,
                session_cookie_for(&state, &signed_in, remember),
            );
            Ok(response)
        }
        Err(AuthError::Busy) => Ok(busy()),
        Err(AuthError::InvalidCredentials) => refused(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.".into(),
            username,
            next,
        ),
        Err(AuthError::Throttled { retry_after }) => {
            let seconds = retry_after.as_secs().max(1);
            let message = format!("Too many failed attempts. Try again in {seconds} seconds.");
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, message, username, next)?;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
        Err(AuthError::Unavailable(e)) => Err(PageError::Unavailable(anyhow::anyhow!("{e}"))),
        Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(id) = session_cookie(&headers, state.secure_cookies) {
        state.accounts.sign_out(&id).await.map_err(account_error)?;
    }
    let mut response = Redirect::to("/login?signed_out").into_response();
    // Removed with the attributes it was set with (a `__Host-` cookie
    // cannot even be removed without them).
    let mut gone = session_cookie_base(&state, String::new());
    gone.make_removal();
    set_cookie(&mut response, gone);
    Ok(response)
}

fn account_error(error: AccountError) -> PageError {
    match error {
        AccountError::Unavailable(_) => PageError::Unavailable(anyhow::anyhow!("{error}")),
        other => PageError::Internal(anyhow::anyhow!("{other}")),
    }
}

// --- first run ------------------------------------------------------------

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    token: String,
    username: String,
    display_name: String,
    errors: Vec<(String, String)>,
    /// The link is unknown or expired while setup is still to be done.
    link_refused: bool,
    done: bool,
}

impl SetupPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SetupForm {
    token: String,
    username: String,
    display_name: String,
    password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenParam {
    token: String,
}

pub async fn setup_form(
    State(state): State<AppState>,
    query: Result<Query<TokenParam>, QueryRejection>,
) -> Result<Response, PageError> {
    let done = !state.accounts.needs_setup().await.map_err(account_error)?;
    let token = query.map(|Query(q)| q.token).unwrap_or_default();
    let link_refused = !done
        && !state
            .accounts
            .setup_link_is_live(&token)
            .await
            .map_err(account_error)?;
    let mut response = render(&SetupPage {
        layout: Layout::new("Set up Casebook"),
        token,
        username: String::new(),
        display_name: String::new(),
        errors: Vec::new(),
        link_refused,
        done,
    })?;
    if done {
        *response.status_mut() = StatusCode::GONE;
    } else if link_refused {
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    Ok(response)
}

#[tracing::instrument(skip_all)]
pub async fn setup(
    State(state): State<AppState>,
    body: Result<Form<SetupForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form(body);
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push((field.to_string(), message));
        }
    };
    let username = Username::parse(&f.username);
    check(
        "username",
        username.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let display_name = match f.display_name.trim() {
        "" => Ok(None),
        name => DisplayName::parse(name).map(Some),
    };
    check(
        "display_name",
        display_name.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let password = Password::parse(&f.password);
    check(
        "password",
        password.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let page = |errors: Vec<(String, String)>, done: bool| SetupPage {
        layout: Layout::new("Set up Casebook"),
        token: f.token.clone(),
        username: f.username.clone(),
        display_name: f.display_name.clone(),
        errors,
        link_refused: false,
        done,
    };
    let (Ok(username), Ok(display_name), Ok(password)) = (username, display_name, password) else {
        let mut response = render(&page(errors, false))?;
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(response);
    };
    let new = NewUser {
        username,
        display_name,
        password,
        role: Role::Admin,
    };
    match state.accounts.complete_setup(&f.token, new).await {
        Ok(user) => {
            let signed_in = state
                .accounts
                .start_login_session(&user)
                .await
                .map_err(account_error)?;
            let mut response = Redirect::to("/sessions").into_response();
            set_cookie(&mut response, session_cookie_for(&state, &signed_in, false));
            Ok(response)
        }
        Err(AccountError::SetupRefused) => {
            let done = !state.accounts.needs_setup().await.map_err(account_error)?;
            let mut refused = page(Vec::new(), done);
            refused.link_refused = !done;
            let mut response = render(&refused)?;
            *response.status_mut() = if done {
                StatusCode::GONE
            } else {
                StatusCode::FORBIDDEN
            };
            Ok(response)
        }
        Err(AccountError::Busy) => Ok(busy()),
        Err(e) => Err(account_error(e)),
    }
}

// --- the account page and its tokens ---------------------------------------

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    username: String,
    display_name: String,
    role: &'static str,
    tokens: Vec<TokenView>,
    /// A token just created, shown this once.
    new_token: Option<(String, String)>,
    error: Option<String>,
    password_changed: bool,
    password_error: Option<String>,
    name_error: Option<String>,
}

struct TokenView {
    id: Uuid,
    name: String,
    created: String,
    revoked: Option<String>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        TokenView {
            id: t.id,
            name: t.name.as_str().to_string(),
            created: t.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            revoked: t
                .revoked_at
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
        }
    }
}

/// What the account page says once after one of its forms redirected back
/// (post–redirect–get): kept server-side for the login session, never in the
/// URL, so a reload neither repeats the action nor shows a token again.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum AccountFlash {
    TokenCreated { name: String, token: String },
    TokenRevoked { name: String },
    DisplayNameChanged,
    PasswordChanged,
}

/// Problems of the forms, shown beside their fields.
#[derive(Default)]
struct FormErrors {
    token_name: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
}

async fn account_page(
    state: &AppState,
    viewer: &SignedInUser,
    flash: Option<AccountFlash>,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let tokens = state
        .accounts
        .tokens(Some(&viewer.user.username))
        .await
        .map_err(account_error)?;
    let mut layout = Layout::signed_in("Your account", viewer);
    let mut new_token = None;
    let mut password_changed = false;
    match flash {
        Some(AccountFlash::TokenCreated { name, token }) => new_token = Some((name, token)),
        Some(AccountFlash::TokenRevoked { name }) => {
            layout.notice = Some(Notice::info(format!(
                "Token “{name}” revoked: it no longer works."
            )));
        }
        Some(AccountFlash::DisplayNameChanged) => {
            layout.notice = Some(Notice::info("Display name changed."));
        }
        Some(AccountFlash::PasswordChanged) => password_changed = true,
        None => {}
    }
    render(&AccountPage {
        layout,
        username: viewer.user.username.as_str().to_string(),
        display_name: viewer.user.display_name.as_str().to_string(),
        role: viewer.user.role.as_str(),
        tokens: tokens.iter().map(TokenView::from).collect(),
        new_token,
        error: errors.token_name,
        name_error: errors.display_name,
        password_changed,
        password_error: errors.password,
    })
}

pub async fn account(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let flash = match session_cookie(&headers, state.secure_cookies) {
        Some(id) => state
            .accounts
            .take_flash(&id)
            .await
            .map_err(account_error)?,
        None => None,
    };
    let flash = flash.and_then(|text| serde_json::from_str(&text).ok());
    account_page(&state, &viewer, flash, FormErrors::default()).await
}

/// Back to the account page, which shows `flash` once; without a login
/// session (a token-authenticated request) the page is shown at once.
async fn redirect_with(
    state: &AppState,
    viewer: &SignedInUser,
    headers: &HeaderMap,
    flash: AccountFlash,
) -> Result<Response, PageError> {
    let Some(id) = session_cookie(headers, state.secure_cookies).filter(|_| viewer.login.is_some())
    else {
        return account_page(state, viewer, Some(flash), FormErrors::default()).await;
    };
    let text = serde_json::to_string(&flash).map_err(|e| PageError::Internal(e.into()))?;
    state
        .accounts
        .flash(&id, &text)
        .await
        .map_err(account_error)?;
    Ok(Redirect::to("/account").into_response())
}

async fn refused_form(
    state: &AppState,
    viewer: &SignedInUser,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let mut response = account_page(state, viewer, None, errors).await?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    name: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    body: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, PageError> {
    let TokenForm { name } = form(body);
    let name = match TokenName::parse(&name) {
        Ok(name) => name,
        Err(why) => {
            let errors = FormErrors {
                token_name: Some(format!("The name {why}.")),
                ..FormErrors::default()
            };
            return refused_form(&state, &viewer, errors).await;
        }
    };
    let (token, secret) = state
        .accounts
        .create_token(&viewer.user.username, name)
        .await
        .map_err(account_error)?;
    let flash = AccountFlash::TokenCreated {
        name: token.name.as_str().to_string(),
        token: secret.expose().to_string(),
    };
    redirect_with(&state, &viewer, &headers, flash).await
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let tokens = state
        .accounts
        .tokens(Some(&viewer.user.username))
        .await
        .map_err(account_error)?;
    let name = tokens
        .iter()
        .find(|t| t.id == id)
        .map(|t| t.name.as_str().to_string())
        .ok_or(PageError::NotFound)?;
    match state.accounts.revoke_token(id, Some(&viewer.user)).await {
        Ok(()) => {
            redirect_with(
                &state,
                &viewer,
                &headers,
                AccountFlash::TokenRevoked { name },
            )
            .await
        }
        Err(AccountError::TokenNotFound) => Err(PageError::NotFound),
        Err(e) => Err(account_error(e)),
    }
}

// --- changing one's own password -------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    repeat_password: String,
}

async fn password_refused(
    state: &AppState,
    viewer: &SignedInUser,
    status: StatusCode,
    message: String,
) -> Result<Response, PageError> {
    let errors = FormErrors {
        password: Some(message),
        ..FormErrors::default()
    };
    let mut response = account_page(state, viewer, None, errors).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// A signed-in user sets a new password (ASVS 2.1.5, 2.1.6): the current
/// one first, under the sign-in throttle; every login session of theirs ends,
/// and this browser continues in a new one, back on the account page
/// (post–redirect–get) with the news.
pub async fn change_password(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    ClientAddr(client): ClientAddr,
    body: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form(body);
    let refused =
        |status: StatusCode, message: String| password_refused(&state, &viewer, status, message);
    let new = match Password::parse(&f.new_password) {
        Ok(_) if f.new_password != f.repeat_password => {
            let message = "The new password and its repetition differ.".to_string();
            return refused(StatusCode::UNPROCESSABLE_ENTITY, message).await;
        }
        Ok(new) => new,
        Err(why) => {
            let message = format!("The new password {why}.");
            return refused(StatusCode::UNPROCESSABLE_ENTITY, message).await;
        }
    };
    match state
        .accounts
        .change_password(&viewer.user, &f.current_password, &new, client)
        .await
    {
        Ok(signed_in) => {
            let text = serde_json::to_string(&AccountFlash::PasswordChanged)
                .map_err(|e| PageError::Internal(e.into()))?;
            state
                .accounts
                .flash(signed_in.session_id.expose(), &text)
                .await
                .map_err(account_error)?;
            let mut response = Redirect::to("/account").into_response();
            set_cookie(&mut response, session_cookie_for(&state, &signed_in, false));
            Ok(response)
        }
        Err(AuthError::InvalidCredentials) => {
            let message = "The current password is not right.".to_string();
            refused(StatusCode::UNAUTHORIZED, message).await
        }
        Err(AuthError::Throttled { retry_after }) => {
            let seconds = retry_after.as_secs().max(1);
            let message = format!("Too many failed attempts. Try again in {seconds} seconds.");
            refused(StatusCode::TOO_MANY_REQUESTS, message).await
        }
        Err(AuthError::Busy) => Ok(busy()),
        Err(AuthError::Unavailable(e)) => Err(PageError::Unavailable(anyhow::anyhow!("{e}"))),
        Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
}

// --- changing one's own display name ---------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DisplayNameForm {
    display_name: String,
}

pub async fn change_display_name(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    body: Result<Form<DisplayNameForm>, FormRejection>,
) -> Result<Response, PageError> {
    let DisplayNameForm { display_name } = form(body);
    let name = match DisplayName::parse(&display_name) {
        Ok(name) => name,
        Err(why) => {
            let errors = FormErrors {
                display_name: Some(format!("The display name {why}.")),
                ..FormErrors::default()
            };
            return refused_form(&state, &viewer, errors).await;
        }
    };
    state
        .accounts
        .set_display_name(&viewer.user, &name)
        .await
        .map_err(account_error)?;
    redirect_with(&state, &viewer, &headers, AccountFlash::DisplayNameChanged).await
}
