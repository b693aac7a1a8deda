//! Request and response hardening that does not belong to one route: the
//! headers every response carries, the client's address behind trusted
//! proxies, and where a sign-in may send the browser next. See
//! docs/SECURITY.md for the ASVS requirements each piece answers.

pub mod client_addr;
pub mod headers;
pub mod redirect;

pub use client_addr::{ClientAddr, TrustedProxies};
