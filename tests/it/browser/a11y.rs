//! Accessibility (axe-core finds nothing), themes, phone widths, and the
//! screenshots a person looks at.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Page, Script, with_admin_page_on, with_page_on};
use crate::helpers::{Backend, TestDb};

/// axe-core's browser bundle; scripts/test installs it. Missing, the test
/// fails rather than pass without checking.
pub(super) fn axe_source() -> String {
    let path = std::env::var("CASEBOOK_TEST_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/test-deps/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): run `npm install --prefix target/test-deps axe-core@4` \
             or scripts/test",
            path.display()
        )
    })
}

pub(super) async fn violations(page: &Page, axe: &str) -> Vec<Value> {
    page.client
        .execute(axe, vec![])
        .await
        .expect("axe-core loads");
    let result = page
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary) }))))
               .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    // Anything but a list (undefined, an object) means axe did not report:
    // never read that as "no violations".
    result
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("axe-core returned no list of violations: {result}"))
}

/// A database with a realistic history: the demo data, in every status and
/// outcome.
pub(super) async fn demo_db() -> TestDb {
    let db = TestDb::new(Backend::Sqlite).await;
    let stores = casebook::store::connect_all(&db.url).await.unwrap();
    casebook::demo::seed(&stores).await.unwrap();
    stores.sessions.close().await;
    db
}

async fn first_active(page: &Page) -> String {
    page.js("document.querySelector('.card[data-status=active]').id.slice(2)")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_page_has_no_accessibility_violations_in_light_and_dark_with_the_popover_closed_and_open()
 {
    let axe = axe_source();
    with_admin_page_on(demo_db().await, Script::Enabled, |page| async move {
        for scheme in ["light", "dark"] {
            page.emulate(1280, 900, scheme).await;
            page.goto("/sessions?owner=all").await;
            let dark = page
                .js("matchMedia('(prefers-color-scheme: dark)').matches")
                .await;
            assert_eq!(
                dark,
                json!(scheme == "dark"),
                "the {scheme} theme is emulated"
            );
            assert_eq!(
                violations(&page, &axe).await,
                Vec::<Value>::new(),
                "{scheme}, popover closed"
            );
            let id = first_active(&page).await;
            page.open_popover(&id).await;
            assert_eq!(
                violations(&page, &axe).await,
                Vec::<Value>::new(),
                "{scheme}, popover open"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_width_nothing_scrolls_sideways_and_the_popover_stays_on_screen() {
    with_admin_page_on(demo_db().await, Script::Enabled, |page| async move {
        page.emulate(375, 800, "light").await;
        page.goto("/sessions?owner=all").await;
        assert_eq!(page.js("innerWidth").await, json!(375));
        let fits = "document.documentElement.scrollWidth <= innerWidth";
        assert_eq!(page.js(fits).await, json!(true), "the page scrolls sideways");
        page.screenshot("history-phone-light").await;

        let id = first_active(&page).await;
        page.open_popover(&id).await;
        let inside = page
            .js(&format!(
                "(() => {{ const r = {}.getBoundingClientRect(); return r.left >= 0 && r.right <= innerWidth; }})()",
                Page::popover(&id)
            ))
            .await;
        assert_eq!(inside, json!(true), "the popover is clamped inside the viewport");
        assert_eq!(page.js(fits).await, json!(true));
        page.screenshot("popover-phone-light").await;

        page.emulate(375, 800, "dark").await;
        page.goto("/sessions").await;
        assert_eq!(page.js(fits).await, json!(true));
        page.screenshot("history-phone-dark").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_history_page_and_the_open_popover_on_a_desktop() {
    with_admin_page_on(demo_db().await, Script::Enabled, |page| async move {
        for scheme in ["light", "dark"] {
            page.emulate(1280, 900, scheme).await;
            page.goto("/sessions?owner=all").await;
            page.screenshot(&format!("history-desktop-{scheme}")).await;
            let id = first_active(&page).await;
            page.open_popover(&id).await;
            page.find(&format!("#p-{id} select"))
                .await
                .select_by_value("resolved_externally")
                .await
                .unwrap();
            page.screenshot(&format!("popover-desktop-{scheme}")).await;
        }
        page.emulate(1280, 900, "light").await;
        page.goto("/sessions").await;
        let id = first_active(&page).await;
        page.open_popover(&id).await;
        page.confirm_close(&id, "workaround", None).await;
        page.wait_for("document.querySelector('#toasts .toast')", "the toast")
            .await;
        page.screenshot("closed-with-toast-desktop-light").await;

        page.emulate(1280, 900, "dark").await;
        page.goto("/sessions?status=completed").await;
        page.screenshot("history-completed-desktop-dark").await;
        let first = page.js("document.querySelector('.card').id.slice(2)").await;
        page.goto(&format!("/sessions/{}", first.as_str().unwrap()))
            .await;
        page.screenshot("details-desktop-dark").await;
    })
    .await;
}

/// The account page with its password form (issue 13), a refused change
/// included, and the sign-in page with "stay signed in": axe finds nothing in
/// either theme, and at phone width nothing scrolls sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_with_its_password_form_is_accessible_in_both_themes_and_on_a_phone() {
    with_page_on(
        TestDb::new(Backend::Sqlite).await,
        Script::Enabled,
        |page| async move {
            let axe = axe_source();
            page.goto("/account").await;
            page.find("#current-password")
                .await
                .send_keys("not my password")
                .await
                .unwrap();
            for field in ["#new-password", "#repeat-password"] {
                page.find(field)
                    .await
                    .send_keys("a new passphrase")
                    .await
                    .unwrap();
            }
            page.find("form[action='/account/password'] button")
                .await
                .click()
                .await
                .unwrap();
            page.wait_for(
                "document.querySelector('.account-password .form-error')",
                "the refusal",
            )
            .await;
            for (width, scheme) in [(1280, "light"), (1280, "dark"), (375, "dark")] {
                page.emulate(width, 900, scheme).await;
                let found = violations(&page, &axe).await;
                assert!(found.is_empty(), "{width}px {scheme}: {found:#?}");
                let fits = "document.documentElement.scrollWidth <= innerWidth";
                assert_eq!(
                    page.js(fits).await,
                    json!(true),
                    "{width}px scrolls sideways"
                );
                page.js("document.querySelector('.account-password').scrollIntoView()")
                    .await;
                let phone = if width < 600 { "phone" } else { "desktop" };
                page.screenshot(&format!("account-password-{phone}-{scheme}"))
                    .await;
            }
        },
    )
    .await;
}
