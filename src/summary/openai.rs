use std::fmt::Write;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{Summarizer, SummaryError, SummaryInput};
use crate::domain::human_duration;

/// Where an OpenAI-compatible chat-completions endpoint is, and how to use it.
#[derive(Clone)]
pub struct OpenAiSettings {
    /// Base URL: `{base}/v1/chat/completions` is called (a base that already
    /// ends in `/v1` is used as is).
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &redacted(&self.base_url))
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct OpenAiSummarizer {
    client: reqwest::Client,
    endpoint: String,
    settings: OpenAiSettings,
}

/// Prompt bounds, so one huge session cannot make a huge (or costly) request.
const MAX_FIELD_CHARS: usize = 1_500;
const MAX_NOTES: usize = 30;
const MAX_PROMPT_CHARS: usize = 16_000;

/// A completion is a few sentences; an answer larger than this is not one,
/// and is not read into memory (ASVS 12.1.1, 13.1.x).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// `url` without its user-info (`https://user:key@host/` → `https://host/`):
/// what may appear in a log line. Text that is not a URL is not shown at all.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "<not a URL>".to_string(),
    }
}

/// The failure as a person sees it (`shown`, generic: no address, no
/// upstream text) and as the log keeps it (`detail`).
fn failed(shown: &str, detail: impl std::fmt::Display) -> SummaryError {
    tracing::warn!(%detail, "the summary endpoint failed");
    SummaryError::Upstream(shown.to_string())
}

const SYSTEM_PROMPT: &str = "You summarize troubleshooting sessions for support and operations \
engineers. Write a short, plain summary of at most six sentences: the problem, what was checked \
and found, the outcome with its notes, and how long the work took. No headings, no lists, no \
speculation beyond the data.";

impl OpenAiSummarizer {
    pub fn new(settings: OpenAiSettings) -> anyhow::Result<Self> {
        // No redirects: the endpoint is the operator's choice, and a
        // redirect could carry the API key's request somewhere else.
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = settings.base_url.trim_end_matches('/');
        let endpoint = if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        };
        Ok(Self {
            client,
            endpoint,
            settings,
        })
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[async_trait]
impl Summarizer for OpenAiSummarizer {
    fn name(&self) -> String {
        self.settings.model.clone()
    }

    async fn summarize(&self, input: &SummaryInput<'_>) -> Result<String, SummaryError> {
        let body = json!({
            "model": self.settings.model,
            "messages": [
                { "role": "system", "content": SYSTEM_PROMPT },
                { "role": "user", "content": prompt(input) },
            ],
            "temperature": 0.2,
        });
        let mut request = self.client.post(&self.endpoint).json(&body);
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key);
        }
        let endpoint = redacted(&self.endpoint);
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                let shown = format!(
                    "the summary service gave no answer within {} s",
                    self.settings.timeout.as_secs()
                );
                failed(&shown, format!("{endpoint}: timed out"))
            } else {
                let e = e.without_url();
                failed(
                    "the summary service could not be reached",
                    format!("{endpoint}: {e}"),
                )
            }
        })?;
        let status = response.status();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_ANSWER_BYTES => {
                    return Err(failed(
                        "the summary service's answer was too large",
                        format!("{endpoint}: HTTP {status}, more than {MAX_ANSWER_BYTES} bytes"),
                    ));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    let e = e.without_url();
                    return Err(failed(
                        "the summary service's answer broke off",
                        format!("{endpoint}: {e}"),
                    ));
                }
            }
        }
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(failed(
                "the summary service answered with an error",
                format!("{endpoint}: HTTP {status}: {text}"),
            ));
        }
        let completion: Completion = serde_json::from_slice(&body).map_err(|e| {
            failed(
                "the summary service's answer was not understood",
                format!("{endpoint}: {e}"),
            )
        })?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .ok_or_else(|| failed("the summary service's answer held no summary", &endpoint))
    }
}

fn clip(text: &str) -> String {
    let mut clipped: String = text.chars().take(MAX_FIELD_CHARS).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}

/// The session's data as plain labelled lines, bounded in size.
fn prompt(input: &SummaryInput<'_>) -> String {
    let s = input.session;
    let mut out = String::new();
    let _ = writeln!(out, "Title: {}", clip(&s.title));
    for (label, value) in [("Customer", &s.customer), ("Reference", &s.reference)] {
        if let Some(value) = value {
            let _ = writeln!(out, "{label}: {}", clip(value));
        }
    }
    let _ = writeln!(out, "Problem: {}", clip(&s.problem));
    let _ = writeln!(out, "Plan:");
    for step in &s.steps {
        let state = if step.checked_at.is_some() {
            "checked"
        } else {
            "not checked"
        };
        let finding = step.finding.as_deref().map(clip).unwrap_or_default();
        let _ = writeln!(out, "- [{state}] {} {finding}", clip(&step.text));
    }
    let _ = writeln!(out, "Notes:");
    for note in input.notes().take(MAX_NOTES) {
        let _ = writeln!(out, "- {}", clip(note));
    }
    if let Some(outcome) = s.outcome {
        let _ = writeln!(out, "Outcome: {}", outcome.label());
    }
    if let Some(notes) = &s.outcome_notes {
        let _ = writeln!(out, "Outcome notes: {}", clip(notes));
    }
    if let Some(duration) = s.started_at.zip(s.completed_at).map(|(a, b)| b - a) {
        let _ = writeln!(out, "Duration: {}", human_duration(duration));
    }
    out.chars().take(MAX_PROMPT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_user_info_never_reaches_the_log() {
        assert_eq!(
            redacted("https://user:sk-secret@llm.example/v1"),
            "https://llm.example/v1"
        );
        assert_eq!(
            redacted("http://127.0.0.1:8080/v1/chat/completions"),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        assert_eq!(redacted("sk-secret@not a url"), "<not a URL>");
    }
}
