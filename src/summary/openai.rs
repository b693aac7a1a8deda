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
            .field("base_url", &self.base_url)
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

const SYSTEM_PROMPT: &str = "You summarize troubleshooting sessions for support and operations \
engineers. Write a short, plain summary of at most six sentences: the problem, what was checked \
and found, the outcome with its notes, and how long the work took. No headings, no lists, no \
speculation beyond the data.";

impl OpenAiSummarizer {
    pub fn new(settings: OpenAiSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
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
        let response = request.send().await.map_err(|e| {
            SummaryError::Upstream(if e.is_timeout() {
                format!("no answer within {} s", self.settings.timeout.as_secs())
            } else {
                format!("cannot reach {}: {e}", self.endpoint)
            })
        })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            return Err(SummaryError::Upstream(format!("HTTP {status}: {text}")));
        }
        let completion: Completion = response
            .json()
            .await
            .map_err(|e| SummaryError::Upstream(format!("unexpected answer: {e}")))?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .ok_or_else(|| SummaryError::Upstream("the answer held no summary".into()))
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
