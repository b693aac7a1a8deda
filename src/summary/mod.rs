//! Summaries of completed sessions: a local, deterministic summarizer by
//! default, or an OpenAI-compatible chat endpoint when one is configured.

mod local;
mod openai;

use async_trait::async_trait;

use crate::domain::{Event, EventKind, Session};

pub use local::LocalSummarizer;
pub use openai::{OpenAiSettings, OpenAiSummarizer, redacted as redacted_url};

/// What a summary is written from: the session and its timeline.
pub struct SummaryInput<'a> {
    pub session: &'a Session,
    pub events: &'a [Event],
}

impl SummaryInput<'_> {
    /// The notes taken while working, oldest first.
    pub fn notes(&self) -> impl Iterator<Item = &str> {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::NoteAdded { text } => Some(text.as_str()),
            _ => None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// The summary service failed or answered nonsense; the message says how.
    #[error("the summary service failed: {0}")]
    Upstream(String),
}

#[async_trait]
pub trait Summarizer: Send + Sync + 'static {
    /// A short name for the timeline ("local", or the model's name).
    fn name(&self) -> String;

    async fn summarize(&self, input: &SummaryInput<'_>) -> Result<String, SummaryError>;
}
