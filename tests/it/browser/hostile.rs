//! Every page, with hostile text in every field a person can set: nothing
//! runs, nothing is injected, and the text is shown as it was typed.

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};

use casebook::config::Settings;
use casebook::domain::{TokenName, Username};
use casebook::startup::Application;
use fantoccini::Client;
use futures::FutureExt;
use serde_json::{Value, json};

use super::{Page, Script, connect, with_page};
use crate::helpers::{Backend, PASSWORD, TestDb};

/// Markup, attribute break-outs, a `javascript:` URL, a right-to-left
/// override, control characters and an emoji, tagged with the field's name.
/// Each would set `window.__pwned` if it ever ran.
fn hostile(field: &str) -> String {
    format!(
        "{field}<script>window.__pwned='{field}'</script>\"><img src=x onerror=\"window.__pwned='{field}'\">\
         '><svg onload=window.__pwned=1> javascript:window.__pwned=1 \u{202E}gpj.exe \u{1}\u{1b}[31m\u{7f} 🧨"
    )
}

/// A word too long for any line.
fn long_word(field: &str) -> String {
    format!("{field}-{}", "W".repeat(400))
}

async fn js(client: &Client, expression: &str) -> Value {
    client
        .execute(&format!("return ({expression});"), vec![])
        .await
        .unwrap_or_else(|e| panic!("script {expression:?} failed: {e}"))
}

/// Nothing ran, nothing was injected, and the page does not scroll sideways.
async fn assert_inert(client: &Client, what: &str) {
    assert_eq!(
        js(client, "window.__pwned === undefined").await,
        json!(true),
        "a script ran on {what}"
    );
    let injected = js(
        client,
        "document.querySelectorAll('img[src=\"x\"], svg[onload], [onerror], [onload], \
         [onmouseover], script:not([type=module]), a[href^=\"javascript\"]').length",
    )
    .await;
    assert_eq!(injected, json!(0), "markup was injected on {what}");
    let too_wide = js(
        client,
        "[...document.querySelectorAll('main *')]
           .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
           .map(e => e.tagName + '.' + e.className).slice(0, 5)",
    )
    .await;
    assert_eq!(too_wide, json!([]), "a long word widens {what}");
}

/// Each text appears literally on the page: in its text or as a field's value.
async fn assert_shown(client: &Client, what: &str, texts: &[&str]) {
    for text in texts {
        let found = client
            .execute(
                "const t = arguments[0];
                 return document.body.textContent.includes(t)
                   || [...document.querySelectorAll('input, textarea')].some(e => e.value === t);",
                vec![json!(text)],
            )
            .await
            .unwrap();
        assert_eq!(
            found,
            json!(true),
            "{what} does not show {text:?} literally"
        );
    }
}

async fn visit(page: &Page, path: &str, texts: &[&str]) {
    page.goto(path).await;
    page.find("main").await;
    assert_inert(&page.client, path).await;
    assert_shown(&page.client, path, texts).await;
}

async fn create(page: &Page, body: Value) -> Value {
    let response = page.app.post_json("/api/sessions", &body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_hostile_text_in_every_field_literally_and_runs_none_of_it() {
    with_page(Script::Enabled, |page| async move {
        let [title, problem, reference, customer, step, finding, note, outcome_notes] = [
            "title", "problem", "reference", "customer", "step", "finding", "note", "outcome",
        ]
        .map(hostile);
        let (problem_word, note_word) = (long_word("problem"), long_word("note"));
        let session = |title: &str, start: bool| {
            json!({
                "title": title,
                "problem": format!("{problem} {problem_word}"),
                "reference": reference,
                "customer": customer,
                "steps": [step, long_word("step")],
                "start": start,
            })
        };
        let titles = [format!("A {title}"), format!("B {title}"), format!("C {title}")];
        let prepared = create(&page, session(&titles[0], false)).await;
        let active = create(&page, session(&titles[1], true)).await;
        let closed = create(&page, session(&titles[2], true)).await;
        for s in [&active, &closed] {
            let id = s["id"].as_str().unwrap();
            let step_id = s["steps"][0]["id"].as_str().unwrap();
            let checked = page
                .app
                .post_json(
                    &format!("/api/sessions/{id}/steps/{step_id}/check"),
                    &json!({ "finding": finding }),
                )
                .await;
            assert_eq!(checked.status(), 200);
            for text in [&note, &note_word] {
                let added = page
                    .app
                    .post_json(&format!("/api/sessions/{id}/notes"), &json!({ "text": text }))
                    .await;
                assert_eq!(added.status(), 201);
            }
        }
        let closed_id = closed["id"].as_str().unwrap();
        let completed = page.app.complete(closed_id, "workaround", Some(&outcome_notes)).await;
        assert_eq!(completed.status(), 200);
        let summarized: Value = page
            .app
            .post(&format!("/api/sessions/{closed_id}/summary"))
            .await
            .json()
            .await
            .unwrap();
        let summary = summarized["summary"].as_str().unwrap().to_string();
        let token_name = "tok<script>window.__pwned='token'</script>\"><img src=x onerror=\"window.__pwned=1\">\u{202E}🧨";
        page.app
            .accounts
            .create_token(
                &Username::parse("dana").unwrap(),
                TokenName::parse(token_name).unwrap(),
            )
            .await
            .unwrap();

        let plan_and_notes = [
            problem.as_str(),
            &problem_word,
            &reference,
            &customer,
            &step,
            &finding,
            &note,
            &note_word,
        ];
        let ids: Vec<&str> = [&prepared, &active, &closed]
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        // Cards show the start of the outcome notes.
        let notes_start: String = outcome_notes.chars().take(60).collect();
        visit(
            &page,
            "/sessions",
            &[&titles[0], &titles[1], &titles[2], &reference, &customer, &notes_start],
        )
        .await;
        let search = hostile("search");
        let query = serde_urlencoded::to_string([("q", search.as_str())]).unwrap();
        visit(&page, &format!("/sessions?{query}"), &[&search]).await;
        visit(&page, &format!("/sessions/{}", ids[0]), &[&titles[0], &problem, &step]).await;
        visit(&page, &format!("/sessions/{}/work", ids[0]), &[&titles[0], &problem]).await;
        for (id, title) in [(ids[1], &titles[1]), (ids[2], &titles[2])] {
            let mut texts = plan_and_notes.to_vec();
            texts.push(title);
            visit(&page, &format!("/sessions/{id}"), &texts).await;
            visit(&page, &format!("/sessions/{id}/work"), &[title, &step, &note]).await;
        }
        visit(
            &page,
            &format!("/sessions/{}", ids[2]),
            &[&outcome_notes, &summary],
        )
        .await;
        visit(&page, "/account", &[token_name]).await;

        // The card fragment the script swaps in after a close, and its toast.
        page.goto("/sessions").await;
        page.open_popover(ids[1]).await;
        page.confirm_close(ids[1], "cancelled", Some(&outcome_notes)).await;
        page.wait_for(
            &format!("{}?.dataset.status === 'completed'", Page::card(ids[1])),
            "the closed card",
        )
        .await;
        page.wait_for("document.getElementById('toasts').innerText !== ''", "a toast").await;
        assert_inert(&page.client, "the history page after a close").await;
        assert_shown(&page.client, "the closed card", &[&titles[1], &notes_start]).await;

        // The prepare form sent back with an error keeps every value as typed.
        page.goto("/sessions/new").await;
        let too_long = format!("{}{}", hostile("ref"), "R".repeat(200));
        let (new_title, new_problem, new_customer, new_step) =
            (hostile("ntitle"), hostile("nproblem"), hostile("ncustomer"), hostile("nstep"));
        page.client
            .execute(
                "const [t, p, r, c, s] = arguments;
                 document.getElementById('title').value = t;
                 document.getElementById('problem').value = p;
                 document.getElementById('reference').value = r;
                 document.getElementById('customer').value = c;
                 document.querySelector('input[name=steps]').value = s;
                 document.querySelector('button.btn[name=intent][value=prepare]').click();",
                vec![
                    json!(new_title),
                    json!(new_problem),
                    json!(too_long),
                    json!(new_customer),
                    json!(new_step),
                ],
            )
            .await
            .unwrap();
        page.wait_for("document.querySelector('[aria-invalid=true]')", "the form's error")
            .await;
        assert_inert(&page.client, "the prepare form with an error").await;
        assert_shown(
            &page.client,
            "the prepare form with an error",
            &[&new_title, &new_problem, &too_long, &new_customer, &new_step],
        )
        .await;

        // Signed out: the sign-in page sent back after a failure keeps the
        // username as typed, and a hostile `next` goes nowhere.
        page.client.delete_all_cookies().await.unwrap();
        let username = hostile("user");
        let next = serde_urlencoded::to_string([("next", "javascript:window.__pwned=1")]).unwrap();
        page.goto(&format!("/login?{next}")).await;
        page.client
            .execute(
                "document.getElementById('username').value = arguments[0];
                 document.getElementById('password').value = 'not the password';
                 document.querySelector('form[action=\"/login\"] button').click();",
                vec![json!(username)],
            )
            .await
            .unwrap();
        page.wait_for("document.querySelector('.form-error')", "the sign-in error")
            .await;
        assert_inert(&page.client, "the sign-in error page").await;
        assert_shown(&page.client, "the sign-in error page", &[&username]).await;
    })
    .await;
}

/// A server on an empty database (no account yet, so first-run setup is
/// open), a browser that is not signed in, and the setup link's token.
async fn with_setup<F, Fut>(test: F)
where
    F: FnOnce(Client, String, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::new(Backend::Sqlite).await;
    let settings = Settings::on_database(db.url.clone());
    let app = Application::build(&settings).await.unwrap();
    let token = app.accounts().begin_setup().await.unwrap().unwrap();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = connect(Script::Enabled).await;
    let outcome = AssertUnwindSafe(test(client.clone(), base, token.expose().to_string()))
        .catch_unwind()
        .await;
    let _ = client.close().await;
    let _ = stop.send(());
    drop(db);
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_form_sent_back_with_errors_shows_hostile_names_literally() {
    with_setup(|client, base, token| async move {
        client
            .goto(&format!("{base}/setup?token={token}"))
            .await
            .unwrap();
        let (username, display_name) = (hostile("uname"), hostile("dname"));
        client
            .execute(
                "const [u, d, p] = arguments;
                 document.getElementById('username').value = u;
                 document.getElementById('display_name').value = d;
                 document.getElementById('password').value = p;
                 document.querySelector('form[action=\"/setup\"] button').click();",
                vec![json!(username), json!(display_name), json!(PASSWORD)],
            )
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while js(&client, "!!document.querySelector('.form-error')").await != json!(true) {
            assert!(
                std::time::Instant::now() < deadline,
                "the setup form's errors"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_inert(&client, "the setup form with errors").await;
        assert_shown(
            &client,
            "the setup form with errors",
            &[&username, &display_name],
        )
        .await;
    })
    .await;
}
