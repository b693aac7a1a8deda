//! Live pages: what a colleague changes elsewhere shows on an open page
//! without a reload, and never at the cost of what was being typed.

use std::time::{Duration, Instant};

use casebook::domain::Role;
use fantoccini::{Client, Locator};
use serde_json::json;

use super::{Page, Script, WAIT, connect, sign_in, with_page};
use crate::helpers::user;

/// A second browser, signed in as the admin `erin`, on the history page of
/// everyone's sessions.
async fn colleague(page: &Page) -> Client {
    user(&page.app.accounts, "erin", Role::Admin).await;
    let other = connect(Script::Enabled).await;
    sign_in(&page.app, &other, "erin").await;
    other
        .goto(&page.app.url("/sessions?owner=all"))
        .await
        .unwrap();
    other
}

async fn element(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
}

/// Closes `id` through its card's popover in `client`, as a person would.
async fn close_through_popover(client: &Client, id: &str, outcome: &str) {
    element(client, &format!("#s-{id} [data-close]"))
        .await
        .click()
        .await
        .unwrap();
    element(client, &format!("#p-{id} select"))
        .await
        .select_by_value(outcome)
        .await
        .unwrap();
    element(client, &format!("#p-{id} .bg-gradient-brand"))
        .await
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let status = client
            .execute(
                &format!("return document.getElementById('s-{id}')?.dataset.status"),
                vec![],
            )
            .await
            .unwrap();
        if status == "completed" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the colleague's close went through"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Streams the server has opened so far.
async fn streams_opened(page: &Page) -> u32 {
    let metrics = page.app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("casebook_streams_opened_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Goes to `path` and waits until its page has subscribed: changes from
/// then on reach it.
async fn goto_live(page: &Page, path: &str) {
    let before = streams_opened(page).await;
    page.goto(path).await;
    let deadline = Instant::now() + WAIT;
    while streams_opened(page).await <= before {
        assert!(
            Instant::now() < deadline,
            "the page at {path} opened its stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_in_another_browser_shows_as_the_completed_card_without_a_reload() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Mail queue stuck").await;
        goto_live(&page, "/sessions").await;
        page.mark_document().await;

        let other = colleague(&page).await;
        close_through_popover(&other, &id, "workaround").await;
        let _ = other.close().await;

        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(&id)),
            "the first browser's card to show Completed",
        )
        .await;
        let text = page.js(&format!("{}.innerText", Page::card(&id))).await;
        assert!(text.as_str().unwrap().contains("Workaround"), "{text}");
        assert!(page.document_was_kept().await, "no reload happened");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_elsewhere_appears_at_the_top_when_it_passes_the_filters() {
    with_page(Script::Enabled, |page| async move {
        let older = page.app.create_active("Already here").await;
        goto_live(&page, "/sessions?status=active").await;
        page.mark_document().await;

        let prepared = page.app.create("Not started, so not shown", &[]).await;
        let started = page.app.create_active("Started elsewhere").await;
        page.wait_for(
            &format!("document.querySelector('#cards > .card')?.id === 's-{started}'"),
            "the new active session at the top",
        )
        .await;
        assert_eq!(
            page.js(&format!(
                "!!document.getElementById('s-{}')",
                prepared["id"].as_str().unwrap()
            ))
            .await,
            json!(false),
            "a session the filters leave out stays out"
        );
        assert_eq!(
            page.js(&format!("!!document.getElementById('s-{older}')"))
                .await,
            json!(true)
        );
        // Closed elsewhere, it no longer passes the filter: it leaves.
        page.app.complete(&started, "resolved", None).await;
        page.wait_for(
            &format!("!document.getElementById('s-{started}')"),
            "the closed card to leave the view of active sessions",
        )
        .await;
        assert!(page.document_was_kept().await);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_popover_on_a_card_closed_elsewhere_closes_and_the_toast_says_by_whom_and_as_what()
{
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Certificate expired").await;
        goto_live(&page, "/sessions").await;
        page.open_popover(&id).await;
        page.find(&format!("#p-{id} select"))
            .await
            .select_by_value("escalated")
            .await
            .unwrap();
        page.find(&format!("#p-{id} textarea"))
            .await
            .send_keys("Sent to the PKI team")
            .await
            .unwrap();

        let erin = page.app.client_as("erin", Role::Admin).await;
        let closed = erin
            .post(page.app.url(&format!("/api/sessions/{id}/complete")))
            .json(&json!({ "outcome": "resolved" }))
            .send()
            .await
            .unwrap();
        assert!(closed.status().is_success());

        page.wait_for(
            &format!("!{}?.matches(':popover-open')", Page::popover(&id)),
            "the popover to close",
        )
        .await;
        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(&id)),
            "the card to show Completed",
        )
        .await;
        let toast = page.toast_text().await;
        assert!(toast.contains("erin closed"), "{toast}");
        assert!(toast.contains("Resolved"), "{toast}");
        assert!(
            toast.contains("Escalated") && toast.contains("Sent to the PKI team"),
            "what was typed is shown, not lost silently: {toast}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_shows_notes_steps_and_status_changed_elsewhere_and_keeps_what_is_typed() {
    with_page(Script::Enabled, |page| async move {
        let session = page
            .app
            .create("Slow logins", &["Check the LDAP latency"])
            .await;
        let id = session["id"].as_str().unwrap().to_string();
        let step = session["steps"][0]["id"].as_str().unwrap().to_string();
        page.app.post(&format!("/api/sessions/{id}/start")).await;
        goto_live(&page, &format!("/sessions/{id}/work")).await;
        page.mark_document().await;
        page.find("#note")
            .await
            .send_keys("Half-written thought")
            .await
            .unwrap();

        page.app
            .post_json(
                &format!("/api/sessions/{id}/notes"),
                &json!({ "text": "Added from the API" }),
            )
            .await;
        page.wait_for(
            "document.querySelector('.notes-stream')?.innerText.includes('Added from the API')",
            "the note added elsewhere",
        )
        .await;
        page.app
            .post_json(
                &format!("/api/sessions/{id}/steps/{step}/check"),
                &json!({ "finding": "400 ms" }),
            )
            .await;
        page.wait_for(
            &format!("document.getElementById('step-{step}')?.classList.contains('done')"),
            "the step checked elsewhere",
        )
        .await;
        assert_eq!(
            page.js("document.getElementById('note').value").await,
            "Half-written thought",
            "what was being typed is kept"
        );

        goto_live(&page, &format!("/sessions/{id}")).await;
        page.mark_document().await;
        page.app
            .complete(&id, "resolved", Some("Index rebuilt"))
            .await;
        page.wait_for(
            "document.querySelector('.head .badge')?.innerText.includes('Completed')",
            "the details page to show Completed",
        )
        .await;
        assert!(page.document_was_kept().await, "no reload happened");
    })
    .await;
}
