//! Exactly one winner when engineers race to close the same session.

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_one_winner, race_to_complete};

backend_tests!(sixty_four_concurrent_closes_of_one_session_have_exactly_one_winner);

async fn sixty_four_concurrent_closes_of_one_session_have_exactly_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_active("Everyone closes this").await;
    let results = race_to_complete(&app.client, &[app.url("")], &id, 64).await;
    let events: Value = app.events(&id).await;
    assert_one_winner(&results, &app.session(&id).await, &events);
}
