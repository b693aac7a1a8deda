//! A local server speaking the chat-completions wire protocol of an
//! OpenAI-compatible model, for the summaries' tests.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What the fake endpoint saw: the JSON body and the Authorization header.
pub type Seen = Arc<Mutex<Vec<(Value, Option<String>)>>>;

#[derive(Clone)]
pub enum Behaviour {
    Answer,
    Fail,
    Hang,
    /// Answers 307 to another endpoint (which would answer).
    Redirect,
    /// Answers 200 with a body of many megabytes.
    Huge,
    /// Answers once the test releases it, to hold a request in flight.
    AnswerWhenReleased(Arc<tokio::sync::Notify>),
}

/// A local server speaking the chat-completions wire protocol.
pub async fn fake_llm(behaviour: Behaviour) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let handler = move |headers: HeaderMap, Json(body): Json<Value>| {
        let record = record.clone();
        let behaviour = behaviour.clone();
        async move {
            let auth = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string());
            record.lock().unwrap().push((body, auth));
            if let Behaviour::AnswerWhenReleased(gate) = &behaviour {
                gate.notified().await;
            }
            match behaviour {
                Behaviour::Answer | Behaviour::AnswerWhenReleased(_) => (
                    StatusCode::OK,
                    Json(json!({
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "model": "casebook-test",
                        "choices": [{
                            "index": 0,
                            "message": { "role": "assistant", "content": "  The VPN dropped hourly; a longer rekey timer works around it.  " },
                            "finish_reason": "stop"
                        }]
                    })),
                ),
                Behaviour::Fail => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(
                        json!({ "error": { "message": "model overloaded", "type": "server_error" } }),
                    ),
                ),
                Behaviour::Hang => std::future::pending().await,
                Behaviour::Redirect => (
                    StatusCode::TEMPORARY_REDIRECT,
                    Json(json!({ "moved": "/elsewhere/v1/chat/completions" })),
                ),
                Behaviour::Huge => (
                    StatusCode::OK,
                    Json(json!({
                        "choices": [{ "message": { "content": "x".repeat(8 * 1024 * 1024) } }]
                    })),
                ),
            }
        }
    };
    // Where a redirect points: it would answer, so following it would show.
    let elsewhere = || async {
        Json(json!({ "choices": [{ "message": { "content": "followed a redirect" } }] }))
    };
    let router = Router::new()
        .route("/v1/chat/completions", post(handler))
        .route("/elsewhere/v1/chat/completions", post(elsewhere))
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                if response.status() == StatusCode::TEMPORARY_REDIRECT {
                    let location = "/elsewhere/v1/chat/completions".parse().unwrap();
                    response.headers_mut().insert("location", location);
                }
                response
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}
