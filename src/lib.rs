//! Casebook: troubleshooting sessions for support and operations engineers.

pub mod admin;
pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod store;
pub mod summary;
pub mod telemetry;
