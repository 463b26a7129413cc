//! Vscan events: filtered by SVM, type and time (UTC), 50 to a page, newest first; on
//! the first page new events matching the filter appear as they are recorded.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Query, State as AxumState};
use axum::http::Method;
use axum::response::Response;

use super::html::{esc, text};
use super::{App, Signed};
use super::{enc, rest};
use crate::api::vscan::events::TYPES;

const PAGE: usize = 50;

/// `2026-12-03T14:05` (a `datetime-local` value, read as UTC) as an event time bound.
fn bound(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let parsed = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    Some(crate::scanning::events::event_time(parsed.and_utc()))
}

pub async fn page(
    AxumState(app): AxumState<App>,
    s: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let who = &s.who;
    let svms = super::svms(&app, who).await;
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let svm = get("svm");
    let kind = get("type");
    let (from, to) = (get("from"), get("to"));
    let offset: usize = get("offset").parse().unwrap_or(0);

    let mut main = String::from(
        "<form method=\"get\" action=\"/console/events\" class=\"filters\" aria-label=\"Filter events\">",
    );
    main.push_str("<label for=\"f-svm\">SVM</label><select id=\"f-svm\" name=\"svm\"><option value=\"\">All</option>");
    for v in &svms {
        let uuid = v["uuid"].as_str().unwrap_or_default();
        let sel = if uuid == svm { " selected" } else { "" };
        let _ = write!(
            main,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(uuid),
            text(&v["name"])
        );
    }
    main.push_str("</select><label for=\"f-type\">Type</label><select id=\"f-type\" name=\"type\"><option value=\"\">All</option>");
    for t in TYPES {
        let sel = if *t == kind { " selected" } else { "" };
        let _ = write!(main, "<option{sel}>{t}</option>");
    }
    let _ = write!(
        main,
        "</select><label for=\"f-from\">From (UTC)</label><input id=\"f-from\" name=\"from\" type=\"datetime-local\" value=\"{}\">\
<label for=\"f-to\">To (UTC)</label><input id=\"f-to\" name=\"to\" type=\"datetime-local\" value=\"{}\">\
<button type=\"submit\">Filter</button></form>",
        esc(from),
        esc(to)
    );

    let mut path = format!(
        "/api/protocols/vscan/{}/events?fields=svm,type,event_time,file_path,server,vendor,version,disconnect_reason,consecutive_occurrence_count&max_records={PAGE}&offset={offset}",
        if svm.is_empty() {
            super::all_svms(who)
        } else {
            enc(svm)
        }
    );
    if !kind.is_empty() {
        let _ = write!(path, "&type={}", enc(kind));
    }
    let time = match (bound(from), bound(to)) {
        (Some(a), Some(b)) => Some(format!("{a}..{b}")),
        (Some(a), None) => Some(format!(">={a}")),
        (None, Some(b)) => Some(format!("<={b}")),
        (None, None) => None,
    };
    if let Some(t) = time {
        let _ = write!(path, "&event_time={}", enc(&t));
    }
    let reply = rest(&app, who, Method::GET, &path).await;
    if !reply.ok() {
        return super::failed(&s, "/console/events", &reply);
    }
    let names: HashMap<&str, &str> = svms
        .iter()
        .filter_map(|v| Some((v["uuid"].as_str()?, v["name"].as_str()?)))
        .collect();
    let live = offset == 0 && to.is_empty();
    let _ = write!(
        main,
        "<table id=\"events\"{} data-svm=\"{}\" data-type=\"{}\"><caption>Events, newest first</caption><thead><tr>\
<th scope=\"col\">Time</th><th scope=\"col\">SVM</th><th scope=\"col\">Type</th><th scope=\"col\">File</th>\
<th scope=\"col\">Server</th><th scope=\"col\">Reason</th><th scope=\"col\">Count</th></tr></thead><tbody>",
        if live { " data-live=\"events\"" } else { "" },
        esc(svm),
        esc(kind)
    );
    let records = reply.records();
    for e in &records {
        let uuid = e["svm"]["uuid"].as_str().unwrap_or_default();
        let _ = write!(
            main,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(e["type"].as_str().unwrap_or_default()),
            text(&e["event_time"]),
            esc(names.get(uuid).copied().unwrap_or(uuid)),
            text(&e["type"]),
            text(&e["file_path"]),
            text(&e["server"]),
            text(&e["disconnect_reason"]),
            text(&e["consecutive_occurrence_count"])
        );
    }
    super::html::end_table(&mut main, records.is_empty(), 7, "No events match.");
    main.push_str("<nav aria-label=\"Pages\" class=\"pager\">");
    let link = |offset: usize| {
        format!(
            "/console/events?svm={}&type={}&from={}&to={}&offset={offset}",
            enc(svm),
            enc(kind),
            enc(from),
            enc(to)
        )
    };
    if offset > 0 {
        let _ = write!(
            main,
            "<a href=\"{}\" rel=\"prev\">Newer</a> ",
            esc(&link(offset.saturating_sub(PAGE)))
        );
    }
    if reply.body["_links"]["next"].is_object() {
        let _ = write!(
            main,
            "<a href=\"{}\" rel=\"next\">Older</a>",
            esc(&link(offset + PAGE))
        );
    }
    main.push_str("</nav>");
    let _ = write!(
        main,
        "<script type=\"application/json\" id=\"svm-names\">{}</script>",
        super::overview::json_for_script(&serde_json::json!(names))
    );
    s.page("Events", "/console/events", &main)
}
