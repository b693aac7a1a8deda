//! Closing a session from its card: in place with script, by form post
//! without it, and the conflict when someone else got there first.

use serde_json::{Value, json};

use super::{DOWN, ENTER, Page, Script, TAB, with_page, with_page_where};

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
        // Hidden at once, and gone when the live stream tells of the close.
        page.wait_for(
            &format!("!{0} || {0}.hidden", Page::card(&id)),
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
    // Without live updates (no stream may open), as when the news of the
    // close has not reached the page yet: the answer to Confirm explains.
    with_page_where(|s| s.limits.max_streams = 0, Script::Enabled, |page| async move {
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

/// The script has no clock rule of its own: a card it puts in place comes
/// from the server, so 40 hours ago reads the same ("yesterday") on a card the
/// server rendered with the page and on one the script swapped in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_updated_by_the_script_reads_its_times_as_the_server_does() {
    with_page(Script::Enabled, |page| async move {
        let swapped = page.app.create_active("Closed from its card").await;
        let untouched = page.app.create_active("Left as it was").await;
        let forty_hours: i64 = 40 * 3_600 * 1_000_000;
        page.app
            .db()
            .raw_execute(&format!(
                "update sessions set created_at = created_at - {forty_hours}, \
                 started_at = started_at - {forty_hours}"
            ))
            .await
            .unwrap();
        page.goto("/sessions").await;
        let started =
            |id: &str| format!("document.querySelector('#s-{id} time[datetime]').innerText");
        assert_eq!(page.js(&started(&swapped)).await, "yesterday");
        assert_eq!(page.js(&started(&untouched)).await, "yesterday");

        page.mark_document().await;
        page.open_popover(&swapped).await;
        page.confirm_close(&swapped, "workaround", None).await;
        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(&swapped)),
            "the script to put the completed card in place",
        )
        .await;
        assert!(page.document_was_kept().await, "the script did it");
        let times = page
            .js(&format!(
                "[...document.querySelectorAll('#s-{swapped} time')].map(t => t.innerText)"
            ))
            .await;
        assert_eq!(
            times,
            json!(["yesterday", "just now"]),
            "started, completed"
        );
        assert_eq!(page.js(&started(&untouched)).await, "yesterday");
        let toast = page.toast_text().await;
        assert!(
            toast.contains("Session closed as Workaround: “Closed from its card”"),
            "{toast}"
        );
    })
    .await;
}

/// Start on a card calls the API and puts the server's card in place, with
/// focus on its Resume; a refusal is the API's own words in the toast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_a_card_works_in_place_and_a_refusal_says_what_the_api_says() {
    with_page(Script::Enabled, |page| async move {
        let fresh = page.app.create("Ready to start", &[]).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let raced = page.app.create("Started elsewhere", &[]).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        // No live stream: this page learns of the other start only by acting.
        page.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": "window.EventSource = undefined" }),
        )
        .await;
        page.goto("/sessions").await;
        page.mark_document().await;
        page.find(&format!("#s-{fresh} form[action$='/start'] button"))
            .await
            .click()
            .await
            .unwrap();
        page.wait_for(
            &format!("{}?.dataset.status === 'active'", Page::card(&fresh)),
            "the card to show Active",
        )
        .await;
        page.wait_for(
            &format!("document.activeElement?.matches('#s-{fresh} a[href$=\"/work\"]')"),
            "focus on the card's Resume",
        )
        .await;
        let started = events(&page, &fresh).await;
        assert_eq!(started.last().unwrap()["kind"], "started");
        assert_eq!(started.last().unwrap()["via"], "history");

        // Someone starts the other one first.
        page.app.post(&format!("/api/sessions/{raced}/start")).await;
        let problem: Value = page
            .app
            .post(&format!("/api/sessions/{raced}/start"))
            .await
            .json()
            .await
            .unwrap();
        let detail = problem["detail"].as_str().unwrap().to_string();
        page.js(&format!(
            "document.querySelector('#s-{raced} form[action$=\"/start\"]').requestSubmit()"
        ))
        .await;
        page.wait_for(
            &format!("document.getElementById('toasts').innerText.includes({detail:?})"),
            "the API's words in the toast",
        )
        .await;
        page.wait_for(
            &format!("{}?.dataset.status === 'active'", Page::card(&raced)),
            "the card refreshed to the server's state",
        )
        .await;
        assert!(page.document_was_kept().await);
    })
    .await;
}
