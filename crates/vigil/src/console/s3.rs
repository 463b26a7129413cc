//! S3: each SVM's S3 service, its buckets and users; regenerating a user's keys shows
//! the new secret once, on the answer page only (the server keeps it sealed).

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Query, State as AxumState};
use axum::http::Method;
use axum::response::Response;

use super::html::{can_act, esc, post_button, text};
use super::{Action, App, Signed};
use super::{enc, rest};

const HERE: &str = "/console/s3";

pub async fn page(
    AxumState(app): AxumState<App>,
    s: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let who = &s.who;
    let services = rest(
        &app,
        who,
        Method::GET,
        "/api/protocols/s3/services?fields=svm,name,enabled,is_http_enabled,is_https_enabled,port,secure_port,comment&max_records=1000",
    )
    .await;
    if !services.ok() {
        return super::failed(&s, HERE, &services);
    }
    let services = services.records();
    let mut main = super::note(&q);
    main.push_str("<section aria-labelledby=\"h-services\"><h2 id=\"h-services\">Services</h2><table id=\"s3-services\"><thead><tr><th scope=\"col\">SVM</th><th scope=\"col\">Server name</th><th scope=\"col\">Enabled</th><th scope=\"col\">HTTP</th><th scope=\"col\">HTTPS</th><th scope=\"col\">Comment</th></tr></thead><tbody>");
    for v in &services {
        let port = |on: &str, port: &str| {
            if v[on] == true {
                text(&v[port])
            } else {
                "off".to_string()
            }
        };
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&v["svm"]["name"]),
            text(&v["name"]),
            text(&v["enabled"]),
            port("is_http_enabled", "port"),
            port("is_https_enabled", "secure_port"),
            text(&v["comment"]),
        );
    }
    super::html::end_table(&mut main, services.is_empty(), 6, "No S3 services.");
    main.push_str("</section>");

    let buckets = rest(
        &app,
        who,
        Method::GET,
        "/api/protocols/s3/buckets?fields=svm,name,size,logical_used_size,nas_path,comment&max_records=1000",
    )
    .await;
    main.push_str("<section aria-labelledby=\"h-buckets\"><h2 id=\"h-buckets\">Buckets</h2><table id=\"s3-buckets\"><thead><tr><th scope=\"col\">SVM</th><th scope=\"col\">Bucket</th><th scope=\"col\">Size</th><th scope=\"col\">Used</th><th scope=\"col\">NAS path</th><th scope=\"col\">Comment</th></tr></thead><tbody>");
    let buckets = buckets.records();
    for b in &buckets {
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&b["svm"]["name"]),
            text(&b["name"]),
            text(&b["size"]),
            text(&b["logical_used_size"]),
            text(&b["nas_path"]),
            text(&b["comment"]),
        );
    }
    super::html::end_table(&mut main, buckets.is_empty(), 6, "No buckets.");
    main.push_str("</section>");

    main.push_str("<section aria-labelledby=\"h-users\"><h2 id=\"h-users\">Users</h2><table id=\"s3-users\"><thead><tr><th scope=\"col\">SVM</th><th scope=\"col\">User</th><th scope=\"col\">Access key</th><th scope=\"col\">Keys expire</th><th scope=\"col\">Comment</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
    let mut any = false;
    for v in &services {
        let svm = v["svm"]["uuid"].as_str().unwrap_or_default();
        let users = rest(
            &app,
            who,
            Method::GET,
            &format!(
                "/api/protocols/s3/services/{}/users?fields=name,access_key,key_expiry_time,comment&max_records=1000",
                enc(svm)
            ),
        )
        .await;
        for u in users.records() {
            any = true;
            let name = u["name"].as_str().unwrap_or_default();
            let actions = if can_act(who, svm) {
                post_button(
                    "/console/s3/regenerate",
                    &[("svm", svm), ("user", name)],
                    &format!("Regenerate keys of {name}"),
                    &s.session.csrf,
                    "act",
                )
            } else {
                String::new()
            };
            let _ = write!(
                main,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"actions\">{actions}</td></tr>",
                text(&v["svm"]["name"]),
                esc(name),
                text(&u["access_key"]),
                text(&u["key_expiry_time"]),
                text(&u["comment"]),
            );
        }
    }
    super::html::end_table(&mut main, !any, 6, "No S3 users.");
    main.push_str("</section>");
    s.page("S3", HERE, &main)
}

pub async fn regenerate(AxumState(app): AxumState<App>, action: Action) -> Response {
    let s = &action.signed;
    let get = |k: &str| action.get(k);
    let user = get("user");
    let reply = rest(
        &app,
        &s.who,
        Method::PATCH,
        &format!(
            "/api/protocols/s3/services/{}/users/{}?regenerate_keys=true",
            enc(get("svm")),
            enc(user)
        ),
    )
    .await;
    if !reply.ok() {
        return super::failed(s, HERE, &reply);
    }
    let rec = reply.body["records"]
        .get(0)
        .cloned()
        .unwrap_or_else(|| reply.body.clone());
    let main = format!(
        "<p role=\"alert\">New keys for <strong>{}</strong>. The secret key is shown this once: copy it now.</p>\
<dl class=\"secret\"><dt>Access key</dt><dd><code id=\"access-key\">{}</code></dd><dt>Secret key</dt><dd><code id=\"secret-key\">{}</code></dd></dl>\
<p><a href=\"{HERE}\">Back to S3</a></p>",
        esc(user),
        text(&rec["access_key"]),
        text(&rec["secret_key"]),
    );
    s.page("S3 user keys", HERE, &main)
}
