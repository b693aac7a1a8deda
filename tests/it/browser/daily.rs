//! The pages in daily use: nothing typed is lost, nothing happens by
//! accident, and every action says what it acts on.

use serde_json::{Value, json};

use casebook::domain::Role;

use super::{ENTER, Page, Script, with_page};
use crate::helpers::user;

async fn value_of(page: &Page, css: &str) -> String {
    page.js(&format!("document.querySelector(\"{css}\").value"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A started session with two steps; returns its id and its steps' ids.
async fn active_with_steps(page: &Page, title: &str) -> (String, Vec<String>) {
    let session = page
        .app
        .create(title, &["Check the pool", "Read the logs"])
        .await;
    let id = session["id"].as_str().unwrap().to_string();
    let started = page.app.post(&format!("/api/sessions/{id}/start")).await;
    assert!(started.status().is_success());
    let steps = session["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    (id, steps)
}

/// Whether leaving the page now would ask first.
async fn leaving_asks(page: &Page) -> bool {
    page.js(
        "(() => { const e = new Event('beforeunload', { cancelable: true }); \
         dispatchEvent(e); return e.defaultPrevented; })()",
    )
    .await
        == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_typed_in_the_workspace_survives_checking_noting_and_unchecking_elsewhere() {
    with_page(Script::Enabled, |page| async move {
        let (id, steps) = active_with_steps(&page, "Checkout slow for Northwind").await;
        page.goto(&format!("/sessions/{id}/work")).await;
        page.mark_document().await;
        assert!(!leaving_asks(&page).await, "nothing typed yet");

        page.type_into("#note", "Half-written note").await;
        page.type_into(&format!("#finding-{}", steps[1]), "logs rotated at 02:00")
            .await;
        page.find("#outcome")
            .await
            .select_by_value("workaround")
            .await
            .unwrap();
        page.type_into("#outcome-notes", "Raised the pool for now.")
            .await;
        assert!(
            leaving_asks(&page).await,
            "unsent text makes leaving ask first"
        );

        // Check step 1 with a finding: only that step changes.
        page.type_into(&format!("#finding-{}", steps[0]), "pool at 20 of 20")
            .await;
        page.click(&format!("#step-{} .check-form button", steps[0]))
            .await;
        page.wait_for(
            &format!(
                "document.getElementById('step-{}').classList.contains('done')",
                steps[0]
            ),
            "step 1 checked in place",
        )
        .await;
        let kept = || async {
            (
                value_of(&page, "#note").await,
                value_of(&page, &format!("#finding-{}", steps[1])).await,
                value_of(&page, "#outcome").await,
                value_of(&page, "#outcome-notes").await,
            )
        };
        let expected = (
            "Half-written note".to_string(),
            "logs rotated at 02:00".to_string(),
            "workaround".to_string(),
            "Raised the pool for now.".to_string(),
        );
        assert_eq!(kept().await, expected, "after checking a step");
        let step_text = page
            .js(&format!(
                "document.getElementById('step-{}').innerText",
                steps[0]
            ))
            .await;
        assert!(step_text.as_str().unwrap().contains("pool at 20 of 20"));

        // Uncheck it again: still in place, still nothing lost.
        page.click(&format!("#step-{} > form button", steps[0]))
            .await;
        page.wait_for(
            &format!(
                "!document.getElementById('step-{}').classList.contains('done')",
                steps[0]
            ),
            "step 1 unchecked in place",
        )
        .await;
        assert_eq!(kept().await, expected, "after unchecking a step");

        // Add the note: it joins the stream, its field empties, the rest stays.
        page.click(".note-form button").await;
        page.wait_for(
            "document.querySelector('.notes-stream')?.innerText.includes('Half-written note')",
            "the note in the stream",
        )
        .await;
        assert_eq!(value_of(&page, "#note").await, "");
        assert_eq!(
            value_of(&page, &format!("#finding-{}", steps[1])).await,
            "logs rotated at 02:00"
        );
        assert_eq!(
            value_of(&page, "#outcome-notes").await,
            "Raised the pool for now."
        );
        assert!(page.document_was_kept().await, "no page load happened");

        let vias: Vec<Value> = page.app.events(&id).await["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] != "created" && e["kind"] != "started")
            .map(|e| e["via"].clone())
            .collect();
        assert_eq!(vias, vec![json!("workspace"); 3]);
        page.screenshot("workspace-kept-input-desktop-light").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_workspace_action_shows_the_apis_words_and_keeps_the_text() {
    with_page(Script::Enabled, |page| async move {
        let (id, _) = active_with_steps(&page, "Printer queue stuck").await;
        page.goto(&format!("/sessions/{id}/work")).await;
        // Someone closes it behind the engineer's back.
        page.app.complete(&id, "escalated", None).await;
        page.type_into("#note", "Queue cleared by hand").await;
        page.click(".note-form button").await;
        page.wait_for(
            "document.querySelector('.note-form .api-error')?.innerText",
            "the refusal beside the note",
        )
        .await;
        let shown = page
            .js("document.querySelector('.note-form .api-error').innerText")
            .await;
        let problem: Value = page
            .app
            .post_json(
                &format!("/api/sessions/{id}/notes"),
                &json!({ "text": "x" }),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown, problem["detail"], "the API's own words");
        assert_eq!(value_of(&page, "#note").await, "Queue cleared by hand");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_in_a_plan_step_adds_the_next_step_and_never_submits() {
    with_page(Script::Enabled, |page| async move {
        page.goto("/sessions/new").await;
        page.type_into("#title", "Mail bounces").await;
        page.type_into("#step-1", "Check MX records").await;
        page.keys(ENTER).await;
        page.wait_for(
            "document.activeElement?.id === 'step-2'",
            "focus in a new step 2",
        )
        .await;
        page.keys("Read the bounce").await;
        page.keys(ENTER).await;
        page.wait_for(
            "document.activeElement?.id === 'step-3'",
            "focus in a new step 3",
        )
        .await;
        // Enter in the first step inserts right below it.
        page.find("#step-1").await.click().await.unwrap();
        page.keys(ENTER).await;
        page.wait_for(
            "document.activeElement?.id === 'step-2'",
            "a step below step 1",
        )
        .await;
        let plan = page
            .js("[...document.querySelectorAll('.plan-row input')].map(i => i.value)")
            .await;
        assert_eq!(plan, json!(["Check MX records", "", "Read the bounce", ""]));
        assert_eq!(page.js("location.pathname").await, "/sessions/new");
        let list: Value = page.app.get_json("/api/sessions").await;
        assert_eq!(list["items"], json!([]), "nothing was prepared");

        // Moving a step keeps focus on that step's arrows.
        page.find("button[aria-label='Move step 3 up']")
            .await
            .click()
            .await
            .unwrap();
        let focused = page
            .js("document.activeElement.getAttribute('aria-label')")
            .await;
        assert_eq!(focused, "Move step 2 up");
        page.find("button[aria-label='Move step 2 up']")
            .await
            .click()
            .await
            .unwrap();
        let focused = page
            .js("document.activeElement.getAttribute('aria-label')")
            .await;
        assert_eq!(focused, "Move step 1 down", "at the top, the other arrow");
        assert_eq!(value_of(&page, "#step-1").await, "Read the bounce");

        assert!(
            leaving_asks(&page).await,
            "a half-typed session asks before leaving"
        );
        page.find("button[value='prepare']")
            .await
            .click()
            .await
            .unwrap();
        page.wait_for(
            "/^\\/sessions\\/[0-9a-f-]{36}$/.test(location.pathname)",
            "the prepared session",
        )
        .await;
        let timeline = page
            .js("document.querySelector('.timeline').innerText")
            .await;
        assert!(
            timeline.as_str().unwrap().contains("via new session page"),
            "{timeline}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_close_popover_and_its_toast_name_the_session_and_whose_it_is() {
    with_page(Script::Enabled, |page| async move {
        let lee = page.app.client_as("lee", Role::Engineer).await;
        let created: Value = lee
            .post(page.app.url("/api/sessions"))
            .json(&json!({ "title": "Lee's SSO loop", "start": true }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let lees = created["id"].as_str().unwrap().to_string();
        let own = page.app.create_active("Dana's disk alert").await;

        // Dana's own card: the title names it, no owner needed.
        page.goto("/sessions").await;
        page.open_popover(&own).await;
        let title = page
            .js(&format!(
                "document.querySelector('#p-{own} .pop-title').innerText"
            ))
            .await;
        assert_eq!(title, "Close “Dana's disk alert”");
        let outline = page
            .js(&format!(
                "getComputedStyle({}).outlineStyle",
                Page::card(&own)
            ))
            .await;
        assert_eq!(outline, "solid", "the card of the open popover stands out");
        page.keys(super::ESCAPE).await;

        // An admin closing Lee's session is told it is Lee's.
        user(&page.app.accounts, "root", Role::Admin).await;
        page.click("form[action='/logout'] button").await;
        page.wait_for("location.pathname === '/login'", "the sign-in page")
            .await;
        super::sign_in(&page.app, &page.client, "root").await;
        page.goto("/sessions?owner=all").await;
        page.open_popover(&lees).await;
        let title = page
            .js(&format!(
                "document.querySelector('#p-{lees} .pop-title').innerText"
            ))
            .await;
        assert_eq!(title, "Close “Lee's SSO loop” (lee’s session)");
        page.confirm_close(&lees, "escalated", None).await;
        page.wait_for(
            "document.getElementById('toasts').innerText.includes('Session closed as Escalated')",
            "the toast",
        )
        .await;
        let toast = page.toast_text().await;
        assert!(
            toast.contains("Session closed as Escalated: “Lee's SSO loop” (lee’s session)"),
            "{toast}"
        );
    })
    .await;
}

async fn wait_for_query(page: &Page, query: &str) {
    page.wait_for(
        &format!("location.search === '{query}' && document.readyState === 'complete'"),
        &format!("the view {query}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_apply_on_change_list_every_engineer_and_the_owner_choice_is_remembered() {
    with_page(Script::Enabled, |page| async move {
        let lee = page.app.client_as("lee", Role::Engineer).await;
        for title in ["Lee's SSO loop", "Lee's mail bounce"] {
            let created = lee
                .post(page.app.url("/api/sessions"))
                .json(&json!({ "title": title }))
                .send()
                .await
                .unwrap();
            assert!(created.status().is_success());
        }
        user(&page.app.accounts, "sam", Role::Engineer).await;

        // Dana has none of her own, but the database is not empty: no
        // suggestion to fill it with sample data.
        page.goto("/sessions").await;
        let empty = page.js("document.querySelector('.empty').innerText").await;
        let empty = empty.as_str().unwrap();
        assert!(
            empty.contains("No sessions of yours yet") && !empty.contains("seed"),
            "{empty}"
        );
        let subtitle = page
            .js("document.querySelector('[data-subtitle]').innerText")
            .await;
        assert_eq!(subtitle, "Your troubleshooting sessions, newest first.");

        let owners = page
            .js("[...document.querySelectorAll('#f-owner option')].map(o => o.value)")
            .await;
        assert_eq!(owners, json!(["", "all", "lee", "sam"]), "every engineer");
        let filter_button = page
            .js("getComputedStyle(document.querySelector('.filter-apply')).display")
            .await;
        assert_eq!(filter_button, "none", "no Filter button needed with script");

        page.find("#f-owner")
            .await
            .select_by_value("lee")
            .await
            .unwrap();
        wait_for_query(&page, "?status=&outcome=&owner=lee&q=").await;
        let titles = page
            .js("[...document.querySelectorAll('.card h2')].map(h => h.innerText)")
            .await;
        assert_eq!(titles, json!(["Lee's mail bounce", "Lee's SSO loop"]));
        let subtitle = page
            .js("document.querySelector('[data-subtitle]').innerText")
            .await;
        assert_eq!(subtitle, "lee’s troubleshooting sessions, newest first.");

        page.find("#f-status")
            .await
            .select_by_value("prepared")
            .await
            .unwrap();
        wait_for_query(&page, "?status=prepared&outcome=&owner=lee&q=").await;

        // The next visit opens the same owner's view.
        page.goto("/sessions").await;
        let selected = page.js("document.querySelector('#f-owner').value").await;
        assert_eq!(selected, "lee", "the owner choice is remembered");
        assert_eq!(
            page.js("document.querySelectorAll('.card').length").await,
            json!(2)
        );
        page.goto("/sessions?owner=all").await;
        page.goto("/sessions").await;
        let subtitle = page
            .js("document.querySelector('[data-subtitle]').innerText")
            .await;
        assert_eq!(
            subtitle,
            "Everyone’s troubleshooting sessions, newest first."
        );
        assert_eq!(
            page.js("document.querySelector('#f-owner').value").await,
            "all"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_asks_before_removing_the_summary_and_the_timeline_keeps_it() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("VPN drops every hour").await;
        page.app
            .complete(&id, "workaround", Some("Raised the rekey timer to 8 h."))
            .await;
        let summarized = page.app.post(&format!("/api/sessions/{id}/summary")).await;
        assert!(summarized.status().is_success());
        let summary = page.app.session(&id).await["summary"]
            .as_str()
            .unwrap()
            .to_string();
        page.goto(&format!("/sessions/{id}")).await;
        page.click(&format!("a[href^='/sessions/{id}?reopen']"))
            .await;
        page.wait_for("document.getElementById('reopen-ask')", "the question")
            .await;
        assert_eq!(
            page.app.session(&id).await["status"],
            "completed",
            "asking changed nothing"
        );
        page.screenshot("details-reopen-ask-desktop-light").await;
        page.click("#reopen-ask button").await;
        page.wait_for(
            "location.pathname.endsWith('/work') && document.readyState === 'complete'",
            "the workspace of the reopened session",
        )
        .await;
        assert_eq!(page.app.session(&id).await["status"], "active");
        page.goto(&format!("/sessions/{id}")).await;
        let kept = page
            .js("document.querySelector('.timeline .kept-text .prose').textContent")
            .await;
        assert_eq!(
            kept,
            Value::String(summary),
            "the timeline keeps the summary"
        );
    })
    .await;
}

async fn token_count(page: &Page) -> usize {
    let tokens = page
        .app
        .accounts
        .tokens(Some(&casebook::domain::Username::parse("dana").unwrap()))
        .await
        .unwrap();
    tokens.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_is_shown_once_a_reload_makes_no_second_and_revoking_asks_and_says_so() {
    with_page(Script::Enabled, |page| async move {
        page.goto("/account").await;
        let before = token_count(&page).await;
        page.type_into("#token-name", "laptop CLI").await;
        page.click("form[action='/account/tokens'] button").await;
        page.wait_for(
            "document.querySelector('[data-new-token]')",
            "the new token",
        )
        .await;
        assert_eq!(
            page.js("location.pathname + location.search").await,
            "/account"
        );
        assert_eq!(token_count(&page).await, before + 1);

        // Copy puts the token on the clipboard.
        page.cdp(
            "Browser.grantPermissions",
            json!({ "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
                    "origin": page.app.url("") }),
        )
        .await;
        page.click("[data-copy='new-token']").await;
        page.wait_for(
            "document.querySelector('[data-copy]').innerText === 'Copied'",
            "the copy",
        )
        .await;

        page.client.refresh().await.unwrap();
        page.wait_for("document.readyState === 'complete'", "the reload")
            .await;
        assert_eq!(
            token_count(&page).await,
            before + 1,
            "a reload creates nothing"
        );
        assert_eq!(
            page.js("!!document.querySelector('[data-new-token]')")
                .await,
            json!(false),
            "the token is shown only once"
        );

        // Revoke asks first, then says it was done.
        page.click(".token-list .ask-inline summary").await;
        page.click("button[aria-label='Revoke token laptop CLI']")
            .await;
        page.wait_for(
            "document.getElementById('toasts').innerText.includes('revoked')",
            "the revocation message",
        )
        .await;
        let toast = page.toast_text().await;
        assert_eq!(toast, "Token “laptop CLI” revoked: it no longer works.");

        // The display name changes, and the header says so.
        let field = page.find("#display-name").await;
        field.clear().await.unwrap();
        field.send_keys("Dana Scully").await.unwrap();
        page.click("form[action='/account/name'] button").await;
        page.wait_for(
            "document.querySelector('nav a[href=\"/account\"]').innerText.includes('Dana Scully')",
            "the new name in the header",
        )
        .await;
        page.screenshot("account-after-changes-desktop-light").await;
    })
    .await;
}
