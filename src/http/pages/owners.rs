//! The history page's owner filter: every engineer to choose from, and the
//! choice remembered in a cookie, so the next visit opens the same view.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::filters::OwnerFilter;
use crate::domain::{Actor, User, Username};

const OWNER_COOKIE: &str = "casebook_owner";

/// The owner choice of the last visit, for a visit that names none.
pub fn remembered(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(OWNER_COOKIE)
        .map(|c| c.value().to_string())
}

/// Remembers an owner choice the visitor made. Only values that need no
/// escaping in a cookie are kept: `mine`, `all` and valid usernames. Over
/// HTTPS (`secure`) the cookie is never sent over plain HTTP, as the
/// sign-in cookie is not: it says whose sessions someone looks at.
pub fn remember(response: &mut Response, owner: &OwnerFilter, secure: bool) {
    let value = match owner {
        OwnerFilter::Mine => "mine",
        OwnerFilter::Everyone => "all",
        OwnerFilter::User(name) if Username::parse(name).is_ok() => name,
        OwnerFilter::User(_) => return,
    };
    let cookie = Cookie::build((OWNER_COOKIE, value.to_string()))
        .path("/sessions")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// One `<option>` of the owner filter.
pub struct OwnerChoice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The owner filter's options (Mine, Everyone, then every other account by
/// display name, disabled ones too: a sample engineer or a colleague who
/// left still owns sessions) and the page's subtitle, which says whose
/// sessions these are. `users` is every account.
pub fn owner_choices(
    users: &[User],
    viewer: &Actor,
    current: &OwnerFilter,
) -> (Vec<OwnerChoice>, String) {
    let fixed = |value: &str, label: &str, selected: bool| OwnerChoice {
        value: value.into(),
        label: label.into(),
        selected,
    };
    let mut choices = vec![
        fixed("", "Mine", *current == OwnerFilter::Mine),
        fixed("all", "Everyone", *current == OwnerFilter::Everyone),
    ];
    let mut named = None;
    for user in users
        .iter()
        .filter(|u| u.username.as_str() != viewer.username)
    {
        let username = user.username.as_str();
        let selected = matches!(current, OwnerFilter::User(n) if n == username);
        let label = if user.display_name.as_str() == username {
            username.to_string()
        } else {
            format!("{} ({username})", user.display_name.as_str())
        };
        if selected {
            named = Some(user.display_name.as_str().to_string());
        }
        choices.push(OwnerChoice {
            value: username.to_string(),
            label,
            selected,
        });
    }
    let subtitle = match current {
        OwnerFilter::Mine => "Your troubleshooting sessions, newest first.".to_string(),
        OwnerFilter::Everyone => "Everyone’s troubleshooting sessions, newest first.".to_string(),
        OwnerFilter::User(name) => {
            if named.is_none() {
                // No account has this name (a hand-written URL): still the
                // choice made, which finds no session.
                choices.push(fixed(name, name, true));
            }
            let who = named.unwrap_or_else(|| name.clone());
            format!("{who}’s troubleshooting sessions, newest first.")
        }
    };
    (choices, subtitle)
}
