//! `GET /metrics` for Prometheus, and the middleware that counts requests.
//!
//! The endpoint is for a scraper, not for people: it takes no user sign-in.
//! With a metrics token configured it wants `Authorization: Bearer <token>`;
//! without one, only clients on this machine (loopback) may read it, and
//! not through a reverse proxy, where every client would look local.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

pub const PATH: &str = "/metrics";

/// Counts every request by method, route template and status, with its latency.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_request(
        method.as_str(),
        route.as_deref().unwrap_or("unmatched"),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Who may scrape, as configured.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// SHA-256 of the token a scraper must send; none: loopback only.
    token_digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &self.token_digest.map(|_| "<set>"))
            .finish()
    }
}

/// Why a scrape was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A token is configured and the request did not carry it.
    BadToken,
    /// No token is configured and the client is not on this machine.
    NotLocal,
}

impl MetricsAccess {
    pub fn new(token: Option<&str>) -> Self {
        Self {
            token_digest: token.filter(|t| !t.is_empty()).map(digest),
        }
    }

    /// The decision, from the client's address and the request's headers.
    pub fn check(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), Refusal> {
        match &self.token_digest {
            Some(expected) => {
                let sent = bearer(headers).map(digest).unwrap_or([0; 32]);
                // Digests of equal length, compared in constant time: the
                // time taken says nothing about how much of a guess was right.
                if bearer(headers).is_some() && bool::from(sent.ct_eq(expected)) {
                    Ok(())
                } else {
                    Err(Refusal::BadToken)
                }
            }
            None => {
                let proxied =
                    headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
                if peer.is_some_and(|ip| ip.is_loopback()) && !proxied {
                    Ok(())
                } else {
                    Err(Refusal::NotLocal)
                }
            }
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn scrape(State(state): State<AppState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    match state.metrics_access.check(peer, request.headers()) {
        Ok(()) => {}
        Err(Refusal::BadToken) => {
            return ApiError::Unauthorized(
                "Send the metrics token as Authorization: Bearer <token>.".into(),
            )
            .into_response();
        }
        Err(Refusal::NotLocal) => {
            return ApiError::Forbidden(
                "Metrics are open only to clients on this machine; configure a metrics token \
                 (--metrics-token) to scrape from elsewhere."
                    .into(),
            )
            .into_response();
        }
    }
    if let Some(live) = state.sessions.live() {
        state.metrics.set_change_listener(live.is_listening());
    }
    match state.metrics.render(state.sessions.store().as_ref()).await {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        Err(e) => ApiError::from_store(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const REMOTE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[test]
    fn without_a_token_only_direct_loopback_clients_may_scrape() {
        let open = MetricsAccess::new(None);
        assert_eq!(open.check(LOCAL, &headers(&[])), Ok(()));
        let v6 = Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
        assert_eq!(open.check(v6, &headers(&[])), Ok(()));
        assert_eq!(open.check(REMOTE, &headers(&[])), Err(Refusal::NotLocal));
        assert_eq!(open.check(None, &headers(&[])), Err(Refusal::NotLocal));
        let proxied = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(open.check(LOCAL, &proxied), Err(Refusal::NotLocal));
        let forwarded = headers(&[("forwarded", "for=203.0.113.9")]);
        assert_eq!(open.check(LOCAL, &forwarded), Err(Refusal::NotLocal));
    }

    #[test]
    fn with_a_token_every_client_needs_it_and_loopback_is_not_enough() {
        let guarded = MetricsAccess::new(Some("s3cret-scrape"));
        let good = headers(&[("authorization", "Bearer s3cret-scrape")]);
        assert_eq!(guarded.check(REMOTE, &good), Ok(()));
        assert_eq!(guarded.check(LOCAL, &good), Ok(()));
        let lower = headers(&[("authorization", "bearer s3cret-scrape")]);
        assert_eq!(guarded.check(REMOTE, &lower), Ok(()));
        assert_eq!(guarded.check(LOCAL, &headers(&[])), Err(Refusal::BadToken));
        for wrong in [
            "Bearer s3cret",
            "Bearer s3cret-scrape2",
            "Basic s3cret-scrape",
            "Bearer ",
        ] {
            let sent = headers(&[("authorization", wrong)]);
            assert_eq!(
                guarded.check(LOCAL, &sent),
                Err(Refusal::BadToken),
                "{wrong}"
            );
        }
    }

    #[test]
    fn an_empty_token_setting_means_no_token() {
        let access = MetricsAccess::new(Some(""));
        assert_eq!(access.check(LOCAL, &headers(&[])), Ok(()));
    }
}
