//! The JSON API as the client sees it: typed answers built on the domain
//! types, and every failure turned into one line a person can act on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::config::Server;
use crate::domain::{EventKind, Outcome, Status, Surface};

/// A session as `GET /api/sessions/{id}` sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionView {
    pub id: Uuid,
    pub title: String,
    pub problem: String,
    pub reference: Option<String>,
    pub customer: Option<String>,
    pub owner: String,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    pub outcome: Option<Outcome>,
    pub outcome_notes: Option<String>,
    pub summary: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepView>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StepView {
    pub position: u32,
    pub text: String,
    pub checked_at: Option<DateTime<Utc>>,
    pub finding: Option<String>,
}

/// One timeline entry; `kind` and what changed are flattened in the JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct EventView {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub via: Surface,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Who the token belongs to (`GET /api/me`).
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub username: String,
    pub display_name: String,
    pub role: String,
}

/// Which sessions to list; `None` means any.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub outcome: Option<Outcome>,
    pub owner: Option<String>,
    pub search: Option<String>,
    pub limit: u32,
}

/// A list page: the raw JSON (for `--json`) and the sessions in it.
pub struct SessionPage {
    pub raw_items: Value,
    pub sessions: Vec<SessionView>,
    pub more: bool,
}

pub struct Api {
    http: reqwest::Client,
    server: Server,
}

impl Api {
    pub fn new(server: Server) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("casebook-cli/", env!("CARGO_PKG_VERSION")))
            // A redirect (http → https, a moved server) would turn a POST
            // into a GET or carry the token elsewhere: say so instead.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Api { http, server })
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub async fn me(&self) -> anyhow::Result<Me> {
        self.call(Method::GET, "/api/me", &[], None).await
    }

    pub async fn list(&self, filter: &ListFilter) -> anyhow::Result<SessionPage> {
        let mut query = vec![("limit", filter.limit.to_string())];
        if let Some(status) = filter.status {
            query.push(("status", status.as_str().to_string()));
        }
        if let Some(outcome) = filter.outcome {
            query.push(("outcome", outcome.as_str().to_string()));
        }
        if let Some(owner) = &filter.owner {
            query.push(("owner", owner.clone()));
        }
        if let Some(search) = &filter.search {
            query.push(("q", search.clone()));
        }
        let mut page: Value = self
            .call(Method::GET, "/api/sessions", &query, None)
            .await?;
        let raw_items = page["items"].take();
        let sessions = serde_json::from_value(raw_items.clone())
            .map_err(|e| anyhow::anyhow!("the server sent a list this client cannot read: {e}"))?;
        Ok(SessionPage {
            raw_items,
            sessions,
            more: !page["next_cursor"].is_null(),
        })
    }

    /// The session as JSON, for `--json`, and as read.
    pub async fn session(&self, id: Uuid) -> anyhow::Result<(Value, SessionView)> {
        let raw: Value = self
            .call(Method::GET, &format!("/api/sessions/{id}"), &[], None)
            .await?;
        Ok((raw.clone(), read(raw)?))
    }

    pub async fn events(&self, id: Uuid) -> anyhow::Result<(Value, Vec<EventView>)> {
        let mut list: Value = self
            .call(
                Method::GET,
                &format!("/api/sessions/{id}/events"),
                &[],
                None,
            )
            .await?;
        let raw = list["items"].take();
        Ok((raw.clone(), read(raw)?))
    }

    pub async fn close(
        &self,
        id: Uuid,
        outcome: Outcome,
        notes: Option<&str>,
    ) -> anyhow::Result<SessionView> {
        let body = json!({ "outcome": outcome, "outcome_notes": notes });
        let path = format!("/api/sessions/{id}/complete");
        self.call(Method::POST, &path, &[], Some(body)).await
    }

    pub async fn reopen(&self, id: Uuid) -> anyhow::Result<SessionView> {
        let path = format!("/api/sessions/{id}/reopen");
        self.call(Method::POST, &path, &[], None).await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> anyhow::Result<T> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.url))
            .bearer_auth(&self.server.token)
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(&self.server.url, &e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("another address");
            anyhow::bail!(
                "{} redirects to {location} (HTTP {}); use the final address as the URL",
                self.server.url,
                status.as_u16()
            );
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(&self.server.url, &e))?;
        if !status.is_success() {
            return Err(anyhow::anyhow!("{}", refusal(status, &bytes)));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} did not answer like a Casebook server ({e})",
                self.server.url
            )
        })
    }
}

fn read<T: serde::de::DeserializeOwned>(raw: Value) -> anyhow::Result<T> {
    serde_json::from_value(raw)
        .map_err(|e| anyhow::anyhow!("the server sent an answer this client cannot read: {e}"))
}

/// A transport failure as one line: where, and the innermost cause.
fn unreachable(url: &str, error: &reqwest::Error) -> anyhow::Error {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let what = if error.is_timeout() {
        "timed out".to_string()
    } else {
        cause.to_string()
    };
    anyhow::anyhow!("cannot reach the Casebook server at {url}: {what}")
}

/// What a refusal says: the problem's `detail` when it is problem+json.
fn refusal(status: StatusCode, body: &[u8]) -> String {
    let problem: Option<Value> = serde_json::from_slice(body).ok();
    let detail = problem
        .as_ref()
        .and_then(|p| p["detail"].as_str())
        .map(|d| d.trim().replace('\n', " "));
    match detail {
        Some(detail) if status == StatusCode::UNAUTHORIZED => {
            format!("{detail} (HTTP 401; run `casebook login` again or set CASEBOOK_TOKEN)")
        }
        Some(detail) => format!("{detail} (HTTP {})", status.as_u16()),
        None => format!(
            "the server answered {status} without a problem description; is the URL a Casebook server?"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_becomes_its_detail_on_one_line() {
        let body = br#"{"type":"/problems/wrong-status","title":"Wrong status","status":409,"detail":"This session is completed;\nonly an active session can be completed."}"#;
        assert_eq!(
            refusal(StatusCode::CONFLICT, body),
            "This session is completed; only an active session can be completed. (HTTP 409)"
        );
        let html = refusal(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert!(html.starts_with("the server answered 502 Bad Gateway"));
        assert!(!html.contains('\n'));
    }
}
