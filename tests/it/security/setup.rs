//! ASVS 2.3.1: the first-run setup link says plainly when it no longer works
//! (unknown or older than an hour), before and after the form is filled in,
//! and a refused link creates nobody.

use casebook::config::Settings;
use casebook::startup::Application;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestDb};

backend_tests!(a_setup_link_that_no_longer_works_says_so_and_creates_nobody,);

async fn a_setup_link_that_no_longer_works_says_so_and_creates_nobody(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = Application::build(&Settings::on_database(db.url.clone()))
        .await
        .unwrap();
    let accounts = app.accounts().clone();
    let token = accounts.begin_setup().await.unwrap().unwrap();
    let base = format!("http://{}", app.local_addr());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let expired = "has expired or is not valid";

    let bogus = client
        .get(format!("{base}/setup?token=a-guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), StatusCode::FORBIDDEN);
    assert!(bogus.text().await.unwrap().contains(expired));
    let live = client
        .get(format!("{base}/setup?token={}", token.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert!(!live.text().await.unwrap().contains(expired));

    let setup = |token: String| {
        client
            .post(format!("{base}/setup"))
            .form(&[
                ("token", token.as_str()),
                ("username", "root"),
                ("password", PASSWORD),
            ])
            .send()
    };
    let refused = setup("a-guess".into()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains(expired));
    assert!(accounts.needs_setup().await.unwrap(), "nobody was created");
    let done = setup(token.expose().to_string()).await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(!accounts.needs_setup().await.unwrap());
}
