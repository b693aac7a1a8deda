//! The client's address: the socket's peer, unless that peer is one of the
//! operator's trusted reverse proxies, in which case the proxy's
//! `X-Forwarded-For` (or, without one, `Forwarded`) names it. Walking that
//! list from the right, the first address that is not itself a trusted
//! proxy is the client: everything left of it was written by the client and
//! proves nothing (ASVS 11.1.4: the sign-in throttle counts per client).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The operator's reverse proxies; empty: nobody's forwarding headers count.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    pub fn new(blocks: Vec<IpNet>) -> Self {
        Self(Arc::new(blocks))
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|block| block.contains(&addr))
    }

    /// Who sent a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers).or_else(|| forwarded(headers));
        let Some(hops) = hops else {
            return peer;
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A hop that is not an address (`unknown`, garbage): the last
            // address known is as far as the chain can be believed.
            let Some(addr) = hop else {
                return client;
            };
            client = *addr;
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// Every `X-Forwarded-For` entry, oldest hop first, across repeated headers.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let value = value.to_str().ok()?;
        hops.extend(value.split(',').map(|hop| parse_hop(hop.trim())));
    }
    (!hops.is_empty()).then_some(hops)
}

/// The `for=` of every element of RFC 7239 `Forwarded` headers, oldest first.
fn forwarded(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"'))
            });
            hops.push(node.and_then(parse_hop));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

/// The client's address, put on every request by [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Resolves the client once, for the handlers and the throttle to share.
pub async fn resolve(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = proxies.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        parts
            .extensions
            .get::<ClientAddr>()
            .copied()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(blocks.iter().map(|b| b.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            proxies(&[]).client(ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client(ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_last_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.7")]);
        assert_eq!(p.client(ip("10.0.0.2"), &h), ip("203.0.113.9"));
        let split = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(p.client(ip("10.0.0.2"), &split), ip("203.0.113.9"));
        let garbage = headers(&[("x-forwarded-for", "203.0.113.9, bogus, 10.0.0.7")]);
        assert_eq!(p.client(ip("10.0.0.2"), &garbage), ip("10.0.0.7"));
        assert_eq!(p.client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let p = proxies(&["::1/128"]);
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";proto=https",
        )]);
        assert_eq!(p.client(ip("::1"), &h), ip("2001:db8:cafe::17"));
    }
}
