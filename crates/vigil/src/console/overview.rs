//! The overview: SVMs with Vscan on or off, the scan servers of their pools with their
//! live state, threats of the last 24 hours and the scan rate.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::State as AxumState;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::Utc;

use super::html::{esc, respond, text};
use super::{App, Signed};
use super::{enc, rest};

pub async fn page(AxumState(app): AxumState<App>, s: Signed) -> Response {
    let who = &s.who;
    let svms = super::svms(&app, who).await;
    let vscan = rest(
        &app,
        who,
        Method::GET,
        "/api/protocols/vscan?fields=enabled,svm&max_records=1000",
    )
    .await;
    let enabled: HashMap<String, bool> = vscan
        .records()
        .iter()
        .map(|r| {
            (
                r["svm"]["uuid"].as_str().unwrap_or_default().to_string(),
                r["enabled"] == true,
            )
        })
        .collect();
    let mut main = String::from(
        "<section aria-labelledby=\"h-svms\"><h2 id=\"h-svms\">SVMs</h2><table id=\"svms\"><thead><tr><th scope=\"col\">SVM</th><th scope=\"col\">State</th><th scope=\"col\">Vscan</th></tr></thead><tbody>",
    );
    for svm in &svms {
        let uuid = svm["uuid"].as_str().unwrap_or_default();
        let on = enabled.get(uuid).copied().unwrap_or(false);
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td><span class=\"badge {}\">{}</span></td></tr>",
            text(&svm["name"]),
            text(&svm["state"]),
            if on { "on" } else { "off" },
            if on { "on" } else { "off" }
        );
    }
    super::html::end_table(&mut main, svms.is_empty(), 3, "No SVMs.");
    main.push_str("</section>");

    let servers = rest(
        &app,
        who,
        Method::GET,
        "/api/protocols/vscan/server-status?fields=svm,server,ip,type,state,vendor,version,update_time&max_records=1000",
    )
    .await;
    main.push_str(
        "<section aria-labelledby=\"h-servers\"><h2 id=\"h-servers\">Scan servers</h2><table id=\"servers\"><thead><tr><th scope=\"col\">SVM</th><th scope=\"col\">Server</th><th scope=\"col\">Role</th><th scope=\"col\">State</th><th scope=\"col\">Engine</th><th scope=\"col\">Since</th></tr></thead><tbody>",
    );
    let servers = servers.records();
    for r in &servers {
        let state = r["state"].as_str().unwrap_or_default();
        let _ = write!(
            main,
            "<tr data-svm=\"{}\" data-server=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"state\"><span class=\"badge {}\">{}</span></td><td>{} {}</td><td class=\"since\">{}</td></tr>",
            esc(r["svm"]["uuid"].as_str().unwrap_or_default()),
            esc(r["ip"].as_str().unwrap_or_default()),
            text(&r["svm"]["name"]),
            text(&r["server"]),
            text(&r["type"]),
            esc(state),
            esc(state),
            text(&r["vendor"]),
            text(&r["version"]),
            text(&r["update_time"])
        );
    }
    super::html::end_table(
        &mut main,
        servers.is_empty(),
        6,
        "No scan servers in active pools.",
    );
    main.push_str("</section>");

    let key = super::all_svms(who);
    let since = crate::scanning::events::event_time(Utc::now() - chrono::TimeDelta::hours(24));
    let threats = rest(
        &app,
        who,
        Method::GET,
        &format!(
            "/api/protocols/vscan/{key}/events?type=file_infected&event_time=%3E{}&fields=svm,event_time,file_path,server&max_records=10",
            enc(&since)
        ),
    )
    .await;
    let count = rest(
        &app,
        who,
        Method::GET,
        &format!(
            "/api/protocols/vscan/{key}/events?type=file_infected&event_time=%3E{}&return_records=false",
            enc(&since)
        ),
    )
    .await;
    if !threats.ok() {
        return respond(
            StatusCode::OK,
            super::html::page(
                &s.frame("Overview", "/console/"),
                &format!("{main}<p class=\"error\">{}</p>", esc(&threats.message())),
            ),
        );
    }
    let _ = write!(
        main,
        "<section aria-labelledby=\"h-threats\"><h2 id=\"h-threats\">Threats in the last 24 hours: <span id=\"threats-24h\">{}</span></h2>\
<table id=\"threats\" data-live=\"events\" data-type=\"file_infected\"><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">SVM</th><th scope=\"col\">File</th><th scope=\"col\">Server</th></tr></thead><tbody>",
        count.body["num_records"].as_u64().unwrap_or(0)
    );
    let names: HashMap<String, String> = svms
        .iter()
        .map(|s| {
            (
                s["uuid"].as_str().unwrap_or_default().to_string(),
                s["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for e in threats.records() {
        let svm = e["svm"]["uuid"].as_str().unwrap_or_default();
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&e["event_time"]),
            esc(names.get(svm).map_or(svm, String::as_str)),
            text(&e["file_path"]),
            text(&e["server"])
        );
    }
    main.push_str("</tbody></table></section>");

    let visible = |svm: &str| who.svm.as_ref().is_none_or(|(uuid, _)| uuid == svm);
    let rate = app.state.events.live().scans_per_minute(visible);
    main.push_str(&chart(&rate));
    let _ = write!(
        main,
        "<script type=\"application/json\" id=\"svm-names\">{}</script>",
        json_for_script(&serde_json::json!(names))
    );
    s.page("Overview", "/console/", &main)
}

/// Scans per minute as SVG bars (attributes, not inline styles, which the page's
/// content security policy refuses); the script redraws them from the stream.
pub fn chart(rate: &[u64]) -> String {
    let max = rate.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = rate.iter().sum();
    let mut out = format!(
        "<section aria-labelledby=\"h-rate\"><h2 id=\"h-rate\">Scans per minute</h2>\
<p>Last 60 minutes: <span id=\"scans-total\">{total}</span> files, this minute <span id=\"scans-now\">{}</span>.</p>\
<svg id=\"rate\" class=\"chart\" viewBox=\"0 0 600 100\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"Files scanned per minute over the last 60 minutes\">",
        rate.last().copied().unwrap_or(0)
    );
    for (i, n) in rate.iter().enumerate() {
        let h = n * 100 / max;
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"8\" height=\"{h}\"><title>{n}</title></rect>",
            i * 10 + 1,
            100 - h
        );
    }
    out.push_str("</svg></section>");
    out
}

/// JSON inside a `<script>` element: `<` escaped so no `</script>` can end it early.
pub fn json_for_script(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}
