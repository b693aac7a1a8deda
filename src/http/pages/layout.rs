//! What every page's `base.html` needs, and the page error.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::assets::{CSS, JS};
use crate::http::auth::SignedInUser;
use crate::http::capacity::LearnedCapacity;
use crate::service::ServiceError;

/// A message in the toast region, rendered by the server for the paths that
/// work without script.
pub struct Notice {
    pub text: String,
    pub error: bool,
    /// The Undo form, when the action can be undone.
    pub undo: Option<Undo>,
}

/// An Undo button's form: the action it posts to and where it comes back.
pub struct Undo {
    pub action: String,
    pub next: String,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            error: false,
            undo: None,
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            error: true,
            undo: None,
        }
    }
}

pub struct Layout {
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub notice: Option<Notice>,
    /// Who is signed in, for the header; `None` on the sign-in pages.
    pub user: Option<UserView>,
    /// The login session's CSRF token, carried back by every form.
    pub csrf: String,
}

/// The signed-in user as the header shows them.
pub struct UserView {
    pub display_name: String,
    pub is_admin: bool,
}

impl Layout {
    /// A page for someone not signed in (sign-in, setup, errors).
    pub fn new(title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            css: &CSS.href,
            js: &JS.href,
            notice: None,
            user: None,
            csrf: String::new(),
        }
    }

    /// A page for a signed-in user.
    pub fn signed_in(title: impl Into<String>, viewer: &SignedInUser) -> Self {
        Layout {
            user: Some(UserView {
                display_name: viewer.user.display_name.as_str().to_string(),
                is_admin: viewer.user.role == crate::domain::Role::Admin,
            }),
            csrf: viewer.csrf_token().to_string(),
            ..Layout::new(title)
        }
    }
}

/// An id from a page's path. A malformed id names no session, so it is a
/// "not found" page like any unknown id.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, PageError> {
    uuid::Uuid::parse_str(raw).map_err(|_| PageError::NotFound)
}

/// Renders a template as an HTML response.
pub fn render<T: Template>(template: &T) -> Result<Response, PageError> {
    let capacity = LearnedCapacity::of::<T>();
    let mut html = String::with_capacity(capacity.get(T::SIZE_HINT));
    template
        .render_into(&mut html)
        .map_err(|e| PageError::Internal(e.into()))?;
    capacity.saw(html.len());
    Ok(Html(html).into_response())
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("no such session")]
    NotFound,
    #[error("only {0} or an admin may change this session")]
    Forbidden(String),
    /// An admin page (webhooks) asked for by someone who is not one.
    #[error("admins only")]
    AdminOnly,
    /// Anything else the page refuses, worded by the page (runbooks, reports).
    #[error("{heading}: {message}")]
    Refused {
        status: StatusCode,
        heading: &'static str,
        message: String,
    },
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        let message = error.detail();
        let refused = |status, heading| PageError::Refused {
            status,
            heading,
            message,
        };
        match error {
            ServiceError::NotFound | ServiceError::StepNotFound | ServiceError::NoteNotFound => {
                PageError::NotFound
            }
            ServiceError::Forbidden { owner } => PageError::Forbidden(owner),
            ServiceError::NotNoteAuthor { .. } => {
                refused(StatusCode::FORBIDDEN, "Not yours to change")
            }
            // Callers that can show a conflict on their page do so first.
            ServiceError::Conflict(_) => refused(StatusCode::CONFLICT, "Not done"),
            ServiceError::Summary(_) => refused(StatusCode::BAD_GATEWAY, "No summary"),
            ServiceError::NotAdmin => PageError::AdminOnly,
            ServiceError::UnknownOwner { .. } | ServiceError::OwnerDisabled { .. } => {
                refused(StatusCode::UNPROCESSABLE_ENTITY, "Not reassigned")
            }
            ServiceError::OwnerChanged { .. } => refused(StatusCode::CONFLICT, "Not reassigned"),
            ServiceError::Unavailable(e) => PageError::Unavailable(e.into()),
            ServiceError::Internal(e) => PageError::Internal(e),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Session not found",
                "There is no session at this address. It may have been mistyped.".to_string(),
            ),
            PageError::Forbidden(owner) => (
                StatusCode::FORBIDDEN,
                "Not yours to change",
                ServiceError::Forbidden {
                    owner: owner.clone(),
                }
                .detail(),
            ),
            PageError::AdminOnly => (
                StatusCode::FORBIDDEN,
                "Admins only",
                "Only an admin can see and change this page.".to_string(),
            ),
            PageError::Refused {
                status,
                heading,
                message,
            } => (*status, *heading, message.clone()),
            PageError::Unavailable(error) => {
                tracing::warn!(error = ?error, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Casebook is unavailable",
                    crate::service::UNAVAILABLE.to_string(),
                )
            }
            PageError::Internal(error) => {
                tracing::error!(error = ?error, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    crate::service::INTERNAL.to_string(),
                )
            }
        };
        let page = ErrorPage {
            layout: Layout::new(heading),
            heading,
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, page.message).into_response(),
        }
    }
}
