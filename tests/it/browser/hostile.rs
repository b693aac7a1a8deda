//! Every page, with hostile text in every field a person can set: nothing
//! runs, nothing is injected, and the text is shown as it was typed.

use casebook::domain::{TokenName, Username};
use serde_json::{Value, json};

use super::{Page, Script, with_page};

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

/// Nothing ran, nothing was injected, and the page does not scroll sideways.
async fn assert_inert(page: &Page, what: &str) {
    assert_eq!(
        page.js("window.__pwned === undefined").await,
        json!(true),
        "a script ran on {what}"
    );
    let injected = page
        .js(
            "document.querySelectorAll('img[src=\"x\"], svg[onload], [onerror], [onload], \
             [onmouseover], script:not([type=module]), a[href^=\"javascript\"]').length",
        )
        .await;
    assert_eq!(injected, json!(0), "markup was injected on {what}");
    let too_wide = page
        .js("[...document.querySelectorAll('main *')]
               .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
               .map(e => e.tagName + '.' + e.className).slice(0, 5)")
        .await;
    assert_eq!(too_wide, json!([]), "a long word widens {what}");
}

/// Each text appears literally on the page: in its text or as a field's value.
async fn assert_shown(page: &Page, what: &str, texts: &[&str]) {
    for text in texts {
        let found = page
            .client
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
    assert_inert(page, path).await;
    assert_shown(page, path, texts).await;
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
        assert_inert(&page, "the history page after a close").await;
        assert_shown(&page, "the closed card", &[&titles[1], &notes_start]).await;

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
        assert_inert(&page, "the prepare form with an error").await;
        assert_shown(
            &page,
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
        assert_inert(&page, "the sign-in error page").await;
        assert_shown(&page, "the sign-in error page", &[&username]).await;
    })
    .await;
}
