//! A session's whole way through the pages: prepare with a plan, start, work,
//! leave, resume from the history page, complete, summarize, read the details.

use serde_json::Value;

use super::{Page, Script, with_page};

async fn text_of(page: &Page, expression: &str) -> String {
    page.js(expression)
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits for a page whose path matches, after a form post and its redirect.
async fn wait_for_path(page: &Page, suffix: &str) {
    page.wait_for(
        &format!("location.pathname.endsWith('{suffix}') && document.readyState === 'complete'"),
        &format!("a page at …{suffix}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_prepared_worked_resumed_completed_and_summarized_in_the_pages() {
    with_page(Script::Enabled, |page| async move {
        page.goto("/sessions").await;
        page.click("nav a[href='/sessions/new']").await;
        wait_for_path(&page, "/sessions/new").await;

        page.type_into("#title", "VPN drops every hour").await;
        page.type_into("#problem", "Berlin office users lose the tunnel at :00.").await;
        page.type_into("#reference", "INC-4711").await;
        page.type_into("#customer", "ACME Corp").await;
        // The plan: typed out of order, then a step moved up and a spare removed.
        page.type_into("#step-1", "Check tunnel logs").await;
        for text in ["Call the vendor", "Compare rekey timers", "spare"] {
            page.click("[data-add-step]").await;
            let n = page.js("document.querySelectorAll('.plan-row').length").await;
            page.type_into(&format!("#step-{n}"), text).await;
        }
        page.click("button[aria-label='Remove step 4']").await;
        page.click("button[aria-label='Move step 3 up']").await;
        let plan = page
            .js("[...document.querySelectorAll('.plan-row input')].map(i => i.value)")
            .await;
        assert_eq!(
            plan,
            serde_json::json!(["Check tunnel logs", "Compare rekey timers", "Call the vendor"])
        );
        page.click("button[value='start']").await;
        wait_for_path(&page, "/work").await;
        let path = text_of(&page, "location.pathname").await;
        let id = path.split('/').nth(2).unwrap().to_string();

        for note in ["Rekey happens every 3600 s.", "Peer runs firmware 9.1."] {
            page.type_into("#note", note).await;
            page.click(".note-form button").await;
            page.wait_for(
                &format!("document.querySelector('.notes-stream')?.innerText.includes('{note}')"),
                "the note in the stream",
            )
            .await;
        }
        let steps = page.app.session(&id).await["steps"].clone();
        for (i, finding) in [(0, "rekey failures at :00"), (1, "3600 s vs 28800 s")] {
            let step = steps[i]["id"].as_str().unwrap();
            page.type_into(&format!("#finding-{step}"), finding).await;
            page.click(&format!("#step-{step} .check-form button")).await;
            page.wait_for(
                &format!("document.querySelector('#step-{step}').classList.contains('done')"),
                "the step to be checked",
            )
            .await;
        }

        // Leave, and come back through the history page's Resume.
        page.goto("/sessions").await;
        page.click(&format!("#s-{id} a[href$='/work']")).await;
        wait_for_path(&page, "/work").await;
        let notes = page
            .js("[...document.querySelectorAll('.notes-stream li .prose')].map(p => p.innerText)")
            .await;
        assert_eq!(
            notes,
            serde_json::json!(["Rekey happens every 3600 s.", "Peer runs firmware 9.1."]),
            "notes oldest first, newest at the bottom"
        );
        let done = page
            .js("[...document.querySelectorAll('.check-item')].map(li => li.classList.contains('done'))")
            .await;
        assert_eq!(done, serde_json::json!([true, true, false]));
        let checklist = text_of(&page, "document.querySelector('.checklist').innerText").await;
        assert!(checklist.contains("rekey failures at :00") && checklist.contains("3600 s vs 28800 s"));

        // Complete: Confirm waits for an outcome, like the history popover.
        let confirm = "document.querySelector('[data-confirm]').disabled";
        assert_eq!(page.js(confirm).await, Value::Bool(true));
        let options = page.js("[...document.querySelectorAll('#outcome option')].map(o => o.text)").await;
        assert_eq!(
            options,
            serde_json::json!(["Choose an outcome…", "Resolved", "Escalated", "Workaround", "Unresolved", "Cancelled", "Resolved Externally"])
        );
        page.find("#outcome").await.select_by_value("workaround").await.unwrap();
        assert_eq!(page.js(confirm).await, Value::Bool(false));
        page.type_into("#outcome-notes", "Raised the rekey timer to 8 h.").await;
        page.click("[data-confirm]").await;
        wait_for_path(&page, &format!("/sessions/{id}")).await;
        let details = text_of(&page, "document.querySelector('main').innerText").await;
        assert!(details.contains("No summary yet"), "{details}");
        assert_eq!(page.app.session(&id).await["summary"], Value::Null);

        page.click("form[action$='/summary'] button").await;
        page.wait_for("document.querySelector('[data-summary]')", "the summary").await;
        let summary = text_of(&page, "document.querySelector('[data-summary]').innerText").await;
        assert!(summary.contains("Workaround") && summary.contains("rekey failures at :00"), "{summary}");
        let outcome = text_of(&page, "document.querySelector('.outcome').innerText").await;
        assert!(outcome.contains("Workaround"));
        let notes = text_of(&page, "document.querySelector('[data-outcome-notes]').innerText").await;
        assert_eq!(notes, "Raised the rekey timer to 8 h.");

        let timeline = page
            .js("[...document.querySelectorAll('.timeline .what')].map(e => e.innerText)")
            .await;
        let timeline: Vec<String> = serde_json::from_value(timeline).unwrap();
        let expected = [
            "prepared the session",
            "started the session",
            "noted: Rekey happens every 3600 s.",
            "noted: Peer runs firmware 9.1.",
            "checked step 1 (Check tunnel logs): rekey failures at :00",
            "checked step 2 (Compare rekey timers): 3600 s vs 28800 s",
            "closed it as Workaround: Raised the rekey timer to 8 h.",
            "generated the summary (local)",
        ];
        assert_eq!(timeline, expected);
        let vias = page
            .js("[...document.querySelectorAll('.timeline li > span.muted')].map(s => s.innerText.replace(/^via /, ''))")
            .await;
        let mut expected = vec!["workspace"; 8];
        expected[..2].copy_from_slice(&["new session page"; 2]);
        expected[7] = "details page";
        assert_eq!(
            vias,
            serde_json::json!(expected),
            "prepared and started on the New session page, worked in the workspace, summarized on the details page"
        );
        page.screenshot("details-after-summary-desktop-light").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prepare_form_shows_each_message_beside_its_field_and_keeps_the_input() {
    with_page(Script::Enabled, |page| async move {
        page.goto("/sessions/new").await;
        page.type_into("#problem", "Keep this text").await;
        page.type_into("#customer", "Globex").await;
        let long_step = "x".repeat(501);
        page.js(&format!(
            "document.querySelector('#step-1').value = '{long_step}'"
        ))
        .await;
        page.click(".form-actions button[value='prepare']").await;
        page.wait_for(
            "document.querySelector('#title-error')",
            "the title's message",
        )
        .await;

        let title_error = text_of(&page, "document.querySelector('#title-error').innerText").await;
        assert_eq!(title_error, "Must not be empty.");
        let step_error = text_of(&page, "document.querySelector('#step-1-error').innerText").await;
        assert!(
            step_error.contains("at most 500 characters"),
            "{step_error}"
        );
        assert_eq!(
            page.js("document.querySelector('#title').getAttribute('aria-describedby')")
                .await,
            Value::String("title-error".into())
        );
        assert_eq!(
            text_of(&page, "document.querySelector('#problem').value").await,
            "Keep this text"
        );
        assert_eq!(
            text_of(&page, "document.querySelector('#customer').value").await,
            "Globex"
        );
        assert_eq!(
            text_of(&page, "document.querySelector('#step-1').value").await,
            long_step
        );
        let list: Value = page.app.get("/api/sessions").await.json().await.unwrap();
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            0,
            "nothing was created"
        );
        page.screenshot("prepare-errors-desktop-light").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_script_the_plan_editor_and_the_workspace_still_work() {
    with_page(Script::Disabled, |page| async move {
        page.goto("/sessions/new").await;
        page.type_into("#title", "Printer offline").await;
        page.type_into("#step-1", "Power cycle").await;
        page.click("[data-add-step]").await;
        page.wait_for(
            "document.querySelector('#step-2')",
            "a second row from the server",
        )
        .await;
        assert_eq!(
            text_of(&page, "document.querySelector('#title').value").await,
            "Printer offline"
        );
        page.type_into("#step-2", "Check the queue").await;
        page.click("button[aria-label='Move step 2 up']").await;
        page.wait_for(
            "document.querySelector('#step-1').value === 'Check the queue'",
            "the move",
        )
        .await;
        page.click("button[value='start']").await;
        wait_for_path(&page, "/work").await;
        page.type_into("#note", "Queue was stuck").await;
        page.click(".note-form button").await;
        page.wait_for("document.querySelector('.notes-stream')", "the note")
            .await;
        page.find("#outcome")
            .await
            .select_by_value("resolved")
            .await
            .unwrap();
        page.click("[data-confirm]").await;
        page.wait_for("document.querySelector('.outcome')", "the details page")
            .await;
        let path = text_of(&page, "location.pathname").await;
        let id = path.trim_start_matches("/sessions/");
        let session = page.app.session(id).await;
        assert_eq!(session["outcome"], "resolved");
        let steps: Vec<&str> = session["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["Check the queue", "Power cycle"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_signs_out_signs_back_in_and_makes_a_token_that_works_once_shown() {
    with_page(Script::Enabled, |page| async move {
        page.click("form[action='/logout'] button").await;
        wait_for_path(&page, "/login").await;
        let said = text_of(&page, "document.querySelector('.form-notice').innerText").await;
        assert_eq!(said, "You are signed out.");
        page.screenshot("login-desktop-light").await;
        page.type_into("#username", "dana").await;
        page.type_into("#password", "wrong").await;
        page.click("form[action='/login'] button").await;
        page.wait_for("document.querySelector('.form-error')", "the refusal")
            .await;
        let error = text_of(&page, "document.querySelector('.form-error').innerText").await;
        assert_eq!(error, "Wrong username or password.");
        assert_eq!(
            text_of(&page, "document.querySelector('#username').value").await,
            "dana"
        );
        // The browser applies autofocus in a task after the page loads.
        page.wait_for(
            "document.activeElement.id === 'password'",
            "after a wrong password, focus on the password",
        )
        .await;
        page.type_into("#password", crate::helpers::PASSWORD).await;
        page.click("form[action='/login'] button").await;
        wait_for_path(&page, "/sessions").await;

        page.click("nav a[href='/account']").await;
        wait_for_path(&page, "/account").await;
        page.type_into("#token-name", "laptop CLI").await;
        page.click("form[action='/account/tokens'] button").await;
        page.wait_for(
            "document.querySelector('[data-new-token]')",
            "the new token",
        )
        .await;
        let token = text_of(
            &page,
            "document.querySelector('[data-new-token]').innerText",
        )
        .await;
        assert!(token.starts_with("cb_"), "{token}");
        page.screenshot("account-new-token-desktop-light").await;
        let list = reqwest::Client::new()
            .get(page.app.url("/api/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            list.status(),
            reqwest::StatusCode::OK,
            "the token works for the API"
        );
        page.goto("/account").await;
        let shown_again = page
            .js("!!document.querySelector('[data-new-token]')")
            .await;
        assert_eq!(
            shown_again,
            Value::Bool(false),
            "a token is shown only once"
        );
        page.click(".token-list .ask-inline summary").await;
        page.click("button[aria-label='Revoke token laptop CLI']")
            .await;
        page.wait_for(
            "document.querySelector('.token-list')?.innerText.includes('revoked')",
            "the revocation",
        )
        .await;
        let list = reqwest::Client::new()
            .get(page.app.url("/api/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), reqwest::StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_is_the_default_view_and_another_engineer_sees_no_close_on_it() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Dana's VPN case").await;
        page.goto("/sessions").await;
        page.find(&format!("#s-{id} [data-close]")).await;

        page.click("form[action='/logout'] button").await;
        wait_for_path(&page, "/login").await;
        super::sign_in(&page.app, &page.client, "sam").await;
        page.goto("/sessions").await;
        let in_mine = page
            .js(&format!("!!document.getElementById('s-{id}')"))
            .await;
        assert_eq!(
            in_mine,
            Value::Bool(false),
            "sam's Mine view has only sam's sessions"
        );
        page.find("#f-owner")
            .await
            .select_by_value("all")
            .await
            .unwrap();
        // The choice applies as it changes: no Filter button with script.
        page.wait_for(
            &format!("document.getElementById('s-{id}')"),
            "dana's card under Everyone",
        )
        .await;
        let actions = page
            .js(&format!(
                "[...document.querySelectorAll('#s-{id} .actions .btn')].map(b => b.innerText)"
            ))
            .await;
        assert_eq!(
            actions,
            serde_json::json!(["View Details"]),
            "no Close and no Resume for sam"
        );
    })
    .await;
}
