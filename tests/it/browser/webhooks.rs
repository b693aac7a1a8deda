//! The admin's webhook pages in a real browser: add a webhook, see its
//! secret once, then see its deliveries; axe-clean and phone-wide.

use std::time::{Duration, Instant};

use casebook::domain::Role;
use fantoccini::Locator;
use serde_json::{Value, json};

use super::a11y::{axe_source, violations};
use super::{Page, Script, sign_in, with_page};
use crate::helpers::user;
use crate::webhooks::receiver::{Answer, Receiver};

const WITHIN: Duration = Duration::from_secs(20);

async fn text(page: &Page, css: &str) -> String {
    page.find(css).await.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_webhook_sees_its_secret_once_and_then_its_deliveries() {
    let receiver = Receiver::start(Answer::Ok).await;
    let axe = axe_source();
    with_page(Script::Enabled, |page| async move {
        user(&page.app.accounts, "root", Role::Admin).await;
        page.find("form.signout button")
            .await
            .click()
            .await
            .unwrap();
        page.find("#username").await;
        sign_in(&page.app, &page.client, "root").await;
        page.goto("/account").await;
        page.find("a[href='/admin/webhooks']")
            .await
            .click()
            .await
            .unwrap();
        page.find("#webhook-url")
            .await
            .send_keys(&receiver.url)
            .await
            .unwrap();
        page.find("input[name=events][value=completed]")
            .await
            .click()
            .await
            .unwrap();
        page.find(".webhook-form button")
            .await
            .click()
            .await
            .unwrap();

        let secret = text(&page, "[data-webhook-secret]").await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(
            violations(&page, &axe).await,
            Vec::<Value>::new(),
            "after adding"
        );
        page.screenshot("webhooks-added-desktop-light").await;

        // Shown once: the list no longer has it.
        page.goto("/admin/webhooks").await;
        let listed = text(&page, ".webhook-list").await;
        assert!(
            listed.contains(&receiver.url) && listed.contains("completed"),
            "{listed}"
        );
        let html = page.client.source().await.unwrap();
        assert!(!html.contains(&secret), "the secret is shown only once");

        // A close reaches the receiver, signed with the secret the page showed.
        let id = page.app.create_active("Printer on fire").await;
        page.app.complete(&id, "escalated", None).await;
        let delivery = receiver.wait_for(1, WITHIN).await.remove(0);
        assert!(delivery.signed_with(&secret));

        page.client
            .find(Locator::Css(".webhook-list a"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let deadline = Instant::now() + WITHIN;
        loop {
            let shown = text(&page, "main").await;
            if shown.contains("delivered") {
                assert!(
                    shown.contains("HTTP 200") && shown.contains(&delivery.delivery),
                    "{shown}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "never shown delivered: {shown}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            page.client.refresh().await.unwrap();
        }
        for scheme in ["light", "dark"] {
            page.emulate(1280, 900, scheme).await;
            assert_eq!(
                violations(&page, &axe).await,
                Vec::<Value>::new(),
                "deliveries, {scheme}"
            );
            page.emulate(375, 800, scheme).await;
            let fits = "document.documentElement.scrollWidth <= innerWidth";
            assert_eq!(
                page.js(fits).await,
                json!(true),
                "deliveries scroll sideways"
            );
            page.screenshot(&format!("webhook-deliveries-phone-{scheme}"))
                .await;
            page.goto("/admin/webhooks").await;
            assert_eq!(page.js(fits).await, json!(true), "webhooks scroll sideways");
            assert_eq!(
                violations(&page, &axe).await,
                Vec::<Value>::new(),
                "list, {scheme}"
            );
            page.screenshot(&format!("webhooks-phone-{scheme}")).await;
            page.client.back().await.unwrap();
        }
    })
    .await;
}
