//! `GET /api/stream`: every change to a session as a Server-Sent Event, for
//! the pages and for tools (see `service::live` for where changes come from).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, broadcast, watch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::bodies::SessionBody;
use crate::http::auth;
use crate::http::error::ProblemDetails;
use crate::http::state::CurrentActor;
use crate::http::{ApiError, AppState};
use crate::metrics::Metrics;
use crate::service::{AccountService, Replay, SessionChange};

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a stream that ended.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);
/// How often an open stream checks its sign-in again: a sign-out, a revoked
/// token or a disabled account ends it within this time.
const RECHECK_SIGN_IN: Duration = Duration::from_secs(60);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

/// Every change to a session, live, as Server-Sent Events.
///
/// Each change (created, started, note added, step checked or unchecked,
/// completed, reopened, summarized, closed automatically) is one event
/// `session` whose `data` is the session as `GET /api/sessions/{id}` returns
/// it and whose `id` is the change's place in the database's timeline, the
/// same on every Casebook process. A client reconnecting with `Last-Event-ID`
/// first gets each session changed since, as it is now; when more changed
/// than the server keeps ready, or the id is not one it issued, an event
/// `reload` tells the client to fetch afresh instead, and the stream goes on
/// from there. A comment line every 15 seconds keeps the connection open.
/// A client that falls too far behind is disconnected, and reconnects with
/// `Last-Event-ID` as usual.
#[utoipa::path(get, path = "/stream", tag = "stream", operation_id = "stream",
    params(("Last-Event-ID" = Option<String>, Header,
        description = "The `id` of the last event received, to be sent what was missed.")),
    responses(
        (status = 200, description = "An endless stream of `session` events (and `reload` when the gap was too long).",
            content_type = "text/event-stream", body = String,
            example = json!("retry: 2000\n\nevent: session\ndata: {\"id\":\"…\",\"status\":\"completed\",…}\nid: 42\n\n")),
        (status = 401, description = "Not signed in.", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "This server has as many streams open as `--max-streams` allows.", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn stream(
    State(state): State<AppState>,
    CurrentActor(_): CurrentActor,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let live = state
        .sessions
        .live()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no live changes in this server")))?
        .clone();
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        state.metrics.stream_refused();
        return Err(ApiError::TooManyStreams);
    };
    // Subscribed before the replay is read, so no change falls between them.
    let receiver = live.subscribe();
    let replay = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => Replay::Changes(Vec::new()),
        Some(Ok(id)) if id.trim().is_empty() => Replay::Changes(Vec::new()),
        Some(Ok(id)) => match id.trim().parse::<i64>() {
            Ok(seq) => live.missed_since(seq).await.map_err(ApiError::from_store)?,
            Err(_) => live.unknown_id().await.map_err(ApiError::from_store)?,
        },
        Some(Err(_)) => live.unknown_id().await.map_err(ApiError::from_store)?,
    };
    let mut pending =
        VecDeque::from([Event::default().retry(RECONNECT_AFTER).comment("connected")]);
    let mut replayed = HashMap::new();
    match replay {
        Replay::Changes(changes) => {
            for change in changes {
                replayed.insert(change.session.id, change.seq);
                pending.push_back(session_event(&change));
            }
        }
        Replay::TooOld { latest } => pending.push_back(
            Event::default()
                .event("reload")
                .id(latest.to_string())
                .data(r#"{"reason":"More changed while you were away than the server replays; fetch afresh."}"#),
        ),
    }
    let credential = match auth::bearer(&headers) {
        Some(token) => Credential::Token(token.to_owned()),
        None => Credential::Cookie(
            auth::session_cookie(&headers, state.secure_cookies).unwrap_or_default(),
        ),
    };
    state.metrics.stream_opened();
    let open = OpenStream {
        credential,
        accounts: state.accounts.clone(),
        recheck: tokio::time::interval_at(
            tokio::time::Instant::now() + RECHECK_SIGN_IN,
            RECHECK_SIGN_IN,
        ),
        pending,
        replayed,
        receiver,
        closing: live.closing(),
        slot: Slot {
            _permit: permit,
            metrics: state.metrics.clone(),
        },
    };
    Ok(Sse::new(events(open))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

fn session_event(change: &SessionChange) -> Event {
    let json = change.rendered(|session| {
        serde_json::to_string(&SessionBody::from(session)).expect("a session serializes")
    });
    Event::default()
        .event("session")
        .id(change.seq.to_string())
        .data(&*json)
}

/// How the client signed in, to check again.
enum Credential {
    Token(String),
    Cookie(String),
}

impl Credential {
    /// Still valid; a database that cannot answer now does not end the stream.
    async fn still_valid(&self, accounts: &AccountService) -> bool {
        match self {
            Credential::Token(token) => {
                !matches!(accounts.authenticate_token(token).await, Ok(None))
            }
            Credential::Cookie(id) => !matches!(accounts.login_session(id).await, Ok(None)),
        }
    }
}

struct OpenStream {
    credential: Credential,
    accounts: AccountService,
    recheck: tokio::time::Interval,
    /// Sent first: the reconnect delay, then what the client missed.
    pending: VecDeque<Event>,
    /// Sessions the replay sent, at the change it sent them for: an older
    /// change of theirs still queued in `receiver` would show an older state.
    replayed: HashMap<Uuid, i64>,
    receiver: broadcast::Receiver<Arc<SessionChange>>,
    closing: watch::Receiver<bool>,
    slot: Slot,
}

/// One of `--max-streams`, given back (and counted) when the stream ends,
/// however it ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.stream_closed();
    }
}

/// What an open stream waits for.
enum Wake {
    Closing,
    Recheck,
    Received(Result<Arc<SessionChange>, RecvError>),
}

fn events(open: OpenStream) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(open, |mut open| async move {
        if let Some(event) = open.pending.pop_front() {
            return Some((Ok(event), open));
        }
        loop {
            let wake = tokio::select! {
                _ = open.closing.wait_for(|closing| *closing) => Wake::Closing,
                _ = open.recheck.tick() => Wake::Recheck,
                received = open.receiver.recv() => Wake::Received(received),
            };
            let change = match wake {
                Wake::Closing => return None,
                Wake::Recheck if open.credential.still_valid(&open.accounts).await => continue,
                Wake::Recheck => return None,
                Wake::Received(Ok(change)) => change,
                Wake::Received(Err(RecvError::Lagged(_))) => {
                    // Too slow: end the stream rather than hold the others
                    // back; the client reconnects with its last id.
                    open.slot.metrics.stream_dropped();
                    return None;
                }
                Wake::Received(Err(RecvError::Closed)) => return None,
            };
            let superseded = open
                .replayed
                .get(&change.session.id)
                .is_some_and(|&seq| change.seq <= seq);
            if !superseded {
                return Some((Ok(session_event(&change)), open));
            }
        }
    })
}
