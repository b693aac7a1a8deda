//! SQLite files made by the release that applied the migrations through
//! sqlx (tests/it/fixtures, made at commit 8a27fa8: `casebook migrate`,
//! `user add`, `token create` and requests to `casebook serve`; the second
//! file holds the same rows in a database sqlx migrated to version 6 only).
//! Opened now, they keep every session, account and token, upgrade in
//! place, and their bookkeeping is what sqlx writes, so that release would
//! still open them.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, TestDb, bearer_client, open_sqlite, sign_in};

/// dana's token, as `casebook token create` printed it for the fixtures.
const TOKEN: &str = "cb_MBlYKBk1cJ7vyhq12yYgXNTlzKXd8GnbzzerqFgzAiw";

/// A row of `_sqlx_migrations`: version, description, success, checksum,
/// installed_on, execution_time.
type Applied = (i64, String, bool, Vec<u8>, String, i64);

fn bookkeeping(file: &Path) -> Vec<Applied> {
    open_sqlite(file)
        .prepare(
            "select version, description, success, checksum, installed_on, execution_time \
             from _sqlx_migrations order by version",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn fixture_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
}

/// A fresh copy of the fixture `name`, and its bookkeeping as it was made.
async fn copy_of(name: &str) -> (TestDb, Vec<Applied>) {
    let db = TestDb::new(crate::helpers::Backend::Sqlite).await;
    std::fs::copy(fixture_file(name), db.sqlite_file()).unwrap();
    let made = bookkeeping(&db.sqlite_file());
    (db, made)
}

/// Every session, account and token of the fixtures, as the API shows them.
async fn assert_the_fixtures_data_is_served(app: &TestApp) {
    let dana = bearer_client(TOKEN);
    let list: Value = dana
        .get(app.url("/api/sessions?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_title = |title: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"] == title)
            .unwrap_or_else(|| panic!("{title:?} is missing: {list}"))
            .clone()
    };
    assert_eq!(list["items"].as_array().unwrap().len(), 4, "{list}");

    let disk = by_title("Disk full on db01");
    assert_eq!(disk["status"], "prepared");
    assert_eq!(disk["owner"], "dana");
    assert_eq!(disk["reference"], "INC-1042");
    assert_eq!(disk["customer"], "ACME Café");
    assert_eq!(disk["problem"], "Reported: Disk full on db01");
    let steps: Vec<&Value> = disk["steps"].as_array().unwrap().iter().collect();
    assert_eq!(steps[0]["text"], "Check the logs");
    assert_eq!(steps[1]["text"], "Compare the timers");

    let vpn = by_title("VPN drops every hour");
    assert_eq!(vpn["status"], "active");
    assert_eq!(
        vpn["steps"][0]["finding"],
        "rekey failures at zeppelin o'clock"
    );
    assert!(vpn["steps"][0]["checked_at"].is_string());
    let vpn_id = vpn["id"].as_str().unwrap();
    let events = app.events(vpn_id).await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "started", "step_checked", "note_added"]);
    assert_eq!(
        events["items"][3]["text"],
        "Peer runs marmalade firmware 9.1"
    );

    let printer = by_title("Überlauf im Drucker — floor 3");
    assert_eq!(printer["status"], "completed");
    assert_eq!(printer["outcome"], "workaround");
    assert_eq!(
        printer["outcome_notes"],
        "Cleared the tray; vendor visit booked"
    );
    assert!(printer["summary"].as_str().unwrap().contains("Workaround"));

    let certificate = by_title("Certificate expired on the gateway");
    assert_eq!(certificate["status"], "active", "reopened");
    let events = app.events(certificate["id"].as_str().unwrap()).await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "started", "completed", "reopened"]);

    // The full-text index covers what was written before the upgrade.
    for word in ["zeppelin", "marmalade", "ACME"] {
        let found = app.get_json(&format!("/api/sessions?q={word}")).await;
        assert!(
            found["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"] == vpn_id),
            "searching {word:?}: {found}"
        );
    }
    // dana's password still signs her in.
    let signed_in = sign_in(app, "dana", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_by_the_sqlx_release_is_served_and_its_bookkeeping_kept() {
    let (db, made) = copy_of("casebook-0.1.0.db").await;
    let file = db.sqlite_file();
    assert_eq!(made.len(), 9, "the fixture has every migration up to 0010");
    let app = TestApp::spawn_on(db).await;
    assert_the_fixtures_data_is_served(&app).await;

    // Nothing applied twice or rewritten; only migrations newer than the
    // fixture are added after its rows.
    let now = bookkeeping(&file);
    assert_eq!(now[..made.len()], made[..]);
    assert!(
        now[made.len()..]
            .iter()
            .all(|m| m.0 > made.last().unwrap().0 && m.2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_sqlx_migrated_halfway_upgrades_with_its_data_as_sqlx_would_record_it() {
    let (db, made) = copy_of("casebook-0.1.0-at-migration-6.db").await;
    let file = db.sqlite_file();
    let versions: Vec<i64> = made.iter().map(|m| m.0).collect();
    assert_eq!(versions, [1, 2, 3, 5, 6]);
    let app = TestApp::spawn_on(db).await;
    assert_the_fixtures_data_is_served(&app).await;

    let now = bookkeeping(&file);
    assert_eq!(now[..made.len()], made[..], "what sqlx applied is kept");
    // The rows written now are those sqlx wrote for the same migrations in
    // the other fixture: the same version, description, success and
    // checksum, so sqlx's migrator (which compares them) accepts the file.
    let by_sqlx = bookkeeping(&fixture_file("casebook-0.1.0.db"));
    let applied_now = &now[made.len()..by_sqlx.len()];
    assert_eq!(applied_now.len(), 4, "0007 to 0010: {now:?}");
    for (ours, theirs) in applied_now.iter().zip(&by_sqlx[made.len()..]) {
        assert_eq!(
            (&ours.0, &ours.1, &ours.2, &ours.3),
            (&theirs.0, &theirs.1, &theirs.2, &theirs.3)
        );
        assert!(ours.5 >= 0, "an execution time: {ours:?}");
    }
}
