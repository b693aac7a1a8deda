//! Runbooks in the pages: save a session's plan as a runbook from its
//! details page, find it on New session by typing, start a session from it.

use serde_json::{Value, json};

use super::{Page, Script, with_page};

const PLAN: [&str; 3] = [
    "Check the tunnel logs at the drop",
    "Compare the rekey timers of both peers",
    "Raise the lifetime to 8 hours",
];

async fn wait_for_path(page: &Page, path: &str) {
    page.wait_for(
        &format!("location.pathname === '{path}' && document.readyState === 'complete'"),
        &format!("the page at {path}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_saved_as_a_runbook_fills_a_new_session_with_the_same_steps() {
    with_page(Script::Enabled, |page| async move {
        let app = &page.app;
        let session = app
            .post_json(
                "/api/sessions",
                &json!({ "title": "VPN tunnel drops every hour", "problem": "Drops on the hour.", "steps": PLAN, "start": true }),
            )
            .await
            .json::<Value>()
            .await
            .unwrap();
        let id = session["id"].as_str().unwrap();
        app.complete(id, "resolved", None).await;
        // Another runbook, which typing filters out.
        app.post_json("/api/runbooks", &json!({ "name": "Printer offline", "steps": ["Power cycle"] }))
            .await;

        page.goto(&format!("/sessions/{id}")).await;
        page.js("document.getElementById('h-save-runbook').scrollIntoView()").await;
        page.screenshot("runbooks-save-plan").await;
        let name = page.find("#save-runbook-name").await;
        name.clear().await.unwrap();
        name.send_keys("VPN rekey mismatch").await.unwrap();
        page.find("form.save-runbook button").await.click().await.unwrap();
        wait_for_path(&page, "/runbooks").await;
        assert!(page.toast_text().await.contains("VPN rekey mismatch"));
        page.screenshot("runbooks-list").await;

        page.find("nav a[href='/sessions/new']").await.click().await.unwrap();
        wait_for_path(&page, "/sessions/new").await;
        let visible = "[...document.querySelectorAll('[data-runbook-options] li')].filter(li => !li.hidden).map(li => li.querySelector('a').textContent)";
        assert_eq!(page.js(visible).await, json!(["Printer offline", "VPN rekey mismatch"]));
        page.find("#runbook-q").await.send_keys("rekey").await.unwrap();
        page.wait_for(
            &format!("{visible}.length === 1"),
            "the list to narrow as the engineer types",
        )
        .await;
        assert_eq!(page.js(visible).await, json!(["VPN rekey mismatch"]));
        page.screenshot("runbooks-new-session-filtered").await;

        page.find("[data-runbook-options] li:not([hidden]) a").await.click().await.unwrap();
        page.wait_for(
            "new URLSearchParams(location.search).has('runbook') && document.readyState === 'complete'",
            "the form filled from the runbook",
        )
        .await;
        let steps = page
            .js("[...document.querySelectorAll('.plan-row input')].map(i => i.value)")
            .await;
        assert_eq!(steps, json!(PLAN));
        assert_eq!(page.js("document.getElementById('problem').value").await, json!("Drops on the hour."));

        page.find("#title").await.send_keys("VPN drops at Globex").await.unwrap();
        page.find("button[value='prepare']:not(.default-submit)").await.click().await.unwrap();
        page.wait_for(
            "/^\\/sessions\\/[0-9a-f-]{36}$/.test(location.pathname)",
            "the new session's details page",
        )
        .await;
        let new_id = page.js("location.pathname.split('/')[2]").await;
        let new = app.session(new_id.as_str().unwrap()).await;
        let texts: Vec<&str> = new["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, PLAN);
        assert_eq!(new["title"], "VPN drops at Globex");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_script_a_runbook_is_chosen_by_a_link_and_retired_from_its_page() {
    with_page(Script::Disabled, |page| async move {
        let app = &page.app;
        let runbook = app
            .post_json("/api/runbooks", &json!({ "name": "Disk full", "problem": "A disk is full.", "steps": ["df -h", "Rotate the logs"] }))
            .await
            .json::<Value>()
            .await
            .unwrap();
        let id = runbook["id"].as_str().unwrap();
        page.goto("/sessions/new?runbook_q=disk").await;
        page.find(&format!("a[href='/sessions/new?runbook={id}']")).await.click().await.unwrap();
        page.wait_for("document.querySelectorAll('.plan-row input').length === 2", "the plan from the runbook").await;
        let steps = page
            .js("[...document.querySelectorAll('.plan-row input')].map(i => i.value)")
            .await;
        assert_eq!(steps, json!(["df -h", "Rotate the logs"]));

        page.goto("/runbooks").await;
        page.find("form[action$='/retire'] button").await.click().await.unwrap();
        wait_for_path(&page, "/runbooks").await;
        page.wait_for("document.querySelector('.empty') !== null", "an empty list").await;
        let listed = app.get_json("/api/runbooks?include_retired=true").await;
        assert!(listed["items"][0]["retired_at"].is_string());
    })
    .await;
}
