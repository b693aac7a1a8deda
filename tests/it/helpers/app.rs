use std::net::SocketAddr;

use casebook::config::Settings;
use casebook::domain::{Password, Role, TokenName, User, Username};
use casebook::service::{AccountError, AccountService, NewUser};
use casebook::startup::Application;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{Backend, TestDb};

/// The password of every account the tests create.
pub const PASSWORD: &str = "correct horse battery staple";

/// A Casebook server on a random port with its own fresh database. Its
/// `client` acts as the engineer `dana` through a personal API token.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub accounts: AccountService,
    /// dana's personal token, which `client` sends.
    pub token: String,
    /// Keeps the database until the server is gone.
    _db: TestDb,
    _shutdown: oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_on(TestDb::new(backend).await).await
    }

    pub async fn spawn_on(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// A server whose settings `configure` adjusts first.
    pub async fn spawn_with(db: TestDb, configure: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_as(db, configure, true).await
    }

    /// A server with no account at all (first-run setup is open); its
    /// `client` is not signed in.
    pub async fn spawn_without_accounts(db: TestDb) -> TestApp {
        Self::spawn_as(db, |_| {}, false).await
    }

    async fn spawn_as(
        db: TestDb,
        configure: impl FnOnce(&mut Settings),
        with_dana: bool,
    ) -> TestApp {
        let mut settings = Settings::on_database(db.url.clone());
        configure(&mut settings);
        let app = Application::build(&settings).await.expect("server builds");
        let addr = app.local_addr();
        let accounts = app.accounts().clone();
        let (token, client) = if with_dana {
            let token = token_for(&accounts, "dana", Role::Engineer).await;
            let client = bearer_client(&token);
            (token, client)
        } else {
            (String::new(), client_builder().build().unwrap())
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            client,
            accounts,
            token,
            _db: db,
            _shutdown: shutdown,
        }
    }

    /// A client acting as `username` (created with `role` if new).
    pub async fn client_as(&self, username: &str, role: Role) -> reqwest::Client {
        bearer_client(&token_for(&self.accounts, username, role).await)
    }

    /// A client acting as dana that does not follow redirects.
    pub fn without_redirects(&self) -> reqwest::Client {
        without_redirects(&self.token)
    }

    /// A client acting as `username` that does not follow redirects.
    pub async fn without_redirects_as(&self, username: &str, role: Role) -> reqwest::Client {
        without_redirects(&token_for(&self.accounts, username, role).await)
    }

    /// The server's database, for reading its tables directly.
    pub fn db(&self) -> &TestDb {
        &self._db
    }

    /// A client that is not signed in.
    pub fn anonymous(&self) -> reqwest::Client {
        client_builder().build().unwrap()
    }

    /// A client that is not signed in and does not follow redirects.
    pub fn anonymous_without_redirects(&self) -> reqwest::Client {
        client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str) -> Response {
        self.client.post(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Prepares a session and returns its JSON.
    pub async fn create(&self, title: &str, steps: &[&str]) -> Value {
        let response = self
            .post_json("/api/sessions", &json!({ "title": title, "steps": steps }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Prepares and starts a session; returns its id.
    pub async fn create_active(&self, title: &str) -> String {
        let id = self.create(title, &[]).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.start(&id).await;
        id
    }

    /// Starts the prepared session `id`, expecting 200.
    pub async fn start(&self, id: &str) {
        let response = self.post(&format!("/api/sessions/{id}/start")).await;
        assert_eq!(response.status(), StatusCode::OK, "start {id}");
    }

    pub async fn complete(&self, id: &str, outcome: &str, notes: Option<&str>) -> Response {
        self.post_json(
            &format!("/api/sessions/{id}/complete"),
            &json!({ "outcome": outcome, "outcome_notes": notes }),
        )
        .await
    }

    /// GETs `path`, expecting 200, and returns the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        get_json(&self.client, &self.url(path)).await
    }

    /// The session's timeline.
    pub async fn events(&self, id: &str) -> Value {
        self.get_json(&format!("/api/sessions/{id}/events")).await
    }

    pub async fn session(&self, id: &str) -> Value {
        let response = self.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

/// GETs `url` with `client` (a server of its own, a second process),
/// expecting 200, and returns the JSON body.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

/// Asserts a problem+json response with `status` and returns its body.
pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// The account `username`, created with `role` the first time.
pub async fn user(accounts: &AccountService, username: &str, role: Role) -> User {
    let name = Username::parse(username).unwrap();
    let new = NewUser {
        username: name.clone(),
        display_name: None,
        password: Password::parse(PASSWORD).unwrap(),
        role,
    };
    match accounts.create_user(new).await {
        Ok(user) => user,
        Err(AccountError::UsernameTaken) => accounts.user(&name).await.unwrap(),
        Err(e) => panic!("cannot create {username}: {e}"),
    }
}

async fn token_for(accounts: &AccountService, username: &str, role: Role) -> String {
    let user = user(accounts, username, role).await;
    let name = TokenName::parse("tests").unwrap();
    let (_, secret) = accounts.create_token(&user.username, name).await.unwrap();
    secret.expose().to_string()
}

fn with_token(builder: reqwest::ClientBuilder, token: &str) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    builder.default_headers(headers)
}

/// Every test client starts here. The server closes a keep-alive connection
/// idle for 10 s (its header read timeout); a pooled connection reused at
/// that moment fails with "incomplete message", so clients let go of idle
/// connections well before.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(5))
}

/// A client that sends `token` as `Authorization: Bearer …`.
pub fn bearer_client(token: &str) -> reqwest::Client {
    with_token(client_builder(), token).build().unwrap()
}

fn without_redirects(token: &str) -> reqwest::Client {
    with_token(client_builder(), token)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
