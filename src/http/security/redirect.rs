//! Where a sign-in may send the browser next: only a path on Casebook itself
//! (ASVS 5.1.5). The value is resolved exactly as a browser would resolve it
//! (WHATWG URL parsing: tabs and newlines dropped, `\` read as `/`, dot
//! segments and percent-escapes as they are) against Casebook's own origin,
//! and only the path and query of the result are sent back.

use url::Url;

/// A stand-in origin: what matters is whether the value leaves it.
const HOME: &str = "http://casebook.test/";

/// The path and query `next` names on this site, or `None` when it points
/// (or could point) anywhere else.
pub fn local_path(next: &str) -> Option<String> {
    // A browser drops these before parsing; refusing them outright keeps
    // every doubtful value out of the Location header.
    if next
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    if !next.starts_with('/') || next.starts_with("//") {
        return None;
    }
    let home = Url::parse(HOME).expect("a valid URL");
    let resolved = home.join(next).ok()?;
    if resolved.origin() != home.origin() || resolved.username() != "" {
        return None;
    }
    let path = resolved.path();
    // `/.//evil.example` resolves to the path `//evil.example`, which a
    // browser would read back as another host.
    if path.starts_with("//") {
        return None;
    }
    Some(match resolved.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_on_casebook_come_back_as_they_are() {
        assert_eq!(local_path("/sessions").as_deref(), Some("/sessions"));
        assert_eq!(
            local_path("/sessions?status=active&q=disk%20full").as_deref(),
            Some("/sessions?status=active&q=disk%20full")
        );
        assert_eq!(local_path("/a/../b").as_deref(), Some("/b"));
    }

    #[test]
    fn anything_that_could_leave_casebook_is_refused() {
        for next in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "//evil.example",
            "/.//evil.example",
            "https://evil.example/",
            "evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(local_path(next), None, "{next:?}");
        }
    }
}
