//! The cards and the Close popover as a user sees them.

use serde_json::json;

use super::{ESCAPE, Page, Script, with_page};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_appears_on_active_cards_only_between_view_details_and_resume() {
    with_page(Script::Enabled, |page| async move {
        let prepared = page.app.create("Prepared session", &[]).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let active = page.app.create_active("Active session").await;
        let completed = page.app.create_active("Completed session").await;
        page.app.complete(&completed, "resolved", None).await;
        page.goto("/sessions").await;

        let buttons = |id: &str| {
            format!(
                "[...document.querySelectorAll('#s-{id} .actions > a, #s-{id} .actions > button, #s-{id} .actions > form > button')]\
                 .map(b => b.textContent.trim())"
            )
        };
        assert_eq!(page.js(&buttons(&prepared)).await, json!(["View Details", "Start"]));
        assert_eq!(
            page.js(&buttons(&active)).await,
            json!(["View Details", "Close", "Resume"])
        );
        assert_eq!(page.js(&buttons(&completed)).await, json!(["View Details"]));

        // Close is the secondary style, not the brand gradient.
        let close_class = page
            .js(&format!("document.querySelector('#s-{active} [data-close]').className"))
            .await;
        assert!(close_class.as_str().unwrap().contains("btn-secondary"));
        assert!(!close_class.as_str().unwrap().contains("bg-gradient-brand"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_popover_opens_below_its_button_with_six_outcomes_and_confirm_disabled() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Printer offline").await;
        page.goto("/sessions").await;
        page.open_popover(&id).await;

        let geometry = page
            .js(&format!(
                "(() => {{ const b = document.querySelector('#s-{id} [data-close]').getBoundingClientRect();
                   const p = {}.getBoundingClientRect();
                   return {{ below: p.top >= b.bottom - 0.5, overlap: p.left < b.right && p.right > b.left,
                            inside: p.left >= 0 && p.right <= document.documentElement.clientWidth }}; }})()",
                Page::popover(&id)
            ))
            .await;
        assert_eq!(geometry, json!({ "below": true, "overlap": true, "inside": true }));

        let select = format!("document.querySelector('#p-{id} select')");
        let options = page
            .js(&format!("[...{select}.options].map(o => o.textContent)"))
            .await;
        assert_eq!(
            options,
            json!([
                "Choose an outcome…",
                "Resolved",
                "Escalated",
                "Workaround",
                "Unresolved",
                "Cancelled",
                "Resolved Externally"
            ])
        );
        assert_eq!(page.js(&format!("{select}.value")).await, json!(""));
        assert_eq!(
            page.js(&format!("document.activeElement === {select}")).await,
            json!(true),
            "focus moves into the popover"
        );
        assert_eq!(
            page.js(&format!("document.querySelector('#p-{id} textarea').rows")).await,
            json!(2)
        );

        let confirm = format!("{}.querySelector('.bg-gradient-brand')", Page::popover(&id));
        assert_eq!(page.js(&format!("{confirm}.textContent")).await, json!("Confirm"));
        assert_eq!(page.js(&format!("{confirm}.disabled")).await, json!(true));
        page.find(&format!("#p-{id} select"))
            .await
            .select_by_value("escalated")
            .await
            .unwrap();
        page.wait_for(&format!("!{confirm}.disabled"), "Confirm to be enabled")
            .await;
        page.find(&format!("#p-{id} select"))
            .await
            .select_by_value("")
            .await
            .unwrap();
        page.wait_for(&format!("{confirm}.disabled"), "Confirm to be disabled again")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_escape_and_a_click_outside_close_the_popover_without_a_request() {
    with_page(Script::Enabled, |page| async move {
        let id = page.app.create_active("Mail queue stuck").await;
        let other = page.app.create_active("Second session").await;
        page.goto("/sessions").await;
        let requests = "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/') || e.name.includes('/card')).length";
        let focus_on_close =
            format!("document.activeElement === document.querySelector('#s-{id} [data-close]')");

        page.open_popover(&id).await;
        page.find(&format!("#p-{id} select")).await.select_by_value("resolved").await.unwrap();
        page.find(&format!("#p-{id} button[popovertargetaction=hide]"))
            .await
            .click()
            .await
            .unwrap();
        page.wait_for(&format!("!{}.matches(':popover-open')", Page::popover(&id)), "Cancel to close it")
            .await;
        page.wait_for(&focus_on_close, "focus back on Close").await;

        page.open_popover(&id).await;
        page.keys(ESCAPE).await;
        page.wait_for(&format!("!{}.matches(':popover-open')", Page::popover(&id)), "Escape to close it")
            .await;
        page.wait_for(&focus_on_close, "focus back on Close after Escape").await;

        page.open_popover(&id).await;
        // Somewhere neutral, clear of the sticky header.
        page.js("scrollTo(0, 0)").await;
        page.find(".head p").await.click().await.unwrap();
        page.wait_for(
            &format!("!{}.matches(':popover-open')", Page::popover(&id)),
            "a click outside to close it",
        )
        .await;

        // One at a time: opening another closes the first.
        page.open_popover(&id).await;
        page.open_popover(&other).await;
        assert!(!page.popover_open(&id).await);

        assert_eq!(page.js(requests).await, json!(0), "no request was sent");
        let session = page.app.session(&id).await;
        assert_eq!(session["status"], "active");
        assert_eq!(session["outcome"], serde_json::Value::Null);
        assert!(page.js(&format!("!!document.querySelector('#s-{id} [data-close]')")).await == json!(true));
    })
    .await;
}
