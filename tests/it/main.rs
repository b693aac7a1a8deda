//! The one integration-test binary: every test talks to real databases and
//! real servers on random ports.

mod helpers;

mod accounts;
mod api_errors;
mod api_fuzz;
mod api_lifecycle;
mod api_plan_edits;
mod api_races;
mod api_session_edits;
mod auth;
mod browser;
mod cli;
mod demo;
mod deploy;
mod durability;
mod faults;
mod knowledge;
mod limits;
mod live;
mod openapi;
mod operations;
mod owners;
mod pages;
mod process;
mod process_races;
mod schemathesis;
mod security;
mod similar;
mod store;
mod summary;

// SQLite under sustained load and connections that survive (issue 12).
mod keep_alive;
mod sqlite_load;
mod sqlite_upgrade;
mod webhooks;
