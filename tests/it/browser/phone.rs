//! Every page on a phone (375 px, touch) and on a desktop, in light and dark:
//! nothing scrolls sideways, the header folds into a menu, toasts fit, and
//! the Close popover opens by touch. Screenshots of every page land in
//! target/screenshots/pages/.

use serde_json::{Value, json};

use super::admin_users::make_dana_admin;
use super::{Page, Script, with_page, with_setup_page};

const PHONE: u32 = 375;

/// A session in each status, with steps, notes and a summary: every page
/// has something to show. Returns (active, completed, prepared) ids.
async fn sessions(page: &Page) -> (String, String, String) {
    let active = page
        .app
        .create(
            "Checkout times out for Northwind Traders after the 2.14 release",
            &["Check the connection pool", "Read the gateway logs"],
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    page.app
        .post(&format!("/api/sessions/{active}/start"))
        .await;
    page.app
        .post_json(
            &format!("/api/sessions/{active}/notes"),
            &json!({ "text": "Pool is at 20 of 20 during the peak; p95 is 2.3 s." }),
        )
        .await;
    let completed = page.app.create_active("VPN drops every hour").await;
    page.app
        .complete(
            &completed,
            "workaround",
            Some("Raised the rekey timer to 8 h."),
        )
        .await;
    page.app
        .post(&format!("/api/sessions/{completed}/summary"))
        .await;
    let prepared = page
        .app
        .create("Printer offline on floor 3", &["Power cycle"])
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (active, completed, prepared)
}

async fn scroll_width(page: &Page) -> i64 {
    page.js("document.documentElement.scrollWidth")
        .await
        .as_i64()
        .unwrap()
}

/// Taps the centre of the element as a finger would (touch events, which
/// the browser turns into a click).
async fn tap(page: &Page, css: &str) {
    page.find(css).await;
    let centre = page
        .js(&format!(
            "(() => {{ const e = document.querySelector(\"{css}\"); e.scrollIntoView({{ block: 'center' }});
               const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ))
        .await;
    let (x, y) = (centre[0].as_f64().unwrap(), centre[1].as_f64().unwrap());
    let point = json!([{ "x": x, "y": y }]);
    page.cdp(
        "Input.dispatchTouchEvent",
        json!({ "type": "touchStart", "touchPoints": point }),
    )
    .await;
    page.cdp(
        "Input.dispatchTouchEvent",
        json!({ "type": "touchEnd", "touchPoints": [] }),
    )
    .await;
}

/// Visits each page at a phone's width and a desktop's, light and dark:
/// the pages wider than the screen, and a screenshot of each.
async fn visit_each(page: &Page, pages: &[(&str, String)]) -> Vec<String> {
    let mut too_wide = Vec::new();
    for (width, device) in [(PHONE, "phone"), (1280, "desktop")] {
        for scheme in ["light", "dark"] {
            page.emulate(width, 800, scheme).await;
            for (name, path) in pages {
                page.goto(path).await;
                page.wait_for("document.readyState === 'complete'", "the page")
                    .await;
                let scroll = scroll_width(page).await;
                if scroll > i64::from(width) {
                    too_wide.push(format!("{name} at {width}px is {scroll}px wide"));
                }
                page.screenshot(&format!("pages/{name}-{device}-{scheme}"))
                    .await;
            }
        }
    }
    too_wide
}

/// Adds a webhook on the admin's page (to an address that refuses, so its
/// deliveries have something to say) and returns its page's path.
async fn webhook(page: &Page) -> String {
    page.goto("/admin/webhooks").await;
    page.find("#webhook-url")
        .await
        .send_keys("http://127.0.0.1:9/casebook-hook")
        .await
        .unwrap();
    page.find(".webhook-form button")
        .await
        .click()
        .await
        .unwrap();
    page.find("[data-webhook-secret]").await;
    page.find("main a[href^='/admin/webhooks/']")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a link to the webhook's page")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_and_a_desktop_in_light_and_dark() {
    with_page(Script::Enabled, |page| async move {
        make_dana_admin(&page).await;
        let webhook = webhook(&page).await;
        let (active, completed, prepared) = sessions(&page).await;
        let runbook: Value = page
            .app
            .post_json(
                "/api/runbooks",
                &json!({
                    "name": "Checkout slow after a release",
                    "problem": "Checkout takes longer than 2 s for one customer.",
                    "steps": ["Check the connection pool", "Read the gateway logs", "Compare with the last release"],
                }),
            )
            .await
            .json()
            .await
            .unwrap();
        let runbook = runbook["id"].as_str().unwrap();
        let pages = [
            ("history", "/sessions".to_string()),
            ("history-everyone", "/sessions?owner=all".to_string()),
            ("new-session", "/sessions/new".to_string()),
            ("workspace", format!("/sessions/{active}/work")),
            ("details-active", format!("/sessions/{active}")),
            ("details-completed", format!("/sessions/{completed}")),
            ("details-prepared", format!("/sessions/{prepared}")),
            ("session-edit", format!("/sessions/{prepared}/edit")),
            ("runbooks", "/runbooks".to_string()),
            ("runbook", format!("/runbooks/{runbook}")),
            ("runbook-new", "/runbooks/new".to_string()),
            ("reports", "/reports".to_string()),
            ("account", "/account".to_string()),
            ("admin-users", "/admin/users".to_string()),
            ("admin-webhooks", "/admin/webhooks".to_string()),
            ("admin-webhook", webhook),
            (
                "not-found",
                "/sessions/00000000-0000-0000-0000-000000000000".to_string(),
            ),
        ];
        let too_wide = visit_each(&page, &pages).await;
        assert!(too_wide.is_empty(), "{too_wide:?}");

        // The header folds into a menu on the phone; the menu opens and
        // holds every link, still within the width.
        page.emulate(PHONE, 800, "light").await;
        page.goto("/sessions").await;
        let nav_shown = "getComputedStyle(document.querySelector('.top nav')).display !== 'none'";
        assert_eq!(page.js(nav_shown).await, Value::Bool(false), "folded");
        page.find(".menu-toggle").await.click().await.unwrap();
        page.wait_for(nav_shown, "the open menu").await;
        assert_eq!(
            page.js("document.querySelector('.menu-toggle').getAttribute('aria-expanded')")
                .await,
            "true"
        );
        assert!(scroll_width(&page).await <= i64::from(PHONE));
        page.screenshot("history-menu-open-phone-light").await;

        // Signed out (from the open menu): the sign-in page, and the
        // message after signing out.
        page.find("form.signout button").await.click().await.unwrap();
        page.find("#username").await;
        page.screenshot("signed-out-phone-light").await;
        let too_wide = visit_each(&page, &[("login", "/login".to_string())]).await;
        assert!(too_wide.is_empty(), "{too_wide:?}");
    })
    .await;
}

/// First-run setup, before any account exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_page_fits_a_phone_and_a_desktop_in_light_and_dark() {
    with_setup_page(|page, path| async move {
        let too_wide = visit_each(&page, &[("setup", path)]).await;
        assert!(too_wide.is_empty(), "{too_wide:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_a_tap_opens_the_close_popover_and_the_toast_with_undo_fits() {
    with_page(Script::Enabled, |page| async move {
        let id = page
            .app
            .create_active("Checkout times out for Northwind Traders after the 2.14 release")
            .await;
        page.cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": true, "maxTouchPoints": 5 }),
        )
        .await;
        page.emulate(PHONE, 740, "light").await;
        page.goto("/sessions").await;
        tap(&page, &format!("#s-{id} [data-close]")).await;
        page.wait_for(
            &format!("{}.matches(':popover-open')", Page::popover(&id)),
            "the popover, opened by a tap",
        )
        .await;
        let inside = page
            .js(&format!(
                "(() => {{ const r = {}.getBoundingClientRect(); return r.left >= 0 && r.right <= {PHONE}; }})()",
                Page::popover(&id)
            ))
            .await;
        assert_eq!(inside, Value::Bool(true), "the popover fits the phone");
        page.screenshot("history-popover-phone-light").await;

        page.find(&format!("#p-{id} select"))
            .await
            .select_by_value("resolved_externally")
            .await
            .unwrap();
        tap(&page, &format!("#p-{id} .bg-gradient-brand")).await;
        page.wait_for("document.querySelector('#toasts .toast button')", "the toast with Undo")
            .await;
        let fits = page
            .js(&format!(
                "[...document.querySelectorAll('#toasts .toast, #toasts .toast button')]
                   .every(e => {{ const r = e.getBoundingClientRect(); return r.left >= 0 && r.right <= {PHONE}; }})"
            ))
            .await;
        assert_eq!(fits, Value::Bool(true), "the toast and its Undo fit the phone");
        assert!(scroll_width(&page).await <= i64::from(PHONE));
        page.screenshot("history-toast-phone-light").await;
        tap(&page, "#toasts .toast button").await;
        page.wait_for(
            &format!("{}?.dataset.status === 'active'", Page::card(&id)),
            "Undo, by a tap, to reopen the session",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_script_the_header_wraps_and_every_page_still_fits_a_phone() {
    with_page(Script::Disabled, |page| async move {
        let (active, completed, _) = sessions(&page).await;
        page.emulate(PHONE, 800, "light").await;
        for path in [
            "/sessions".to_string(),
            "/sessions/new".to_string(),
            format!("/sessions/{active}/work"),
            format!("/sessions/{completed}"),
            "/account".to_string(),
        ] {
            page.goto(&path).await;
            let nav_shown = page
                .js("getComputedStyle(document.querySelector('.top nav')).display !== 'none'")
                .await;
            assert_eq!(
                nav_shown,
                Value::Bool(true),
                "no menu to open without script"
            );
            assert!(scroll_width(&page).await <= i64::from(PHONE), "{path} fits");
        }
        page.goto("/sessions").await;
        page.screenshot("history-no-script-phone-light").await;
    })
    .await;
}
