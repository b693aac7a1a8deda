//! One path per action: with script, the details page and the workspace
//! call the JSON API for start, complete, reopen and the summary, and show
//! what the server renders or says (a refusal is the API's own `detail`).

use serde_json::{Value, json};

use super::{Page, Script, with_page_where};

async fn wait_for_path(page: &Page, path: &str) {
    page.wait_for(
        &format!("location.pathname === '{path}' && document.readyState === 'complete'"),
        &format!("the page at {path}"),
    )
    .await;
}

/// The timeline as "kind via surface".
async fn vias(page: &Page, id: &str) -> Vec<String> {
    page.app.events(id).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} via {}",
                e["kind"].as_str().unwrap(),
                e["via"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_details_page_and_the_workspace_act_through_the_api_and_say_what_it_says() {
    // No live stream: the refusal below must come from the action itself.
    with_page_where(
        |s| s.limits.max_streams = 0,
        Script::Enabled,
        |page| async move {
            let id = page
                .app
                .create("Mail queue stuck", &["Check the queue"])
                .await["id"]
                .as_str()
                .unwrap()
                .to_string();

            // Start on the details page: on to the workspace.
            page.goto(&format!("/sessions/{id}")).await;
            page.click("form[action$='/start'] button").await;
            wait_for_path(&page, &format!("/sessions/{id}/work")).await;

            // Someone closes it meanwhile: Complete says why, in the API's
            // words, beside the form, and keeps what was typed.
            page.find("#outcome")
                .await
                .select_by_value("workaround")
                .await
                .unwrap();
            page.find("#outcome-notes")
                .await
                .send_keys("Flushed the queue by hand")
                .await
                .unwrap();
            page.mark_document().await;
            page.app.complete(&id, "escalated", None).await;
            let problem: Value = page
                .app
                .complete(&id, "workaround", None)
                .await
                .json()
                .await
                .unwrap();
            page.click("[data-confirm]").await;
            page.wait_for(
                "document.querySelector('[data-outcome-form] .api-error')?.innerText",
                "the refusal beside Complete",
            )
            .await;
            let shown = page
                .js("document.querySelector('[data-outcome-form] .api-error').innerText")
                .await;
            assert_eq!(shown, problem["detail"], "the API's own words");
            assert_eq!(
                page.js("document.querySelector('#outcome-notes').value")
                    .await,
                "Flushed the queue by hand"
            );
            assert!(page.document_was_kept().await);

            // The summary is generated in place on the details page.
            page.goto(&format!("/sessions/{id}")).await;
            page.mark_document().await;
            page.click("#summary-block form button").await;
            page.wait_for("document.querySelector('[data-summary]')", "the summary")
                .await;
            assert!(page.document_was_kept().await, "no page load");
            page.cdp(
                "Browser.grantPermissions",
                json!({ "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
                    "origin": page.app.url("") }),
            )
            .await;
            page.click("[data-copy='summary-text']").await;
            page.wait_for(
                "document.querySelector('[data-copy=\"summary-text\"]').innerText === 'Copied'",
                "the summary copied",
            )
            .await;

            // Reopen asks first (it removes the summary), then goes to work.
            page.click("a[href$='reopen=ask#reopen-ask']").await;
            page.click("#reopen-ask form button").await;
            wait_for_path(&page, &format!("/sessions/{id}/work")).await;

            assert_eq!(
                vias(&page, &id).await,
                [
                    "created via api",
                    "started via details",
                    "completed via api",
                    "summary_generated via details",
                    "reopened via details",
                ]
            );
        },
    )
    .await;
}
