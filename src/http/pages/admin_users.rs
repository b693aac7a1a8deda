//! `/admin/users`: admins add accounts, disable and enable them, reset
//! passwords and grant or remove admin rights, with the rules of
//! `casebook user …` (the service decides; see `service::accounts::admin`).
//! Every form posts, redirects back and says once what it did.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::layout::{Layout, Notice, PageError, render};
use crate::domain::{DisplayName, Password, Role, User, Username};
use crate::http::AppState;
use crate::http::auth::{SignedInUser, session_cookie};
use crate::http::state::Viewer;
use crate::service::{AccountError, NewUser, UserChange};

const PATH: &str = "/admin/users";

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    add: AddForm,
    add_errors: Vec<(&'static str, String)>,
    /// The user whose password reset was refused, and why.
    password_error: Option<(String, String)>,
}

impl UsersPage {
    fn add_error(&self, field: &str) -> Option<&str> {
        self.add_errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    fn password_error_for(&self, username: &str) -> Option<&str> {
        self.password_error
            .as_ref()
            .filter(|(u, _)| u == username)
            .map(|(_, m)| m.as_str())
    }
}

struct UserRow {
    username: String,
    display_name: String,
    is_admin: bool,
    disabled: bool,
    /// The admin looking at the page: they cannot lock themselves out.
    is_self: bool,
}

impl UserRow {
    fn new(user: &User, viewer: &User) -> Self {
        UserRow {
            username: user.username.as_str().to_string(),
            display_name: user.display_name.as_str().to_string(),
            is_admin: user.role == Role::Admin,
            disabled: user.is_disabled(),
            is_self: user.id == viewer.id,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddForm {
    username: String,
    display_name: String,
    password: String,
    /// A checkbox: present when ticked.
    admin: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
}

/// What the page says once after a redirect. Kept in the login session's
/// one-time flash, as the account page does; its own shape, so neither page
/// mistakes the other's message for its own.
#[derive(Debug, Serialize, Deserialize)]
struct UsersFlash {
    users_page: String,
    error: bool,
}

fn require_admin(viewer: &SignedInUser) -> Result<(), PageError> {
    if viewer.user.role == Role::Admin {
        Ok(())
    } else {
        Err(PageError::AdminOnly)
    }
}

fn account_error(error: AccountError) -> PageError {
    match error {
        AccountError::AdminOnly => PageError::AdminOnly,
        AccountError::UserNotFound => PageError::NotFound,
        AccountError::Unavailable(_) => PageError::Unavailable(anyhow::anyhow!("{error}")),
        other => PageError::Internal(anyhow::anyhow!("{other}")),
    }
}

async fn users_page(
    state: &AppState,
    viewer: &SignedInUser,
    notice: Option<Notice>,
    add: AddForm,
    add_errors: Vec<(&'static str, String)>,
    password_error: Option<(String, String)>,
) -> Result<Response, PageError> {
    let users = state.accounts.users().await.map_err(account_error)?;
    let mut layout = Layout::signed_in("Users", viewer);
    layout.notice = notice;
    let refused = !add_errors.is_empty() || password_error.is_some();
    let mut response = render(&UsersPage {
        layout,
        users: users
            .iter()
            .map(|u| UserRow::new(u, &viewer.user))
            .collect(),
        add: AddForm {
            password: String::new(),
            ..add
        },
        add_errors,
        password_error,
    })?;
    if refused {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

pub async fn page(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let flash = match session_cookie(&headers, state.secure_cookies) {
        Some(id) => state
            .accounts
            .take_flash(&id)
            .await
            .map_err(account_error)?,
        None => None,
    };
    let notice = flash
        .and_then(|text| serde_json::from_str::<UsersFlash>(&text).ok())
        .map(|f| match f.error {
            true => Notice::error(f.users_page),
            false => Notice::info(f.users_page),
        });
    users_page(
        &state,
        &viewer,
        notice,
        AddForm::default(),
        Vec::new(),
        None,
    )
    .await
}

/// Back to the page, which says `notice` once; a request without a login
/// session (a token) gets the page at once.
async fn redirect_with(
    state: &AppState,
    viewer: &SignedInUser,
    headers: &HeaderMap,
    notice: Notice,
) -> Result<Response, PageError> {
    let Some(id) = session_cookie(headers, state.secure_cookies).filter(|_| viewer.login.is_some())
    else {
        return users_page(
            state,
            viewer,
            Some(notice),
            AddForm::default(),
            Vec::new(),
            None,
        )
        .await;
    };
    let flash = UsersFlash {
        users_page: notice.text,
        error: notice.error,
    };
    let text = serde_json::to_string(&flash).map_err(|e| PageError::Internal(e.into()))?;
    state
        .accounts
        .flash(&id, &text)
        .await
        .map_err(account_error)?;
    Ok(Redirect::to(PATH).into_response())
}

pub async fn add(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    body: Result<Form<AddForm>, FormRejection>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let form = body.map(|Form(f)| f).unwrap_or_default();
    let mut errors = Vec::new();
    let username = Username::parse(&form.username)
        .map_err(|why| errors.push(("username", format!("The username {why}."))));
    let display_name = match form.display_name.trim() {
        "" => Ok(None),
        name => DisplayName::parse(name)
            .map(Some)
            .map_err(|why| errors.push(("display_name", format!("The display name {why}.")))),
    };
    let password = Password::parse(&form.password)
        .map_err(|why| errors.push(("password", format!("The password {why}."))));
    let (Ok(username), Ok(display_name), Ok(password)) = (username, display_name, password) else {
        return users_page(&state, &viewer, None, form, errors, None).await;
    };
    let role = match form.admin {
        Some(_) => Role::Admin,
        None => Role::Engineer,
    };
    let new = NewUser {
        username: username.clone(),
        display_name,
        password,
        role,
    };
    match state.accounts.add_user_as(&viewer.user, new).await {
        Ok(user) => {
            let notice = Notice::info(format!("Added {} “{}”.", user.role, user.username));
            redirect_with(&state, &viewer, &headers, notice).await
        }
        Err(AccountError::UsernameTaken) => {
            let errors = vec![("username", AccountError::taken(&username))];
            users_page(&state, &viewer, None, form, errors, None).await
        }
        Err(e) => Err(account_error(e)),
    }
}

pub async fn change(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path((username, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let username = Username::parse(&username).map_err(|_| PageError::NotFound)?;
    let change = UserChange::parse(&action).ok_or(PageError::NotFound)?;
    let notice = match state
        .accounts
        .change_user_as(&viewer.user, &username, change)
        .await
    {
        Ok(user) => Notice::info(match change {
            UserChange::Disable => format!(
                "Disabled {}: their sessions and tokens no longer work.",
                user.username
            ),
            UserChange::Enable => format!("Enabled {}: they can sign in again.", user.username),
            UserChange::MakeAdmin => format!("{} is now an admin.", user.username),
            UserChange::RemoveAdmin => format!("{} is no longer an admin.", user.username),
        }),
        Err(AccountError::OwnAdminRights) => Notice::error(
            "You cannot disable yourself or remove your own admin rights; another admin can.",
        ),
        Err(AccountError::NoPassword) => Notice::error(format!(
            "{username} has no password yet, so nobody could sign in: reset their password \
             first, then enable them."
        )),
        Err(e) => return Err(account_error(e)),
    };
    redirect_with(&state, &viewer, &headers, notice).await
}

pub async fn reset_password(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(username): Path<String>,
    body: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let username = Username::parse(&username).map_err(|_| PageError::NotFound)?;
    let form = body.map(|Form(f)| f).unwrap_or_default();
    let password = match Password::parse(&form.password) {
        Ok(password) => password,
        Err(why) => {
            let error = Some((
                username.as_str().to_string(),
                format!("The password {why}."),
            ));
            return users_page(&state, &viewer, None, AddForm::default(), Vec::new(), error).await;
        }
    };
    state
        .accounts
        .reset_password_as(&viewer.user, &username, &password)
        .await
        .map_err(account_error)?;
    let notice = Notice::info(format!(
        "Password of {username} changed; their sessions ended."
    ));
    redirect_with(&state, &viewer, &headers, notice).await
}
