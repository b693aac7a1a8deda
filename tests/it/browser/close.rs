//! Closing a session from its card: in place with script, by form post
//! without it, and the conflict when someone else got there first.

use serde_json::{Value, json};

use super::{DOWN, ENTER, Page, Script, TAB, with_page};

async fn events(page: &Page, id: &str) -> Vec<Value> {
    page.app.events(id).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn card_has(id: &str, selector: &str) -> String {
    format!("!!document.querySelector('#s-{id} {selector}')")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirming_with_notes_updates_the_card_in_place_and_undo_reopens_it() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Vendor fixed their DNS").await;
        page.goto("/sessions").await;
        page.mark_document().await;

        page.open_popover(&id).await;
        page.confirm_close(&id, "resolved_externally", Some("Their resolver was fixed upstream.")).await;

        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(&id)),
            "the card to show Completed",
        )
        .await;
        let card_text = page.js(&format!("{}.innerText", Page::card(&id))).await;
        let card_text = card_text.as_str().unwrap();
        assert!(card_text.contains("Completed"), "{card_text}");
        assert!(card_text.contains("Resolved Externally"), "{card_text}");
        assert!(card_text.contains("Their resolver was fixed upstream."));
        assert_eq!(page.js(&card_has(&id, "[data-close]")).await, json!(false));
        assert_eq!(page.js(&card_has(&id, "a[href$=\"/work\"]")).await, json!(false));
        assert!(page.document_was_kept().await, "no page load happened");
        page.wait_for(
            "document.getElementById('toasts').innerText.includes('Session closed as Resolved Externally')",
            "the toast",
        )
        .await;

        let session = page.app.session(&id).await;
        assert_eq!(session["outcome"], "resolved_externally");
        assert_eq!(session["outcome_notes"], "Their resolver was fixed upstream.");
        let completed = events(&page, &id)
            .await
            .into_iter()
            .find(|e| e["kind"] == "completed")
            .expect("a completed event");
        assert_eq!(completed["via"], "history");

        page.find("#toasts button").await.click().await.unwrap();
        page.wait_for(
            &format!("{}?.dataset.status === 'active'", Page::card(&id)),
            "Undo to make the card active again",
        )
        .await;
        assert_eq!(page.app.session(&id).await["status"], "active");
        let reopened = events(&page, &id).await;
        assert_eq!(reopened.last().unwrap()["kind"], "reopened");
        assert_eq!(reopened.last().unwrap()["via"], "history");
        assert!(page.document_was_kept().await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_leaves_a_view_of_active_sessions_once_closed() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Only active ones").await;
        page.goto("/sessions?status=active").await;
        page.open_popover(&id).await;
        page.confirm_close(&id, "cancelled", None).await;
        page.wait_for(
            &format!("{}?.hidden", Page::card(&id)),
            "the card to leave the list",
        )
        .await;
        assert!(
            page.toast_text()
                .await
                .contains("Session closed as Cancelled")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirming_a_session_closed_elsewhere_explains_who_closed_it() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Two engineers, one session").await;
        page.goto("/sessions").await;
        page.open_popover(&id).await;
        page.find(&format!("#p-{id} select")).await.select_by_value("escalated").await.unwrap();

        // Someone else closes it while the popover is open.
        let response = page.app.complete(&id, "resolved", Some("Fixed by a restart")).await;
        assert_eq!(response.status(), 200);

        page.find(&format!("#p-{id} .bg-gradient-brand")).await.click().await.unwrap();
        page.wait_for(
            "document.getElementById('toasts').innerText.includes('It was closed as Resolved by dana at ')",
            "the toast to explain the conflict",
        )
        .await;
        assert!(page.toast_text().await.contains(" UTC."), "says when");
        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(&id)),
            "the card to show the server's state",
        )
        .await;
        let card_text = page.js(&format!("{}.innerText", Page::card(&id))).await;
        assert!(card_text.as_str().unwrap().contains("Resolved"));
        assert_eq!(page.js(&card_has(&id, "[data-close]")).await, json!(false));
        assert_eq!(page.app.session(&id).await["outcome"], "resolved");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_close_flow_works_with_the_keyboard_alone() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Keyboard only").await;
        page.goto("/sessions").await;
        let on_close =
            format!("document.activeElement === document.querySelector('#s-{id} [data-close]')");

        // Tab from the top of the page until the Close button has focus.
        page.find("body").await;
        let mut tabs = 0;
        while page.js(&on_close).await != json!(true) {
            page.keys(TAB).await;
            tabs += 1;
            assert!(tabs < 40, "Tab never reached the Close button");
        }
        page.keys(ENTER).await;
        page.wait_for(
            &format!("document.activeElement === document.querySelector('#p-{id} select')"),
            "focus in the select",
        )
        .await;
        page.keys(DOWN).await;
        page.wait_for(
            &format!("document.querySelector('#p-{id} select').value === 'resolved'"),
            "Resolved chosen",
        )
        .await;
        page.keys(TAB).await;
        page.keys("Restarted the spooler").await;
        page.keys(TAB).await; // Cancel
        page.keys(TAB).await; // Confirm
        assert_eq!(
            page.js("document.activeElement.textContent").await,
            json!("Confirm")
        );
        page.keys(ENTER).await;

        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(&id)),
            "the card to show Completed",
        )
        .await;
        page.wait_for(
            &format!("document.activeElement === document.querySelector('#s-{id} .actions a')"),
            "focus on the updated card's View Details",
        )
        .await;
        let session = page.app.session(&id).await;
        assert_eq!(session["outcome"], "resolved");
        assert_eq!(session["outcome_notes"], "Restarted the spooler");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_popover_form_closes_the_session() {
    with_page(Script::Disabled, |page| async move {
        let id = page.app.create_active("No script here").await;
        page.app.create_active("Another active one").await;
        page.goto("/sessions?status=active").await;
        assert_eq!(
            page.js("document.documentElement.classList.contains('js')")
                .await,
            json!(false),
            "app.js must not have run"
        );

        page.find(&format!("#s-{id} [data-close]"))
            .await
            .click()
            .await
            .unwrap();
        page.wait_for(
            &format!("{}.matches(':popover-open')", Page::popover(&id)),
            "the native popover",
        )
        .await;

        // Confirm without an outcome: the browser's own validation stops it.
        page.find(&format!("#p-{id} .bg-gradient-brand"))
            .await
            .click()
            .await
            .unwrap();
        assert_eq!(page.app.session(&id).await["status"], "active");

        page.confirm_close(&id, "workaround", Some("Rebooted the router"))
            .await;

        page.wait_for(
            "document.getElementById('toasts').innerText.includes('Session closed as Workaround')",
            "the server-rendered toast",
        )
        .await;
        let url = page.client.current_url().await.unwrap();
        assert_eq!(url.path(), "/sessions");
        assert!(
            url.query().unwrap().contains("status=active"),
            "the filter is kept: {url}"
        );
        assert_eq!(
            page.js(&format!("!!{}", Page::card(&id))).await,
            json!(false)
        );
        let session = page.app.session(&id).await;
        assert_eq!(session["outcome"], "workaround");
        assert_eq!(session["outcome_notes"], "Rebooted the router");
        let body: Value = page
            .app
            .get(&format!("/api/sessions/{id}/events"))
            .await
            .json()
            .await
            .unwrap();
        let last = body["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["kind"].as_str(), last["via"].as_str()),
            (Some("completed"), Some("history"))
        );

        // Undo from the toast, still without script.
        page.find("#toasts button").await.click().await.unwrap();
        page.wait_for(
            "document.getElementById('toasts').innerText.includes('Session reopened')",
            "the reopened toast",
        )
        .await;
        assert_eq!(page.app.session(&id).await["status"], "active");
    })
    .await;
}
