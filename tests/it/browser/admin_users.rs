//! The users page: an admin manages accounts with plain forms (no script
//! needed), each action says what it did once, and the page is axe-clean
//! and fits a phone.

use serde_json::{Value, json};

use casebook::domain::{Role, Username};
use casebook::service::UserChange;

use super::a11y::{axe_source, violations};
use super::{Page, Script, with_page};
use crate::helpers::user;

/// Makes the signed-in engineer dana an admin, as another admin would.
pub(super) async fn make_dana_admin(page: &Page) {
    let root = user(&page.app.accounts, "root", Role::Admin).await;
    let dana = Username::parse("dana").unwrap();
    page.app
        .accounts
        .change_user_as(&root, &dana, UserChange::MakeAdmin)
        .await
        .unwrap();
}

async fn toast_says(page: &Page, text: &str) {
    page.wait_for(
        &format!(
            "document.getElementById('toasts').innerText.includes({})",
            json!(text)
        ),
        text,
    )
    .await;
}

fn row(username: &str) -> String {
    format!(".user-row[data-username='{username}']")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_disables_enables_promotes_and_resets_users_without_javascript() {
    with_page(Script::Disabled, |page| async move {
        page.goto("/admin/users").await;
        assert_eq!(
            page.js("document.querySelector('h1').innerText").await,
            "Admins only",
            "an engineer is refused"
        );
        assert_eq!(
            page.js("!!document.querySelector('nav a[href=\"/admin/users\"]')")
                .await,
            json!(false),
            "an engineer's navigation has no Users"
        );

        make_dana_admin(&page).await;
        page.goto("/sessions").await;
        page.click("nav a[href='/admin/users']").await;
        page.wait_for("location.pathname === '/admin/users'", "the users page")
            .await;

        // A short password is refused beside its field; the rest is kept.
        page.find("#new-username").await.send_keys("sam").await.unwrap();
        page.find("#new-password").await.send_keys("short").await.unwrap();
        page.click("form[action='/admin/users'] button").await;
        page.wait_for("document.getElementById('new-password-error')", "the error")
            .await;
        assert_eq!(
            page.js("document.getElementById('new-password-error').innerText")
                .await,
            format!(
                "The password must be at least {} characters.",
                casebook::domain::Password::MIN_CHARS
            )
            .as_str()
        );
        assert_eq!(page.js("document.getElementById('new-username').value").await, "sam");

        page.find("#new-password")
            .await
            .send_keys("a long enough passphrase")
            .await
            .unwrap();
        page.find("#new-display-name")
            .await
            .send_keys("Sam Tyler")
            .await
            .unwrap();
        page.click("form[action='/admin/users'] button").await;
        toast_says(&page, "Added engineer “sam”.").await;
        assert_eq!(page.js("location.pathname + location.search").await, "/admin/users");
        page.client.refresh().await.unwrap();
        page.wait_for("document.readyState === 'complete'", "the reload").await;
        assert_eq!(
            page.js("document.getElementById('toasts').innerText.trim()").await,
            "",
            "a reload neither repeats nor re-announces the action"
        );
        let sam = Username::parse("sam").unwrap();
        assert_eq!(page.app.accounts.users().await.unwrap().len(), 3);

        page.click(&format!("{} button[aria-label='Disable sam']", row("sam"))).await;
        toast_says(&page, "Disabled sam").await;
        assert!(page.app.accounts.user(&sam).await.unwrap().is_disabled());
        assert_eq!(
            page.js(&format!("document.querySelector(\"{} .badge-disabled\").innerText", row("sam")))
                .await,
            "disabled"
        );
        page.click(&format!("{} button[aria-label='Enable sam']", row("sam"))).await;
        toast_says(&page, "Enabled sam").await;
        assert!(!page.app.accounts.user(&sam).await.unwrap().is_disabled());

        page.click(&format!("{} button[aria-label='Make admin: sam']", row("sam"))).await;
        toast_says(&page, "sam is now an admin.").await;
        assert_eq!(page.app.accounts.user(&sam).await.unwrap().role, Role::Admin);

        page.click(&format!("{} .ask-inline summary", row("sam"))).await;
        page.find("#password-sam").await.send_keys("a fresh passphrase").await.unwrap();
        page.click(&format!("{} .ask-inline form button", row("sam"))).await;
        toast_says(&page, "Password of sam changed").await;
        let client = "192.0.2.9".parse().unwrap();
        assert!(
            page.app
                .accounts
                .authenticate("sam", "a fresh passphrase", client)
                .await
                .is_ok()
        );

        // The admin's own row offers nothing that would lock them out, and
        // a forged form is refused with the reason.
        let own = row("dana");
        assert_eq!(
            page.js(&format!("document.querySelectorAll(\"{own} form[action$='disable'], {own} form[action$='admin']\").length"))
                .await,
            json!(0)
        );
        page.js(
            "(() => { const f = document.createElement('form'); f.method = 'post'; \
             f.action = '/admin/users/dana/remove-admin'; const c = document.createElement('input'); \
             c.type = 'hidden'; c.name = 'csrf'; c.value = document.querySelector('meta[name=csrf-token]').content; \
             f.append(c); document.body.append(f); f.submit(); return true; })()",
        )
        .await;
        toast_says(&page, "You cannot disable yourself or remove your own admin rights").await;
        let dana = page.app.accounts.user(&Username::parse("dana").unwrap()).await.unwrap();
        assert_eq!(dana.role, Role::Admin);
        page.screenshot("admin-users-desktop-light").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_page_is_axe_clean_in_light_and_dark_and_fits_a_phone() {
    let axe = axe_source();
    with_page(Script::Enabled, |page| async move {
        make_dana_admin(&page).await;
        user(
            &page.app.accounts,
            "a.very.long.username.that-needs-wrapping",
            Role::Engineer,
        )
        .await;
        for scheme in ["light", "dark"] {
            page.emulate(1280, 900, scheme).await;
            page.goto("/admin/users").await;
            page.click(&format!("{} .ask-inline summary", row("root")))
                .await;
            assert_eq!(
                violations(&page, &axe).await,
                Vec::<Value>::new(),
                "{scheme}"
            );
            page.screenshot(&format!("admin-users-desktop-{scheme}"))
                .await;

            page.emulate(375, 800, scheme).await;
            page.goto("/admin/users").await;
            page.click(&format!("{} .ask-inline summary", row("root")))
                .await;
            assert_eq!(
                page.js("document.documentElement.scrollWidth <= innerWidth")
                    .await,
                json!(true),
                "the page scrolls sideways at 375 px ({scheme})"
            );
            assert_eq!(
                violations(&page, &axe).await,
                Vec::<Value>::new(),
                "{scheme}, phone"
            );
            page.screenshot(&format!("admin-users-phone-{scheme}"))
                .await;
        }
    })
    .await;
}
