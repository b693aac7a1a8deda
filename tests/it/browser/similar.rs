//! Similar past sessions in the pages: beside the plan in the workspace, and
//! offered by the new-session form as the problem is typed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::a11y::{axe_source, demo_db, violations};
use super::{Page, Script, with_page, with_page_on};

/// A completed session with a plan, closed as a workaround with `notes`.
async fn solved(page: &Page, title: &str, problem: &str, steps: &[&str], notes: &str) -> String {
    let response = page
        .app
        .post_json(
            "/api/sessions",
            &json!({ "title": title, "problem": problem, "steps": steps, "start": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let closed = page.app.complete(&id, "workaround", Some(notes)).await;
    assert_eq!(closed.status(), StatusCode::OK);
    id
}

async fn history(page: &Page) -> String {
    let vpn = solved(
        page,
        "VPN tunnel drops every hour",
        "Remote users lose the IPsec tunnel to the branch office every hour.",
        &["Check the IPsec rekey timers", "Read the firewall logs"],
        "Longer rekey lifetime on the branch firewall",
    )
    .await;
    solved(
        page,
        "Disk full on db01",
        "Writes fail with ENOSPC on the primary database.",
        &["Check df -h"],
        "Rotated the logs",
    )
    .await;
    vpn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_shows_similar_past_sessions_beside_the_plan() {
    with_page(Script::Enabled, |page| async move {
        let vpn = history(&page).await;
        let response = page
            .app
            .post_json(
                "/api/sessions",
                &json!({ "title": "Branch VPN tunnel keeps dropping", "problem": "IPsec tunnel drops hourly", "steps": ["Check the tunnel"], "start": true }),
            )
            .await;
        let id = response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        page.goto(&format!("/sessions/{id}/work")).await;
        let item = page.find(".similar .similar-item").await;
        let text = item.text().await.unwrap();
        assert!(text.contains("VPN tunnel drops every hour"), "{text}");
        assert!(text.contains("Workaround"), "{text}");
        assert!(text.contains("Longer rekey lifetime on the branch firewall"), "{text}");
        assert!(text.contains("closed by dana"), "{text}");
        let href = page
            .js("document.querySelector('.similar .similar-title').getAttribute('href')")
            .await;
        assert_eq!(href, json!(format!("/sessions/{vpn}")));
        // Beside the plan: the list is on screen with it, not under the notes.
        let order = page
            .js("[...document.querySelectorAll('.work-grid > section h2')].map(h => h.textContent)")
            .await;
        assert_eq!(order[0], "Plan");
        assert_eq!(order[1], "Similar past sessions");
        page.screenshot("similar-workspace").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_session_form_offers_similar_sessions_as_you_type_and_copies_a_plan() {
    with_page(Script::Enabled, |page| async move {
        history(&page).await;
        page.goto("/sessions/new").await;
        assert_eq!(page.js("document.querySelector('[data-similar]').hidden").await, json!(true));
        page.find("#title").await.send_keys("Tunnel to the branch").await.unwrap();
        page.find("#problem")
            .await
            .send_keys("The IPsec tunnel drops again")
            .await
            .unwrap();
        page.wait_for(
            "!document.querySelector('[data-similar]').hidden && document.querySelector('[data-similar] .similar-item')?.innerText.includes('VPN tunnel drops every hour')",
            "the similar session offered beside the form",
        )
        .await;
        page.find("#step-1").await.send_keys("Call the branch").await.unwrap();
        page.find("[data-similar] [data-copy-plan]").await.click().await.unwrap();
        page.wait_for(
            "[...document.querySelectorAll('.plan-row input')].some(i => i.value === 'Read the firewall logs')",
            "the copied plan in the form",
        )
        .await;
        let plan = page
            .js("[...document.querySelectorAll('.plan-row input')].map(i => i.value)")
            .await;
        assert_eq!(
            plan,
            json!(["Call the branch", "Check the IPsec rekey timers", "Read the firewall logs"])
        );
        assert_eq!(page.js("document.querySelector('#title').value").await, json!("Tunnel to the branch"));
        page.screenshot("similar-new-session").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_sessions_and_search_snippets_are_axe_clean_in_both_themes_and_fit_a_phone() {
    let axe = axe_source();
    with_page_on(demo_db().await, Script::Enabled, |page| async move {
        page.goto("/sessions?owner=all&status=active").await;
        let active = page
            .js("document.querySelector('.card[data-status=active]').id.slice(2)")
            .await;
        let active = active.as_str().unwrap().to_string();
        page.goto("/sessions?owner=all&status=completed").await;
        let word = page
            .js("document.querySelector('.card h2').textContent.split(/\\W+/).find(w => w.length > 3)")
            .await;
        let word = word.as_str().unwrap().to_string();
        let pages = [
            format!("/sessions/{active}/work"),
            format!("/sessions?owner=all&q={word}"),
            "/sessions/new".to_string(),
        ];
        for (width, scheme) in [(1280, "light"), (1280, "dark"), (375, "light")] {
            page.emulate(width, 900, scheme).await;
            for path in &pages {
                page.goto(path).await;
                if path == "/sessions/new" {
                    page.find("#problem").await.send_keys(&word).await.unwrap();
                    page.wait_for(
                        "!document.querySelector('[data-similar]').hidden",
                        "similar sessions offered",
                    )
                    .await;
                } else if path.contains("q=") {
                    page.find(".found mark").await;
                } else {
                    page.find(".similar .similar-item").await;
                }
                assert_eq!(
                    violations(&page, &axe).await,
                    Vec::<Value>::new(),
                    "{path} in {scheme} at {width} px"
                );
                let sideways = page
                    .js("document.documentElement.scrollWidth > document.documentElement.clientWidth")
                    .await;
                assert_eq!(sideways, json!(false), "{path} scrolls sideways at {width} px");
            }
        }
        page.emulate(375, 900, "dark").await;
        page.goto(&format!("/sessions/{active}/work")).await;
        page.screenshot("similar-workspace-phone-dark").await;
    })
    .await;
}
