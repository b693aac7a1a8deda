//! While working, the plan changes (add, reword, skip a step) and one's own
//! note is corrected: in place with script, keeping what is typed elsewhere,
//! and with plain forms without it. Each lands in the timeline.

use serde_json::{Value, json};

use super::a11y::{axe_source, violations};
use super::{Page, Script, with_page};

async fn active(page: &Page) -> (String, Vec<String>) {
    let session = page
        .app
        .create(
            "Checkout slow for Northwind",
            &["Check the pool", "Read the logs"],
        )
        .await;
    let id = session["id"].as_str().unwrap().to_string();
    page.app.post(&format!("/api/sessions/{id}/start")).await;
    let steps = session["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    (id, steps)
}

fn kinds(events: &Value) -> Vec<String> {
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_are_added_reworded_and_skipped_and_a_note_corrected_in_place_keeping_unsent_text() {
    with_page(Script::Enabled, |page| async move {
        let (id, steps) = active(&page).await;
        page.app
            .post_json(
                &format!("/api/sessions/{id}/notes"),
                &json!({ "text": "Pool at 20 of 200" }),
            )
            .await;
        page.goto(&format!("/sessions/{id}/work")).await;
        page.mark_document().await;
        page.find("#note").await.send_keys("Unsent thought").await.unwrap();
        let finding = format!("#finding-{}", steps[1]);
        page.find(&finding)
            .await
            .send_keys("half a finding")
            .await
            .unwrap();

        page.find("#new-step").await.send_keys("Check the CDN").await.unwrap();
        page.click(".add-step-form button").await;
        page.wait_for(
            "document.querySelectorAll('.checklist .check-item').length === 3",
            "the new step",
        )
        .await;
        assert_eq!(
            page.js(&format!("document.querySelector('{finding}').value"))
                .await,
            "half a finding",
            "a finding typed in another step survives adding a step"
        );

        page.click(&format!("#step-{} summary", steps[0])).await;
        let field = page.find(&format!("#reword-{}", steps[0])).await;
        field.clear().await.unwrap();
        field.send_keys("Check the connection pool").await.unwrap();
        page.click(&format!("#step-{} .ask-inline button", steps[0])).await;
        page.wait_for(
            &format!(
                "document.querySelector('#step-{} .step-text').innerText === 'Check the connection pool'",
                steps[0]
            ),
            "the new wording",
        )
        .await;

        page.click("button[aria-label='Skip step 2']").await;
        page.wait_for(
            &format!("document.querySelector('#step-{}.skipped')", steps[1]),
            "the skipped step",
        )
        .await;

        page.click(".notes-stream summary").await;
        let correction = page.find(".notes-stream textarea").await;
        correction.clear().await.unwrap();
        correction.send_keys("Pool at 20 of 20").await.unwrap();
        page.click(".notes-stream .ask-inline button").await;
        page.wait_for(
            "document.querySelector('.notes-stream .note-meta').innerText.includes('corrected')",
            "the corrected note",
        )
        .await;
        assert_eq!(
            page.js("document.querySelector('.notes-stream .prose').innerText").await,
            "Pool at 20 of 20"
        );

        assert!(page.document_was_kept().await, "everything happened in place");
        assert_eq!(
            page.js("document.getElementById('note').value").await,
            "Unsent thought",
            "the unsent note survives"
        );
        let events = page.app.events(&id).await;
        assert_eq!(
            kinds(&events)[3..],
            ["step_added", "step_reworded", "step_skipped", "note_corrected"]
        );
        assert!(
            events["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["text"] == "Pool at 20 of 200"),
            "the timeline keeps the first text"
        );
        page.screenshot("workspace-plan-edits-desktop-light").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_a_step_is_added_and_skipped_with_plain_forms() {
    with_page(Script::Disabled, |page| async move {
        let (id, steps) = active(&page).await;
        page.goto(&format!("/sessions/{id}/work")).await;
        page.find("#new-step")
            .await
            .send_keys("Check the CDN")
            .await
            .unwrap();
        page.click(".add-step-form button").await;
        page.wait_for(
            "document.querySelectorAll('.checklist .check-item').length === 3",
            "the new step",
        )
        .await;
        page.click("button[aria-label='Skip step 1']").await;
        page.wait_for(
            &format!("document.querySelector('#step-{}.skipped')", steps[0]),
            "the skipped step",
        )
        .await;
        let session = page.app.session(&id).await;
        assert_eq!(session["steps"][2]["text"], "Check the CDN");
        assert!(session["steps"][0]["skipped_at"].is_string());
        let details = page.app.events(&id).await;
        assert_eq!(details["items"][2]["via"], "workspace");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_with_its_plan_edits_open_is_axe_clean_and_fits_a_phone() {
    let axe = axe_source();
    with_page(Script::Enabled, |page| async move {
        let (id, steps) = active(&page).await;
        page.app
            .post_json(
                &format!("/api/sessions/{id}/notes"),
                &json!({ "text": "A note" }),
            )
            .await;
        for (width, name) in [(1280, "desktop"), (375, "phone")] {
            for scheme in ["light", "dark"] {
                page.emulate(width, 900, scheme).await;
                page.goto(&format!("/sessions/{id}/work")).await;
                page.click(&format!("#step-{} summary", steps[0])).await;
                page.click(".notes-stream summary").await;
                assert_eq!(
                    violations(&page, &axe).await,
                    Vec::<Value>::new(),
                    "{name} {scheme}"
                );
                assert_eq!(
                    page.js("document.documentElement.scrollWidth <= innerWidth")
                        .await,
                    json!(true),
                    "{name} {scheme} scrolls sideways"
                );
                page.screenshot(&format!("workspace-plan-edits-{name}-{scheme}"))
                    .await;
            }
        }
    })
    .await;
}
