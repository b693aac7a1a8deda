//! A prepared session is edited and deleted from its details page, with
//! plain forms that need no script; a started one offers neither.

use serde_json::{Value, json};

use super::a11y::{axe_source, violations};
use super::{Page, Script, with_page};

async fn toast_says(page: &Page, text: &str) {
    page.wait_for(
        &format!(
            "document.getElementById('toasts').innerText.includes({})",
            json!(text)
        ),
        text,
    )
    .await;
}

async fn prepared(page: &Page) -> String {
    page.app
        .create("Printer offline on floor 3", &["Power cycle"])
        .await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_session_is_edited_then_deleted_from_its_details_page_without_javascript() {
    with_page(Script::Disabled, |page| async move {
        let id = prepared(&page).await;
        page.goto(&format!("/sessions/{id}")).await;
        page.click(&format!("a[href='/sessions/{id}/edit']")).await;
        page.wait_for("document.getElementById('title')", "the edit form")
            .await;
        assert_eq!(
            page.js("document.getElementById('title').value").await,
            "Printer offline on floor 3",
            "the form starts from the session"
        );
        let title = page.find("#title").await;
        title.clear().await.unwrap();
        title
            .send_keys("Printer offline on floors 3 and 4")
            .await
            .unwrap();
        page.find("#customer")
            .await
            .send_keys("Contoso")
            .await
            .unwrap();
        // The empty row the editor offers becomes the second step.
        page.find("#step-2")
            .await
            .send_keys("Check the print server queue")
            .await
            .unwrap();
        page.click("button[name=intent][value=prepare]").await;

        toast_says(&page, "Changes saved").await;
        assert_eq!(
            page.js("document.querySelector('h1').innerText").await,
            "Printer offline on floors 3 and 4"
        );
        let session = page.app.session(&id).await;
        assert_eq!(session["customer"], "Contoso");
        assert_eq!(session["steps"].as_array().unwrap().len(), 2);
        assert_eq!(session["steps"][1]["text"], "Check the print server queue");
        let timeline = page.js("document.body.innerText").await;
        assert!(
            timeline.as_str().unwrap().contains("edited the session"),
            "the timeline says it was edited"
        );
        let events = page.app.events(&id).await;
        assert_eq!(events["items"][1]["via"], "details");

        page.click(".ask-delete summary").await;
        page.click(".ask-delete button").await;
        toast_says(&page, "Prepared session deleted").await;
        assert_eq!(page.js("location.pathname").await, "/sessions");
        let gone = page.app.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(gone.status(), reqwest::StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_session_offers_no_edit_or_delete_and_its_edit_address_says_why_not() {
    with_page(Script::Disabled, |page| async move {
        let id = page.app.create_active("Started already").await;
        page.goto(&format!("/sessions/{id}")).await;
        page.find("h1").await;
        assert_eq!(
            page.js("!!document.querySelector('a[href$=\"/edit\"], .ask-delete')")
                .await,
            json!(false)
        );
        // A stale form (the session started in another tab) is refused with the reason.
        let response = page
            .app
            .without_redirects()
            .post(page.app.url(&format!("/sessions/{id}/delete")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
        let html = response.text().await.unwrap();
        assert!(html.contains("only a prepared session can be deleted"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edit_form_and_the_delete_question_are_axe_clean_and_fit_a_phone() {
    let axe = axe_source();
    with_page(Script::Enabled, |page| async move {
        let id = prepared(&page).await;
        for (width, name) in [(1280, "desktop"), (375, "phone")] {
            for scheme in ["light", "dark"] {
                page.emulate(width, 900, scheme).await;
                page.goto(&format!("/sessions/{id}/edit")).await;
                page.find("#title").await;
                assert_eq!(
                    violations(&page, &axe).await,
                    Vec::<Value>::new(),
                    "edit {name} {scheme}"
                );
                assert_eq!(
                    page.js("document.documentElement.scrollWidth <= innerWidth")
                        .await,
                    json!(true),
                    "edit {name} {scheme} scrolls sideways"
                );
                page.screenshot(&format!("session-edit-{name}-{scheme}"))
                    .await;

                page.goto(&format!("/sessions/{id}")).await;
                page.click(".ask-delete summary").await;
                assert_eq!(
                    violations(&page, &axe).await,
                    Vec::<Value>::new(),
                    "details {name} {scheme}"
                );
                assert_eq!(
                    page.js("document.documentElement.scrollWidth <= innerWidth")
                        .await,
                    json!(true),
                    "details {name} {scheme} scrolls sideways"
                );
                page.screenshot(&format!("session-prepared-delete-{name}-{scheme}"))
                    .await;
            }
        }
    })
    .await;
}
