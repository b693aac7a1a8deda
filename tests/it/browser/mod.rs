//! The pages in a real browser: headless Chromium driven through Debian's
//! chromedriver, against a real server on SQLite. One chromedriver serves
//! every test; each test has its own browser session.

mod a11y;
mod actions;
mod admin_users;
mod close;
mod daily;
mod history;
mod hostile;
mod live;
mod owners;
mod phone;
mod reports;
mod runbooks;
mod safety;
mod session_edits;
mod similar;
mod webhooks;
mod work_edits;
mod workspace;

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};

use casebook::domain::Role;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, user};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// Generous: four browsers may share two cores.
const WAIT: Duration = Duration::from_secs(20);
/// How often an element re-rendered under the test's hands is found again.
const STALE_RETRIES: usize = 5;

pub const TAB: &str = "\u{e004}";
pub const ENTER: &str = "\u{e007}";
pub const ESCAPE: &str = "\u{e00c}";
pub const DOWN: &str = "\u{e015}";

static DRIVER: OnceLock<Result<String, String>> = OnceLock::new();

/// The shared chromedriver's URL, started on first use. A missing driver
/// fails the test: a browser test that silently skips proves nothing.
fn driver_url() -> String {
    DRIVER
        .get_or_init(start_driver)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn start_driver() -> Result<String, String> {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        return Err(format!(
            "{CHROMEDRIVER} or {CHROMIUM} is missing: install Debian's chromium and \
             chromium-driver packages (scripts/test does)"
        ));
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let (sent, spawned) = std::sync::mpsc::channel();
    // PR_SET_PDEATHSIG fires when the spawning *thread* ends, so the driver
    // is spawned from a thread that lives as long as the test process; when
    // the process ends, so does the driver.
    std::thread::spawn(move || {
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; nothing else runs before exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        match command.spawn() {
            Ok(child) => {
                let _ = sent.send(Ok(()));
                let _keep = child;
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = sent.send(Err(format!("cannot start {CHROMEDRIVER}: {e}")));
            }
        }
    });
    spawned
        .recv()
        .map_err(|e| format!("chromedriver thread died: {e}"))??;
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("chromedriver did not listen on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(format!("http://127.0.0.1:{port}"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Enabled,
    Disabled,
}

async fn connect(script: Script) -> Client {
    let mut chrome = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--window-size=1280,900", "--hide-scrollbars",
        ],
    });
    if script == Script::Disabled {
        chrome["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), chrome);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver_url())
        .await
        .expect("a Chromium session through chromedriver")
}

/// Signs the browser in as `username` (an engineer) through the sign-in
/// page, as a person would.
pub async fn sign_in(app: &TestApp, client: &Client, username: &str) {
    user(&app.accounts, username, Role::Engineer).await;
    client.goto(&app.url("/login")).await.unwrap();
    let field = |css: &'static str| client.wait().at_most(WAIT).for_element(Locator::Css(css));
    field("#username")
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    field("#password")
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    field("form[action='/login'] button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !client
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/sessions")
    {
        assert!(
            Instant::now() < deadline,
            "signing in as {username} did not land on the history page"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A server with a fresh SQLite database, and a browser for it.
pub struct Page {
    pub app: TestApp,
    pub client: Client,
}

/// Runs `test` with its own server and browser session, and ends the
/// browser session even when the test fails.
pub async fn with_page<F, Fut>(script: Script, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()>,
{
    with_page_on(TestDb::new(Backend::Sqlite).await, script, test).await;
}

/// The same, on a database prepared beforehand.
pub async fn with_page_on<F, Fut>(db: TestDb, script: Script, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()>,
{
    with_page_for(TestApp::spawn_on(db).await, script, test).await;
}

/// The same, signed in as the admin `root`, who may act on every session
/// (the demo's sessions belong to its sample engineers, who cannot sign in).
pub async fn with_admin_page_on<F, Fut>(db: TestDb, script: Script, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()>,
{
    let app = TestApp::spawn_on(db).await;
    user(&app.accounts, "root", Role::Admin).await;
    with_page_signed_in(app, script, "root", test).await;
}

/// The same, on a server whose settings `configure` adjusts.
pub async fn with_page_where<F, Fut>(
    configure: impl FnOnce(&mut casebook::config::Settings),
    script: Script,
    test: F,
) where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()>,
{
    let app = TestApp::spawn_with(TestDb::new(Backend::Sqlite).await, configure).await;
    with_page_for(app, script, test).await;
}

/// A server with no account yet and a browser that is not signed in, with
/// the first-run setup page's path (its one-time link).
pub async fn with_setup_page<F, Fut>(test: F)
where
    F: FnOnce(Page, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let app = TestApp::spawn_without_accounts(TestDb::new(Backend::Sqlite).await).await;
    let token = app
        .accounts
        .begin_setup()
        .await
        .unwrap()
        .expect("no account yet");
    let path = format!("/setup?token={}", token.expose());
    let client = connect(Script::Enabled).await;
    let page = Page {
        app,
        client: client.clone(),
    };
    let outcome = AssertUnwindSafe(test(page, path)).catch_unwind().await;
    let _ = client.close().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

async fn with_page_for<F, Fut>(app: TestApp, script: Script, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()>,
{
    with_page_signed_in(app, script, "dana", test).await;
}

async fn with_page_signed_in<F, Fut>(app: TestApp, script: Script, username: &str, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()>,
{
    let client = connect(script).await;
    sign_in(&app, &client, username).await;
    let page = Page {
        app,
        client: client.clone(),
    };
    let outcome = AssertUnwindSafe(test(page)).catch_unwind().await;
    let _ = client.close().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

impl Page {
    pub async fn goto(&self, path: &str) {
        self.client.goto(&self.app.url(path)).await.unwrap();
    }

    /// Evaluates a JavaScript expression in the page.
    pub async fn js(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("script {expression:?} failed: {e}"))
    }

    /// Polls until the expression is truthy; fails after a while saying what
    /// it waited for.
    pub async fn wait_for(&self, expression: &str, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.js(&format!("!!({expression})")).await;
            if value == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Clicks the element. A live page may re-render the part holding it
    /// between finding it and clicking; it is then found again.
    pub async fn click(&self, css: &str) {
        for _ in 0..STALE_RETRIES {
            match self.find(css).await.click().await {
                Err(e) if e.is_stale_element_reference() => continue,
                done => return done.unwrap_or_else(|e| panic!("clicking {css}: {e}")),
            }
        }
        panic!("{css} was re-rendered {STALE_RETRIES} times while being clicked");
    }

    /// Types into the element, found again if the live page re-rendered it
    /// first (as [`Page::click`]); once focused, the page leaves it alone.
    pub async fn type_into(&self, css: &str, text: &str) {
        for _ in 0..STALE_RETRIES {
            match self.find(css).await.send_keys(text).await {
                Err(e) if e.is_stale_element_reference() => continue,
                done => return done.unwrap_or_else(|e| panic!("typing into {css}: {e}")),
            }
        }
        panic!("{css} was re-rendered {STALE_RETRIES} times while being typed into");
    }

    /// Presses keys on the keyboard, wherever focus is, as a keyboard user
    /// would.
    pub async fn keys(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for value in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client.perform_actions(actions).await.unwrap();
    }

    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd} failed: {e}"))
    }

    /// Emulates a viewport of this width (phone widths included) and, when
    /// given, a colour scheme.
    pub async fn emulate(&self, width: u32, height: u32, scheme: &str) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
        )
        .await;
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await;
    }

    /// A PNG under target/screenshots/ (`name` may hold a folder): the whole
    /// page when it is at its top, else (a popover or toast where the
    /// engineer scrolled to) the window, as the sticky header and the toasts
    /// stay with the window.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let size = self
            .js("[document.documentElement.scrollWidth, document.documentElement.scrollHeight, scrollY]")
            .await;
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/screenshots")
            .join(format!("{name}.png"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        if size[2].as_f64() != Some(0.0) {
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(file, png).unwrap();
            return;
        }
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1 },
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("a PNG"))
            .unwrap();
        std::fs::write(file, png).unwrap();
    }

    /// The card's popover id, Close button and card, by session id.
    pub fn card(id: &str) -> String {
        format!("document.getElementById('s-{id}')")
    }

    pub fn popover(id: &str) -> String {
        format!("document.getElementById('p-{id}')")
    }

    pub async fn popover_open(&self, id: &str) -> bool {
        self.js(&format!("{}.matches(':popover-open')", Self::popover(id)))
            .await
            .as_bool()
            .unwrap()
    }

    pub async fn open_popover(&self, id: &str) {
        self.find(&format!("#s-{id} [data-close]"))
            .await
            .click()
            .await
            .unwrap();
        // Open, and placed by the script's toggle handler (a task later).
        self.wait_for(
            &format!(
                "{0}.matches(':popover-open') && {0}.style.top !== ''",
                Self::popover(id)
            ),
            "the Close popover to open below its button",
        )
        .await;
    }

    /// In the open popover of `id`: chooses `outcome`, types `notes` if any,
    /// and presses Confirm.
    pub async fn confirm_close(&self, id: &str, outcome: &str, notes: Option<&str>) {
        let popover = format!("#p-{id}");
        let select = self.find(&format!("{popover} select")).await;
        select.select_by_value(outcome).await.unwrap();
        if let Some(notes) = notes {
            let textarea = self.find(&format!("{popover} textarea")).await;
            textarea.send_keys(notes).await.unwrap();
        }
        let confirm = self.find(&format!("{popover} .bg-gradient-brand")).await;
        confirm.click().await.unwrap();
    }

    /// A marker that survives only as long as the document does: proof that
    /// something happened without a page load.
    pub async fn mark_document(&self) {
        self.js("window.__casebookMarker = 'still here'").await;
    }

    pub async fn document_was_kept(&self) -> bool {
        self.js("window.__casebookMarker === 'still here'").await == Value::Bool(true)
    }

    pub async fn toast_text(&self) -> String {
        self.js("document.getElementById('toasts').innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A Chrome DevTools Protocol command through chromedriver's extension.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (::http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (::http::Method::POST, Some(body.to_string()))
    }
}
