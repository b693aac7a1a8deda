//! The stylesheet and the script, embedded in the binary and served under
//! content-hashed names, so browsers may keep them forever: a changed file
//! gets a new name.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct Asset {
    pub href: String,
    body: Vec<u8>,
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, body: Vec<u8>, content_type: &'static str) -> Self {
        Asset {
            href: format!("/assets/{stem}.{:016x}.{ext}", fnv1a(&body)),
            body,
            content_type,
        }
    }
}

/// The stylesheet without its comments and spacing (rustdoc's minifier): the
/// source stays readable, and the history page stays within its weight budget.
fn minified_css(source: &str) -> Vec<u8> {
    match minifier::css::minify(source) {
        Ok(minified) => minified.to_string().into_bytes(),
        Err(_) => source.as_bytes().to_vec(),
    }
}

pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "app",
        "css",
        minified_css(include_str!("../../../assets/app.css")),
        "text/css; charset=utf-8",
    )
});

/// The script without its comment lines and indentation: a transformation
/// that cannot change what the script does (it has no string spanning
/// lines), where a full minifier of modern JavaScript might.
fn trimmed_js(source: &str) -> Vec<u8> {
    let lines: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect();
    lines.join("\n").into_bytes()
}

pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "app",
        "js",
        trimmed_js(include_str!("../../../assets/app.js")),
        "text/javascript; charset=utf-8",
    )
});

/// FNV-1a: a stable content hash without another dependency; it only has to
/// change when the file does.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let path = format!("/assets/{file}");
    let Some(asset) = [&*CSS, &*JS].into_iter().find(|a| a.href == path) else {
        // An old hash after a deploy: the page that asked for it is stale too.
        return (StatusCode::NOT_FOUND, "No such asset; reload the page.").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        asset.body.as_slice(),
    )
        .into_response()
}
