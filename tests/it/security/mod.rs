//! Issue 13, OWASP ASVS level 2: each test here would have caught one of
//! the findings (docs/SECURITY.md maps requirements to tests).

mod headers;
mod help;
mod passwords;
mod proxies;
mod redirect;
mod setup;
mod sign_in;
