//! Outbound webhooks: signed, durable deliveries of session changes to a
//! real receiver on a random port, with retries, on both engines.

mod process;
pub(crate) mod receiver;

use std::time::{Duration, Instant};

use casebook::config::Settings;
use casebook::domain::{Actor, DeliveryState, Role, WebhookEvents, WebhookUrl};
use casebook::service::{SystemClock, WebhookService, WebhookSettings};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDb};
use receiver::{Answer, Receiver};

backend_tests!(
    a_receiver_gets_a_completions_delivery_with_a_signature_that_verifies,
    a_receiver_that_fails_three_times_then_answers_gets_the_same_delivery_id_again,
    a_receiver_that_hangs_does_not_slow_complete,
    a_delivery_that_keeps_failing_is_marked_failed_when_its_retry_period_ends,
    only_admins_see_the_webhook_pages_and_bad_urls_are_refused_with_a_message,
);

const WITHIN: Duration = Duration::from_secs(20);

/// Quick polling and retries, so the tests take seconds, not minutes.
fn quick(timeout: Duration) -> impl FnOnce(&mut Settings) {
    move |settings| {
        settings.webhooks = WebhookSettings {
            timeout,
            retry_base: Duration::from_millis(100),
            poll_interval: Duration::from_millis(50),
            ..WebhookSettings::default()
        }
    }
}

/// The webhooks of the app's database, managed as an admin.
async fn webhooks(app: &TestApp) -> WebhookService {
    let stores = casebook::store::connect_all(&app.db().url).await.unwrap();
    WebhookService::new(stores.webhooks, std::sync::Arc::new(SystemClock))
}

fn admin() -> Actor {
    Actor::with_role("root", Role::Admin)
}

/// Registers `url` for `events`; returns the webhook's id and secret.
async fn register(service: &WebhookService, url: &str, events: &str) -> (Uuid, String) {
    let (webhook, secret) = service
        .add(
            &admin(),
            WebhookUrl::parse(url).unwrap(),
            WebhookEvents::parse(events).unwrap(),
        )
        .await
        .unwrap();
    (webhook.id, secret.expose().to_string())
}

async fn a_receiver_gets_a_completions_delivery_with_a_signature_that_verifies(backend: Backend) {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = TestApp::spawn_with(TestDb::new(backend).await, quick(Duration::from_secs(5))).await;
    let service = webhooks(&app).await;
    let (webhook, secret) = register(&service, &receiver.url, "completed").await;

    let id = app.create_active("Disk full on db01").await;
    let response = app
        .complete(&id, "resolved_externally", Some("Vendor patched it"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let delivery = receiver.wait_for(1, WITHIN).await.remove(0);
    assert!(delivery.signed_with(&secret), "the signature verifies");
    assert!(
        !delivery.signed_with("whsec_another"),
        "only with its secret"
    );
    assert_eq!(delivery.event, "completed");
    assert_eq!(delivery.content_type, "application/json");
    assert!(Uuid::parse_str(&delivery.delivery).is_ok(), "a delivery id");
    let body = delivery.json();
    assert_eq!(body["event"]["kind"], "completed");
    assert_eq!(body["event"]["actor"], "dana");
    assert_eq!(body["event"]["via"], "api");
    assert_eq!(body["event"]["outcome"], "resolved_externally");
    assert!(body["event"]["at"].is_string());
    // The session exactly as the API returns it.
    assert_eq!(body["session"], app.session(&id).await);

    // Only the subscribed kind was written to the outbox (not created or
    // started), and a refused change writes nothing.
    let conflict = app.complete(&id, "resolved", None).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let (_, deliveries) = service.deliveries(&admin(), webhook).await.unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].id.to_string(), delivery.delivery);
}

async fn a_receiver_that_fails_three_times_then_answers_gets_the_same_delivery_id_again(
    backend: Backend,
) {
    let receiver = Receiver::start(Answer::FailTimes(3)).await;
    let app = TestApp::spawn_with(TestDb::new(backend).await, quick(Duration::from_secs(5))).await;
    let service = webhooks(&app).await;
    let (webhook, secret) = register(&service, &receiver.url, "completed,reopened").await;

    let id = app.create_active("Flaky receiver").await;
    assert_eq!(
        app.complete(&id, "workaround", None).await.status(),
        StatusCode::OK
    );

    let attempts = receiver.wait_for(4, WITHIN).await;
    assert_eq!(attempts.len(), 4);
    for attempt in &attempts {
        assert_eq!(attempt.delivery, attempts[0].delivery, "one delivery id");
        assert_eq!(attempt.body, attempts[0].body, "the same body");
        assert!(attempt.signed_with(&secret));
    }
    // The answer is recorded once the worker has it.
    let deadline = Instant::now() + WITHIN;
    let delivered = loop {
        let (_, deliveries) = service.deliveries(&admin(), webhook).await.unwrap();
        if deliveries[0].state == DeliveryState::Delivered {
            break deliveries.into_iter().next().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "not marked delivered: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered.attempts, 4);
    assert_eq!(delivered.last_attempt.unwrap().status, Some(200));
    let metrics = app
        .anonymous()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"casebook_webhook_attempts_total{result="retry"} 3"#)
            && metrics.contains(r#"casebook_webhook_attempts_total{result="delivered"} 1"#),
        "{metrics}"
    );
}

async fn a_receiver_that_hangs_does_not_slow_complete(backend: Backend) {
    let receiver = Receiver::start(Answer::Hang).await;
    // An attempt may hang for a minute: a close that waited for it would show.
    let app = TestApp::spawn_with(TestDb::new(backend).await, quick(Duration::from_secs(60))).await;
    let service = webhooks(&app).await;
    register(&service, &receiver.url, "").await;

    let first = app.create_active("First").await;
    // The receiver now holds a delivery (created, then started) unanswered.
    receiver.wait_for(1, WITHIN).await;

    let started = Instant::now();
    let response = app.complete(&first, "resolved", None).await;
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        took < Duration::from_secs(5),
        "complete took {took:?} while the receiver hung"
    );
}

async fn a_delivery_that_keeps_failing_is_marked_failed_when_its_retry_period_ends(
    backend: Backend,
) {
    let receiver = Receiver::start(Answer::FailTimes(usize::MAX)).await;
    let app = TestApp::spawn_with(TestDb::new(backend).await, |settings| {
        quick(Duration::from_secs(5))(settings);
        settings.webhooks.retry_for = Duration::from_millis(500);
    })
    .await;
    let service = webhooks(&app).await;
    let (webhook, _) = register(&service, &receiver.url, "created").await;
    app.create("Nobody listens", &[]).await;

    let deadline = Instant::now() + WITHIN;
    let failed = loop {
        let (_, deliveries) = service.deliveries(&admin(), webhook).await.unwrap();
        if deliveries[0].state == DeliveryState::Failed {
            break deliveries.into_iter().next().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "never marked failed: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let answer = failed.last_attempt.clone().expect("its last answer");
    assert_eq!(answer.status, Some(500));
    assert!(failed.attempts >= 2, "retried before giving up: {failed:?}");
    assert!(failed.next_attempt_at.is_none());
    let attempts = receiver.received().len();
    assert_eq!(attempts as u32, failed.attempts);
}

async fn only_admins_see_the_webhook_pages_and_bad_urls_are_refused_with_a_message(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let engineer = app.get("/admin/webhooks").await;
    assert_eq!(engineer.status(), StatusCode::FORBIDDEN);
    assert!(engineer.text().await.unwrap().contains("Admins only"));

    let root = app.client_as("root", Role::Admin).await;
    let page = root.get(app.url("/admin/webhooks")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let refused = root
        .post(app.url("/admin/webhooks"))
        .form(&[
            ("url", "ftp://example.com/<b>hook</b>"),
            ("events", "completed"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("The URL must start with http:// or https://."),
        "{html}"
    );
    assert!(
        html.contains("ftp://example.com/") && !html.contains("<b>hook"),
        "the URL is kept in the field, escaped: {html}"
    );
    let unknown = root
        .post(app.url("/admin/webhooks"))
        .form(&[("url", "https://example.com/hook"), ("events", "closed")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.text().await.unwrap().contains("unknown event"));

    let missing = root
        .get(app.url(&format!("/admin/webhooks/{}", Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The document describes what receivers get.
#[tokio::test]
async fn the_openapi_document_describes_the_webhook_payload() {
    let document: Value = casebook::http::openapi();
    let payload = &document["components"]["schemas"]["WebhookPayload"];
    assert_eq!(
        payload["properties"]["session"]["$ref"],
        "#/components/schemas/Session"
    );
    assert_eq!(
        payload["properties"]["event"]["$ref"],
        "#/components/schemas/Event"
    );
}
