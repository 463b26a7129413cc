//! The quarantine: files on-demand runs moved away, restore (back to where they were)
//! and delete (after a confirmation page: deleting cannot be undone).

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Query, State as AxumState};
use axum::http::Method;
use axum::response::Response;

use super::html::{can_act, esc, post_button, text};
use super::{Action, App, Signed};
use super::{back, enc, rest};

const HERE: &str = "/console/quarantine";

pub async fn page(
    AxumState(app): AxumState<App>,
    s: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let who = &s.who;
    let reply = rest(
        &app,
        who,
        Method::GET,
        &format!("/api/protocols/vscan/{}/quarantine?fields=svm,id,path,threat,size,quarantine_time&max_records=1000&order_by=quarantine_time%20desc", super::all_svms(who)),
    )
    .await;
    if !reply.ok() {
        return super::failed(&s, HERE, &reply);
    }
    let mut main = super::note(&q);
    main.push_str("<table id=\"quarantine\"><caption>Quarantined files, newest first</caption><thead><tr><th scope=\"col\">SVM</th><th scope=\"col\">Original path</th><th scope=\"col\">Threat</th><th scope=\"col\">Size</th><th scope=\"col\">Quarantined</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
    let records = reply.records();
    for r in &records {
        let svm = r["svm"]["uuid"].as_str().unwrap_or_default();
        let id = r["id"].as_str().unwrap_or_default();
        let path = r["path"].as_str().unwrap_or_default();
        let actions = if can_act(who, svm) {
            let fields = [("svm", svm), ("id", id), ("path", path)];
            format!(
                "{}{}",
                post_button(
                    "/console/quarantine/restore",
                    &fields,
                    &format!("Restore {path}"),
                    &s.session.csrf,
                    "act"
                ),
                post_button(
                    "/console/quarantine/delete",
                    &fields,
                    &format!("Delete {path}"),
                    &s.session.csrf,
                    "act danger"
                )
            )
        } else {
            String::new()
        };
        let _ = write!(
            main,
            "<tr data-id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"actions\">{actions}</td></tr>",
            esc(id),
            text(&r["svm"]["name"]),
            esc(path),
            text(&r["threat"]),
            text(&r["size"]),
            text(&r["quarantine_time"]),
        );
    }
    super::html::end_table(&mut main, records.is_empty(), 6, "The quarantine is empty.");
    s.page("Quarantine", HERE, &main)
}

pub async fn restore(AxumState(app): AxumState<App>, action: Action) -> Response {
    let s = &action.signed;
    let get = |k: &str| action.get(k);
    let reply = rest(
        &app,
        &s.who,
        Method::PATCH,
        &format!(
            "/api/protocols/vscan/{}/quarantine/{}?action=restore&return_timeout=120",
            enc(get("svm")),
            enc(get("id"))
        ),
    )
    .await;
    if !reply.ok() || reply.body["job"]["state"] == "failure" {
        return super::failed(s, HERE, &reply);
    }
    back(HERE, &format!("Restored {}.", get("path")))
}

/// Without `confirm=yes`: the confirmation page. With it: the deletion.
pub async fn delete(AxumState(app): AxumState<App>, action: Action) -> Response {
    let s = &action.signed;
    let get = |k: &str| action.get(k);
    let (svm, id, path) = (get("svm"), get("id"), get("path"));
    if get("confirm") != "yes" {
        let main = format!(
            "<p role=\"alert\">Delete the quarantined copy of <strong>{}</strong> for good? It cannot be restored afterwards.</p>{}<p><a href=\"{HERE}\">Keep it</a></p>",
            esc(path),
            post_button(
                "/console/quarantine/delete",
                &[("svm", svm), ("id", id), ("path", path), ("confirm", "yes")],
                &format!("Yes, delete {path}"),
                &s.session.csrf,
                "act danger",
            )
        );
        return s.page("Delete from quarantine", HERE, &main);
    }
    let reply = rest(
        &app,
        &s.who,
        Method::DELETE,
        &format!(
            "/api/protocols/vscan/{}/quarantine/{}?return_timeout=120",
            enc(svm),
            enc(id)
        ),
    )
    .await;
    if !reply.ok() || reply.body["job"]["state"] == "failure" {
        return super::failed(s, HERE, &reply);
    }
    back(HERE, &format!("Deleted the quarantined copy of {path}."))
}
