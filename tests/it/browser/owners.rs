//! Owners are accounts, as a person sees it: pages name owners by display
//! name (the username in a tooltip), a new account cannot take a sample
//! engineer's name, and an admin reassigns a session from its details page.

use serde_json::json;

use casebook::domain::{DisplayName, Password, Role, Username};
use casebook::service::NewUser;

use super::a11y::demo_db;
use super::{Script, with_admin_page_on};
use crate::helpers::{Backend, PASSWORD, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_demo_a_new_alex_is_refused_and_alexs_sessions_stay_alex_morenos() {
    with_admin_page_on(demo_db().await, Script::Enabled, |page| async move {
        // The admin tries to add `alex`, as the newcomer would.
        page.goto("/admin/users").await;
        page.find("#new-username").await.send_keys("alex").await.unwrap();
        page.find("#new-password").await.send_keys(PASSWORD).await.unwrap();
        page.click("form[action='/admin/users'] button").await;
        page.wait_for("document.getElementById('new-username-error')", "the refusal")
            .await;
        let refusal = page
            .js("document.getElementById('new-username-error').innerText")
            .await;
        assert_eq!(
            refusal,
            "The username “alex” is taken by another account, perhaps a disabled one. \
             Usernames are never reused, so that account keeps its sessions; choose another."
        );
        let alex = Username::parse("alex").unwrap();
        let account = page.app.accounts.user(&alex).await.unwrap();
        assert!(account.is_disabled());
        assert_eq!(account.display_name.as_str(), "Alex Moreno");
        let localhost = "127.0.0.1".parse().unwrap();
        assert!(
            page.app.accounts.authenticate("alex", PASSWORD, localhost).await.is_err(),
            "nobody signs in as alex"
        );

        // The owner filter lists every account, the sample engineers too.
        page.goto("/sessions?owner=alex").await;
        let options = page
            .js("[...document.querySelectorAll('#f-owner option')].map(o => o.value)")
            .await;
        for (username, _) in casebook::demo::ENGINEERS {
            assert!(
                options.as_array().unwrap().contains(&json!(username)),
                "{username} in {options}"
            );
        }
        let chosen = page
            .js("document.querySelector('#f-owner option:checked').textContent")
            .await;
        assert_eq!(chosen, "Alex Moreno (alex)");
        // Every card of alex's names Alex Moreno, with the username on hover.
        let owners = page
            .js("[...document.querySelectorAll('.card .facts .person')].map(p => [p.textContent, p.title])")
            .await;
        let owners = owners.as_array().unwrap();
        assert!(owners.len() >= 5, "alex's sessions: {owners:?}");
        assert!(
            owners.iter().all(|o| *o == json!(["Alex Moreno", "alex"])),
            "{owners:?}"
        );
        page.screenshot("owners-history-desktop-light").await;

        // The admin closing one of them is told whose it is, by name.
        let id = page
            .js("document.querySelector('.card[data-status=active]').id.slice(2)")
            .await;
        let id = id.as_str().unwrap().to_string();
        page.open_popover(&id).await;
        let title = page
            .js(&format!("document.querySelector('#p-{id} .pop-title').innerText"))
            .await;
        assert!(
            title.as_str().unwrap().ends_with("(Alex Moreno’s session)"),
            "{title}"
        );
        page.confirm_close(&id, "workaround", None).await;
        page.wait_for(
            "document.getElementById('toasts').innerText.includes('Session closed as Workaround')",
            "the toast",
        )
        .await;
        let toast = page.toast_text().await;
        assert!(toast.contains("(Alex Moreno’s session)"), "{toast}");

        // The details page: owner and timeline by display name.
        page.goto(&format!("/sessions/{id}")).await;
        let owner = page
            .js("[document.querySelector('.facts .person').textContent, document.querySelector('.facts .person').title]")
            .await;
        assert_eq!(owner, json!(["Alex Moreno", "alex"]));
        let actors = page
            .js("[...document.querySelectorAll('.timeline strong')].map(s => s.textContent + '/' + s.title)")
            .await;
        assert_eq!(actors[0], "Alex Moreno/alex", "{actors}");
        assert_eq!(
            actors.as_array().unwrap().last().unwrap(),
            "root/root",
            "{actors}"
        );
        page.screenshot("owners-details-desktop-light").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reassigns_a_session_on_its_details_page_and_the_timeline_says_so() {
    with_admin_page_on(
        TestDb::new(Backend::Sqlite).await,
        Script::Enabled,
        |page| async move {
            let id = page.app.create_active("Tunnel to the branch drops").await;
            page.app
                .accounts
                .create_user(NewUser {
                    username: Username::parse("lee").unwrap(),
                    display_name: Some(DisplayName::parse("Lee Chen").unwrap()),
                    password: Password::parse(PASSWORD).unwrap(),
                    role: Role::Engineer,
                })
                .await
                .unwrap();
            // A disabled account is never offered.
            page.app
                .accounts
                .create_disabled_user(Username::parse("alex").unwrap(), None)
                .await
                .unwrap();

            page.goto(&format!("/sessions/{id}")).await;
            page.click(".ask-reassign summary").await;
            let offered = page
                .js("[...document.querySelectorAll('#new-owner option')].map(o => o.value)")
                .await;
            assert_eq!(offered, json!(["", "lee", "root"]), "enabled accounts, not dana's own");
            page.find("#new-owner")
                .await
                .select_by_value("lee")
                .await
                .unwrap();
            page.screenshot("owners-reassign-desktop-light").await;
            page.click(".ask-reassign form button").await;
            page.wait_for("location.search === '?reassigned'", "the details page again")
                .await;
            let toast = page.toast_text().await;
            assert!(toast.contains("Owner changed"), "{toast}");
            let owner = page
                .js("[document.querySelector('.facts .person').textContent, document.querySelector('.facts .person').title]")
                .await;
            assert_eq!(owner, json!(["Lee Chen", "lee"]));
            let last = page
                .js("[...document.querySelectorAll('.timeline li')].pop().innerText")
                .await;
            assert!(
                last.as_str()
                    .unwrap()
                    .contains("root gave the session to Lee Chen (lee), from dana (dana) via details page"),
                "{last}"
            );
            page.screenshot("owners-reassigned-desktop-light").await;
            page.emulate(375, 800, "dark").await;
            page.goto(&format!("/sessions/{id}")).await;
            page.click(".ask-reassign summary").await;
            let fits = "document.documentElement.scrollWidth <= innerWidth";
            assert_eq!(page.js(fits).await, json!(true), "the page scrolls sideways");
            page.screenshot("owners-reassign-phone-dark").await;

            // dana, an engineer, gets no form, and the route refuses her.
            let html = page
                .app
                .get(&format!("/sessions/{id}"))
                .await
                .text()
                .await
                .unwrap();
            assert!(!html.contains("/owner\""), "no Reassign form for an engineer");
            let refused = page
                .app
                .client
                .post(page.app.url(&format!("/sessions/{id}/owner")))
                .form(&[("owner", "dana")])
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
            assert_eq!(page.app.session(&id).await["owner"], "lee");
        },
    )
    .await;
}
