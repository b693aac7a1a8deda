//! Commands an operator runs against the database directly (like `casebook
//! user …` in `admin`).

pub mod webhooks;
