//! `casebook login` and `casebook sessions …`: the real binary against a
//! real server, as an engineer runs it from a terminal.

use std::os::unix::fs::PermissionsExt;

use casebook::domain::Role;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{Backend, Run, TestApp, casebook_with};

/// A run of the command-line client, whose refusals are `error: …` lines.
struct ClientRun(Run);

impl std::ops::Deref for ClientRun {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.0
    }
}

impl ClientRun {
    /// A refusal: exit code 1, nothing on stdout, one `error: …` line.
    fn refused(&self) -> &str {
        let line = self.0.refused();
        assert!(line.starts_with("error: "), "{line}");
        line
    }
}

/// A terminal of its own: a private config directory and no inherited
/// `CASEBOOK_*` settings.
struct Terminal {
    home: TempDir,
}

impl Terminal {
    fn new() -> Terminal {
        Terminal {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn config_file(&self) -> std::path::PathBuf {
        self.home.path().join("config/casebook/config.toml")
    }

    async fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> ClientRun {
        let home = self.home.path().to_str().unwrap();
        let config = self.home.path().join("config");
        let env = [
            &[
                ("HOME", home),
                ("XDG_CONFIG_HOME", config.to_str().unwrap()),
            ],
            env,
        ]
        .concat();
        ClientRun(casebook_with(args, &env, stdin).await)
    }
}

/// dana's two sessions (one active, one closed as escalated) and sam's one.
async fn three_sessions(app: &TestApp) -> (String, String, String) {
    let disk = app.create_active("Disk full on db01").await;
    let vpn = app.create_active("VPN drops hourly").await;
    let closed = app
        .complete(&vpn, "escalated", Some("Sent to networking"))
        .await;
    assert_eq!(closed.status(), 200);
    let sam = app.client_as("sam", Role::Engineer).await;
    let printer: Value = sam
        .post(app.url("/api/sessions"))
        .json(&json!({ "title": "Printer jam on floor 3", "start": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (disk, vpn, printer["id"].as_str().unwrap().to_string())
}

fn titles(table: &str) -> Vec<&str> {
    [
        "Disk full on db01",
        "VPN drops hourly",
        "Printer jam on floor 3",
    ]
    .into_iter()
    .filter(|t| table.contains(t))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_is_an_aligned_table_with_filters_and_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (disk, vpn, printer) = three_sessions(&app).await;
    let url = app.url("");
    let env = [
        ("CASEBOOK_URL", url.as_str()),
        ("CASEBOOK_TOKEN", &app.token),
    ];
    let terminal = Terminal::new();

    let run = terminal.run(&["sessions", "list"], &env, "").await;
    let table = run.succeeded();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows: {table}");
    let header = lines[0];
    for column in ["ID", "TITLE", "STATUS", "OUTCOME", "OWNER", "UPDATED"] {
        assert!(header.contains(column), "{header}");
    }
    // Newest first, each cell starting under its heading.
    let (status_at, outcome_at, owner_at) = (
        header.find("STATUS").unwrap(),
        header.find("OUTCOME").unwrap(),
        header.find("OWNER").unwrap(),
    );
    let expected = [
        (&printer, "Active", "-", "sam"),
        (&vpn, "Completed", "Escalated", "dana"),
        (&disk, "Active", "-", "dana"),
    ];
    for (line, (id, status, outcome, owner)) in lines[1..].iter().zip(expected) {
        assert!(line.starts_with(id.as_str()), "{line}");
        assert!(line[status_at..].starts_with(status), "{line}");
        assert!(line[outcome_at..].starts_with(outcome), "{line}");
        assert!(line[owner_at..].starts_with(owner), "{line}");
        assert!(line.ends_with(" ago"), "a relative update time: {line}");
    }

    let active = terminal
        .run(&["sessions", "list", "--status", "active"], &env, "")
        .await;
    assert_eq!(
        titles(active.succeeded()),
        ["Disk full on db01", "Printer jam on floor 3"]
    );
    let escalated = terminal
        .run(&["sessions", "list", "--outcome", "escalated"], &env, "")
        .await;
    assert_eq!(titles(escalated.succeeded()), ["VPN drops hourly"]);
    let mine = terminal
        .run(&["sessions", "list", "--mine"], &env, "")
        .await;
    assert_eq!(
        titles(mine.succeeded()),
        ["Disk full on db01", "VPN drops hourly"]
    );
    let two = terminal
        .run(&["sessions", "list", "--limit", "2"], &env, "")
        .await;
    let two = two.succeeded();
    assert_eq!(two.lines().count(), 4, "{two}");
    assert!(two.ends_with("(more sessions match; raise --limit or narrow the filters)\n"));
    let none = terminal
        .run(&["sessions", "list", "--outcome", "cancelled"], &env, "")
        .await;
    assert_eq!(none.succeeded(), "No sessions match.\n");

    let json = terminal
        .run(&["sessions", "list", "--mine", "--json"], &env, "")
        .await;
    let items: Value = serde_json::from_str(json.succeeded()).unwrap();
    let items = items.as_array().expect("a JSON array of sessions");
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|s| s["owner"] == "dana"));
    assert_eq!(items[0]["id"], vpn.as_str());
    assert_eq!(items[0]["outcome"], "escalated");

    // Outcomes are the domain's six values; anything else is a usage error.
    let unknown = terminal
        .run(&["sessions", "list", "--outcome", "fixed"], &env, "")
        .await;
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("resolved_externally"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_show_and_reopen_and_a_second_close_is_one_line() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (disk, _, printer) = three_sessions(&app).await;
    let url = app.url("");
    let env = [
        ("CASEBOOK_URL", url.as_str()),
        ("CASEBOOK_TOKEN", &app.token),
    ];
    let terminal = Terminal::new();

    let close = [
        "sessions",
        "close",
        &disk,
        "--outcome",
        "resolved_externally",
        "--notes",
        "Vendor patched the array",
    ];
    let closed = terminal.run(&close, &env, "").await;
    assert_eq!(
        closed.succeeded(),
        "Closed \"Disk full on db01\" as Resolved Externally.\n"
    );
    let stored = app.session(&disk).await;
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["outcome"], "resolved_externally");
    assert_eq!(stored["outcome_notes"], "Vendor patched the array");
    assert_eq!(app.events(&disk).await["items"][2]["via"], "api");

    let again = terminal.run(&close, &env, "").await;
    let line = again.refused();
    assert!(
        line.contains("This session is completed")
            && line.contains("It was closed as Resolved Externally by dana")
            && line.contains("409"),
        "{line}"
    );

    let shown = terminal.run(&["sessions", "show", &disk], &env, "").await;
    let page = shown.succeeded();
    assert!(page.starts_with("Disk full on db01\n"), "{page}");
    for expected in [
        "Completed",
        "Resolved Externally",
        "Vendor patched the array",
        "Timeline",
        "created",
        "closed as Resolved Externally: Vendor patched the array",
    ] {
        assert!(page.contains(expected), "{expected:?} in {page}");
    }
    let shown_json = terminal
        .run(&["sessions", "show", &disk, "--json"], &env, "")
        .await;
    let body: Value = serde_json::from_str(shown_json.succeeded()).unwrap();
    assert_eq!(body["outcome_label"], "Resolved Externally");
    assert_eq!(body["events"].as_array().unwrap().len(), 3);

    let reopened = terminal.run(&["sessions", "reopen", &disk], &env, "").await;
    assert_eq!(
        reopened.succeeded(),
        "Reopened \"Disk full on db01\"; it is active again.\n"
    );
    assert_eq!(app.session(&disk).await["status"], "active");
    let timeline = terminal.run(&["sessions", "show", &disk], &env, "").await;
    assert!(timeline.succeeded().contains("reopened"));

    // Someone else's session, and one that does not exist: one line each.
    let theirs = terminal
        .run(
            &["sessions", "close", &printer, "--outcome", "resolved"],
            &env,
            "",
        )
        .await;
    assert!(theirs.refused().contains("Only the session's owner (sam)"));
    let missing = terminal
        .run(
            &["sessions", "show", "01900000-0000-7000-8000-000000000000"],
            &env,
            "",
        )
        .await;
    assert!(
        missing
            .refused()
            .contains("No session has this id. (HTTP 404)")
    );
    assert_eq!(app.session(&printer).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_the_token_and_keeps_a_private_config_that_later_commands_use() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_active("Disk full on db01").await;
    let me = app.get_json("/api/me").await;
    assert_eq!(
        me,
        json!({ "username": "dana", "display_name": "dana", "role": "engineer" })
    );
    let url = app.url("");
    let terminal = Terminal::new();

    let wrong = terminal
        .run(&["login", "--url", &url], &[], "cb_not_a_real_token\n")
        .await;
    assert!(wrong.refused().contains("401"));
    assert!(
        !terminal.config_file().exists(),
        "nothing kept for a bad token"
    );

    let login = terminal
        .run(&["login", "--url", &format!("{url}/")], &[], &app.token)
        .await;
    assert!(
        login
            .succeeded()
            .starts_with(&format!("Signed in to {url} as dana")),
        "{}",
        login.stdout
    );
    let file = terminal.config_file();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner reads the token");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains(&app.token) && saved.contains(&url));

    // Later commands need no settings at all.
    let listed = terminal.run(&["sessions", "list", "--mine"], &[], "").await;
    assert!(listed.succeeded().contains("Disk full on db01"));

    // The saved token is never sent to another server.
    let elsewhere = terminal
        .run(
            &["sessions", "list"],
            &[("CASEBOOK_URL", "http://127.0.0.1:9")],
            "",
        )
        .await;
    assert!(
        elsewhere
            .refused()
            .contains("no token for http://127.0.0.1:9")
    );

    let nowhere = Terminal::new().run(&["sessions", "list"], &[], "").await;
    assert!(nowhere.refused().contains("casebook login --url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_and_a_server_that_is_down_are_one_line_each() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = app.url("");
    let terminal = Terminal::new();
    let bad = terminal
        .run(
            &["sessions", "list"],
            &[("CASEBOOK_URL", &url), ("CASEBOOK_TOKEN", "cb_wrong")],
            "",
        )
        .await;
    let line = bad.refused();
    assert!(
        line.contains("This token is unknown, revoked, or its user is disabled.")
            && line.contains("401"),
        "{line}"
    );

    // A port nothing listens on any more.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{closed_port}");
    let unreachable = terminal
        .run(
            &["sessions", "list"],
            &[("CASEBOOK_URL", &down), ("CASEBOOK_TOKEN", &app.token)],
            "",
        )
        .await;
    let line = unreachable.refused();
    assert!(
        line.starts_with(&format!(
            "error: cannot reach the Casebook server at {down}: "
        )),
        "{line}"
    );

    // A proxy that sends plain HTTP to HTTPS: not followed with the token.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let redirect = axum::Router::new().fallback(|| async {
        axum::response::Redirect::permanent("https://casebook.example.com/api/sessions")
    });
    tokio::spawn(async move { axum::serve(listener, redirect).await });
    let redirected = terminal
        .run(
            &["sessions", "list"],
            &[("CASEBOOK_URL", &proxy), ("CASEBOOK_TOKEN", &app.token)],
            "",
        )
        .await;
    assert_eq!(
        redirected.refused(),
        format!(
            "error: {proxy} redirects to https://casebook.example.com/api/sessions (HTTP 308); \
             use the final address as the URL"
        )
    );
}
