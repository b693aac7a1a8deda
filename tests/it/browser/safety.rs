//! Untrusted text is shown as text everywhere, and never runs.

use serde_json::json;

use super::{Page, Script, with_page};

const TITLE: &str = "<script>window.__pwned = 'title'</script>Disk <b>full</b>";
const CUSTOMER: &str = "<img src=x onerror=\"window.__pwned = 'customer'\">";
const NOTES: &str =
    "<script>window.__pwned = 'notes'</script><img src=x onerror=\"window.__pwned = 'notes-img'\">";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_titles_customers_and_notes_appear_as_text_and_never_run() {
    with_page(Script::Enabled, |page| async move {
        let body =
            json!({ "title": TITLE, "customer": CUSTOMER, "reference": "<i>R</i>", "start": true });
        let closed: serde_json::Value = page
            .app
            .post_json("/api/sessions", &body)
            .await
            .json()
            .await
            .unwrap();
        let closed = closed["id"].as_str().unwrap().to_string();
        page.app.complete(&closed, "unresolved", Some(NOTES)).await;
        let open: serde_json::Value = page
            .app
            .post_json("/api/sessions", &body)
            .await
            .json()
            .await
            .unwrap();
        let open = open["id"].as_str().unwrap().to_string();

        page.goto("/sessions").await;
        let text = |id: &str, selector: &str| {
            format!("document.querySelector('#s-{id} {selector}').textContent")
        };
        assert_eq!(page.js(&text(&closed, "h2")).await, json!(TITLE));
        assert!(
            page.js(&format!("{}.innerText", Page::card(&closed)))
                .await
                .as_str()
                .unwrap()
                .contains(CUSTOMER)
        );
        assert_eq!(page.js(&text(&closed, ".notes")).await, json!(NOTES));
        assert_eq!(
            page.js("document.querySelectorAll('main img, main script, main b, main i').length")
                .await,
            json!(0)
        );

        // Closing through the popover brings the same text back through the card fragment.
        page.open_popover(&open).await;
        page.confirm_close(&open, "cancelled", Some(NOTES)).await;
        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(&open)),
            "the closed card",
        )
        .await;
        assert_eq!(page.js(&text(&open, ".notes")).await, json!(NOTES));
        assert_eq!(
            page.js("document.querySelectorAll('main img, main script').length")
                .await,
            json!(0)
        );

        page.goto(&format!("/sessions/{closed}")).await;
        assert_eq!(
            page.js("document.querySelector('h1').textContent").await,
            json!(TITLE)
        );
        assert!(
            page.js("document.body.innerText")
                .await
                .as_str()
                .unwrap()
                .contains(NOTES)
        );
        assert_eq!(
            page.js("document.querySelectorAll('main img, main script').length")
                .await,
            json!(0)
        );

        assert_eq!(
            page.js("window.__pwned === undefined").await,
            json!(true),
            "no injected script ran"
        );
    })
    .await;
}
