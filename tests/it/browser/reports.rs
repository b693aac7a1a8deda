//! The reports page: three SVG charts, each with a title and a table
//! beside it, axe-clean in light and dark, readable at phone width.

use serde_json::{Value, json};

use super::a11y::{axe_source, demo_db, violations};
use super::{Script, with_page_on};

const SVG_TITLES: &str = "[...document.querySelectorAll('main svg')].map(svg => { \
     const title = svg.querySelector(':scope > title'); \
     const label = svg.getAttribute('aria-labelledby'); \
     return title && title.id === label && svg.getAttribute('role') === 'img' ? title.textContent.trim() : ''; })";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_draws_titled_charts_with_tables_and_no_accessibility_violations() {
    let axe = axe_source();
    with_page_on(demo_db().await, Script::Enabled, |page| async move {
        for scheme in ["light", "dark"] {
            page.emulate(1280, 900, scheme).await;
            page.goto("/reports").await;
            let titles = page.js(SVG_TITLES).await;
            let titles: Vec<String> = serde_json::from_value(titles).unwrap();
            assert_eq!(titles.len(), 3, "three charts");
            assert!(titles.iter().all(|t| !t.is_empty()), "{titles:?}");
            assert_eq!(page.js("document.querySelectorAll('main table').length").await, json!(4));
            assert_eq!(violations(&page, &axe).await, Vec::<Value>::new(), "{scheme}");
            page.screenshot(&format!("reports-desktop-{scheme}")).await;
            page.js("document.getElementById('h-time').scrollIntoView()").await;
            page.screenshot(&format!("reports-time-desktop-{scheme}")).await;
        }
        // The demo's sessions show up: some were closed in the last 90 days.
        let closed = page
            .js("[...document.querySelector('[aria-labelledby=cap-outcomes] tbody').rows].reduce((n, r) => n + Number(r.cells[1].textContent), 0)")
            .await;
        assert!(closed.as_u64().unwrap_or(0) > 0, "closed sessions: {closed}");

        page.emulate(375, 800, "light").await;
        page.goto("/reports").await;
        let fits = "document.documentElement.scrollWidth <= innerWidth";
        assert_eq!(page.js(fits).await, json!(true), "the page scrolls sideways");
        // Chart text stays at least 9 px tall on a phone.
        let smallest = page
            .js("Math.min(...[...document.querySelectorAll('main svg text')].map(t => t.getBoundingClientRect().height).filter(h => h > 0))")
            .await;
        assert!(smallest.as_f64().unwrap() >= 9.0, "chart text {smallest} px");
        // Every link of the navigation is on screen.
        let nav_fits = "[...document.querySelectorAll('nav[aria-label=Main] a, nav[aria-label=Main] button')].every(e => { const r = e.getBoundingClientRect(); return r.left >= 0 && r.right <= innerWidth; })";
        assert_eq!(page.js(nav_fits).await, json!(true), "the navigation is cut off");
        page.screenshot("reports-phone-light").await;
        page.js("document.getElementById('h-time').scrollIntoView()").await;
        page.screenshot("reports-time-phone-light").await;
        page.emulate(375, 800, "dark").await;
        page.goto("/reports").await;
        page.screenshot("reports-phone-dark").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_filters_live_in_the_url_and_bad_dates_get_a_message() {
    with_page_on(demo_db().await, Script::Disabled, |page| async move {
        page.goto("/reports?from=2020-01-06&to=2020-01-19&customer=Nobody").await;
        assert_eq!(page.js("document.getElementById('r-from').value").await, json!("2020-01-06"));
        let link = page
            .js("document.querySelector('a[href^=\"/reports/outcomes.csv\"]').getAttribute('href')")
            .await;
        assert_eq!(link, json!("/reports/outcomes.csv?from=2020-01-06&to=2020-01-19&customer=Nobody"));
        let csv = page
            .app
            .client
            .get(page.app.url(link.as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            csv,
            "outcome,label,count\nresolved,Resolved,0\nescalated,Escalated,0\nworkaround,Workaround,0\n\
             unresolved,Unresolved,0\ncancelled,Cancelled,0\nresolved_externally,Resolved Externally,0\n"
        );

        page.goto("/reports?from=2020-02-30").await;
        let alert = page.js("document.querySelector('[role=alert]').textContent").await;
        assert!(alert.as_str().unwrap().contains("is not a date"), "{alert}");
        assert_eq!(page.js("document.querySelectorAll('main svg').length").await, json!(0));
    })
    .await;
}
