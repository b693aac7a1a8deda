//! ASVS 5.1.5: after signing in, the browser goes only to a path on
//! Casebook, however `next` is disguised.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use url::Url;

use crate::helpers::{Backend, PASSWORD, TestApp, sign_in_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_goes_back_only_to_a_path_on_casebook_however_next_is_disguised() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let home = Url::parse("http://casebook.test/").unwrap();
    let payloads = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example/x",
        "/\\evil.example",
        "\\/evil.example",
        "//evil.example",
        "/.//evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        " //evil.example",
        "javascript:alert(1)",
    ];
    for next in payloads {
        let response = sign_in_with(
            &app,
            &[("username", "dana"), ("password", PASSWORD), ("next", next)],
            &[],
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        let location = response.headers()[LOCATION].to_str().unwrap();
        // Resolved as a browser resolves a Location header.
        let target = home.join(location).unwrap();
        assert_eq!(
            target.origin(),
            home.origin(),
            "{next:?} sent the browser to {location:?}"
        );
        assert!(location.starts_with('/') && !location.starts_with("//"));
    }
    // A real path on Casebook, with its query, survives.
    let response = sign_in_with(
        &app,
        &[
            ("username", "dana"),
            ("password", PASSWORD),
            ("next", "/sessions?status=active&q=disk%20full"),
        ],
        &[],
    )
    .await;
    assert_eq!(
        response.headers()[LOCATION],
        "/sessions?status=active&q=disk%20full"
    );
}
