//! One layer, outside every route, error handler and fallback, so that an
//! API 200, a 401, a problem+json 404, a redirect and a 503 from the load
//! shedder all carry the same security headers (ASVS 14.4).

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Whatever a response is, it is not to be sniffed, framed or leaked in a
/// Referer to another site. Pages set a fuller CSP of their own; this one
/// covers everything else (JSON, problems, redirects).
const ALWAYS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// Over HTTPS: browsers come back only over HTTPS for a year (ASVS 14.4.5).
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Whether responses to `path` must not be stored anywhere: the account
/// page (and the page that shows a new token once), sign-in and setup forms
/// (the setup link carries a secret), and the API, whose answers carry the
/// customers' data of sessions.
fn never_store(path: &str) -> bool {
    path == "/account"
        || path.starts_with("/account/")
        || path == "/login"
        || path == "/setup"
        || path == "/api"
        || path.starts_with("/api/")
}

/// The layer's state: whether Casebook is served over HTTPS.
#[derive(Clone, Copy)]
pub struct Https(pub bool);

pub async fn add(State(Https(https)): State<Https>, request: Request, next: Next) -> Response {
    let no_store = never_store(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in ALWAYS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if no_store {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_sign_in_and_api_responses_are_never_stored() {
        for path in ["/account", "/account/tokens", "/login", "/setup", "/api/me"] {
            assert!(never_store(path), "{path}");
        }
        for path in ["/sessions", "/assets/app.css", "/accounts", "/apiary"] {
            assert!(!never_store(path), "{path}");
        }
    }
}
