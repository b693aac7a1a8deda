//! Signing in through the form, as a browser without script does, and what
//! a signed-in client then sends back: the cookie and the page's CSRF token.

use reqwest::Response;
use reqwest::header::SET_COOKIE;

use super::{ServerProcess, TestApp};

/// A Casebook server a test talks to: in this process or a child process.
pub trait Server {
    /// The URL of `path` on this server.
    fn url(&self, path: &str) -> String;
}

impl Server for TestApp {
    fn url(&self, path: &str) -> String {
        TestApp::url(self, path)
    }
}

impl Server for ServerProcess {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// A client that is not signed in and does not follow redirects, as a
/// browser's first request.
fn stranger() -> reqwest::Client {
    super::app::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the sign-in form as `username` with `password`, without following
/// the redirect.
pub async fn sign_in(server: &impl Server, username: &str, password: &str) -> Response {
    sign_in_with(
        server,
        &[("username", username), ("password", password)],
        &[],
    )
    .await
}

/// Posts the sign-in form (without following the redirect), with these form
/// fields and headers.
pub async fn sign_in_with(
    server: &impl Server,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut request = stranger().post(server.url("/login")).form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The `name=value` pair of the response's cookie, and the whole header.
pub fn cookie_of(response: &Response) -> (String, String) {
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let pair = set_cookie.split(';').next().unwrap().to_string();
    (pair, set_cookie)
}

/// The CSRF token of the signed-in pages (it is the login session's).
pub async fn csrf_of(server: &impl Server, cookie: &str) -> String {
    let html = page(server, "/account", cookie).await.text().await.unwrap();
    let start = html
        .find("name=\"csrf-token\" content=\"")
        .expect("a CSRF meta tag")
        + 27;
    html[start..].split('"').next().unwrap().to_string()
}

/// GET `path` with `cookie`, not following redirects.
pub async fn page(server: &impl Server, path: &str, cookie: &str) -> Response {
    stranger()
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}
