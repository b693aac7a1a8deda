//! Issue 13, OWASP ASVS level 2: each test here would have caught one of
//! the findings (docs/SECURITY.md maps requirements to tests).

mod headers;
mod help;
mod passwords;
mod proxies;
mod redirect;
mod setup;
mod sign_in;

use reqwest::header::SET_COOKIE;

use crate::helpers::TestApp;

/// Posts the sign-in form (without following the redirect), with extra
/// form fields and headers.
pub async fn sign_in_with(
    app: &TestApp,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .anonymous_without_redirects()
        .post(app.url("/login"))
        .form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The `name=value` pair of the response's cookie, and the whole header.
pub fn cookie_of(response: &reqwest::Response) -> (String, String) {
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let pair = set_cookie.split(';').next().unwrap().to_string();
    (pair, set_cookie)
}

/// The CSRF token of the signed-in page at `path`.
pub async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let html = page(app, "/account", cookie).await.text().await.unwrap();
    let start = html
        .find("name=\"csrf-token\" content=\"")
        .expect("a CSRF meta tag")
        + 27;
    html[start..].split('"').next().unwrap().to_string()
}

/// GET `path` with `cookie`, not following redirects.
pub async fn page(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.anonymous_without_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}
