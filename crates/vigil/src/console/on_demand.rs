//! On-demand scanning: policies with their schedules, runs with live progress (files
//! done of files found, files per second, ETA once the walk has found every file),
//! run now, cancel, and each run's report.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::html::{can_act, esc, post_button, text};
use super::{Action, App, Signed};
use super::{back, enc, rest};
use crate::namespace::Symlinks;

const HERE: &str = "/console/on-demand";
/// The largest report the console shows; the rest is on disk.
const REPORT_MAX: u64 = 4 * 1024 * 1024;

pub async fn page(
    AxumState(app): AxumState<App>,
    s: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let who = &s.who;
    let csrf = &s.session.csrf;
    let policies = rest(
        &app,
        who,
        Method::GET,
        &format!("/api/protocols/vscan/{}/on-demand-policies?fields=name,svm,scan_paths,log_path,schedule,remediation,incremental&max_records=1000", super::all_svms(who)),
    )
    .await;
    if !policies.ok() {
        return super::failed(&s, HERE, &policies);
    }
    let mut main = super::note(&q);
    main.push_str("<section aria-labelledby=\"h-policies\"><h2 id=\"h-policies\">Policies</h2><table id=\"policies\"><thead><tr><th scope=\"col\">SVM</th><th scope=\"col\">Policy</th><th scope=\"col\">Scan paths</th><th scope=\"col\">Schedule</th><th scope=\"col\">Remediation</th><th scope=\"col\">Report folder</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
    let policies = policies.records();
    let mut scheduled = Vec::new();
    for p in &policies {
        let svm = p["svm"]["uuid"].as_str().unwrap_or_default();
        let name = p["name"].as_str().unwrap_or_default();
        let paths: Vec<&str> = p["scan_paths"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let schedule = p["schedule"]["name"].as_str().unwrap_or("");
        if !schedule.is_empty() && !scheduled.contains(&schedule) {
            scheduled.push(schedule);
        }
        let actions = if can_act(who, svm) {
            post_button(
                "/console/on-demand/run",
                &[("svm", svm), ("policy", name)],
                &format!("Run {name} now"),
                csrf,
                "act",
            )
        } else {
            String::new()
        };
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
            text(&p["svm"]["name"]),
            esc(name),
            esc(&paths.join(", ")),
            if schedule.is_empty() {
                "on request".to_string()
            } else {
                esc(schedule)
            },
            text(&p["remediation"]),
            text(&p["log_path"]),
        );
    }
    super::html::end_table(&mut main, policies.is_empty(), 7, "No on-demand policies.");
    main.push_str("</section>");

    let schedules = rest(
        &app,
        who,
        Method::GET,
        "/api/cluster/schedules?fields=name,type,cron,interval&max_records=1000",
    )
    .await;
    main.push_str("<section aria-labelledby=\"h-schedules\"><h2 id=\"h-schedules\">Schedules in use</h2><table id=\"schedules\"><thead><tr><th scope=\"col\">Schedule</th><th scope=\"col\">Type</th><th scope=\"col\">When</th></tr></thead><tbody>");
    let mut any = false;
    for sc in schedules.records() {
        let name = sc["name"].as_str().unwrap_or_default();
        if !scheduled.contains(&name) {
            continue;
        }
        any = true;
        let when = if sc["cron"].is_object() {
            describe_cron(&sc["cron"])
        } else {
            text(&sc["interval"])
        };
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td>{when}</td></tr>",
            esc(name),
            text(&sc["type"])
        );
    }
    super::html::end_table(&mut main, !any, 3, "No policy is scheduled.");
    main.push_str("</section>");

    let runs = rest(
        &app,
        who,
        Method::GET,
        &format!("/api/protocols/vscan/{}/on-demand-runs?fields=svm,uuid,policy,type,trigger,status,start_time,end_time,files_scanned,infected_count,error_count,report&max_records=20", super::all_svms(who)),
    )
    .await;
    let act_svms: Vec<String> = super::svms(&app, who)
        .await
        .iter()
        .filter_map(|v| v["uuid"].as_str())
        .filter(|u| can_act(who, u))
        .map(str::to_string)
        .collect();
    let _ = write!(
        main,
        "<section aria-labelledby=\"h-runs\"><h2 id=\"h-runs\">Runs</h2><table id=\"runs\" data-live=\"runs\" data-csrf=\"{}\" data-act-svms=\"{}\"><thead><tr>\
<th scope=\"col\">Policy</th><th scope=\"col\">SVM</th><th scope=\"col\">Type</th><th scope=\"col\">Status</th><th scope=\"col\">Progress</th>\
<th scope=\"col\">Files</th><th scope=\"col\">Files/s</th><th scope=\"col\">ETA</th><th scope=\"col\">Infected</th><th scope=\"col\">Started</th><th scope=\"col\">Actions</th></tr></thead><tbody>",
        esc(csrf),
        esc(&act_svms.join(" "))
    );
    for r in runs.records() {
        main.push_str(&run_row(who, csrf, &r));
    }
    main.push_str("</tbody></table></section>");
    s.page("On-demand scans", HERE, &main)
}

fn describe_cron(cron: &serde_json::Value) -> String {
    let list = |k: &str| {
        cron[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "*".to_string())
    };
    esc(&format!(
        "minutes {} hours {} days {} months {} weekdays {}",
        list("minutes"),
        list("hours"),
        list("days"),
        list("months"),
        list("weekdays")
    ))
}

fn run_row(who: &rest::Principal, csrf: &str, r: &serde_json::Value) -> String {
    let svm = r["svm"]["uuid"].as_str().unwrap_or_default();
    let uuid = r["uuid"].as_str().unwrap_or_default();
    let policy = r["policy"].as_str().unwrap_or_default();
    let status = r["status"].as_str().unwrap_or_default();
    let running = status == "RUNNING";
    let percent = if status.starts_with("COMPLETED") {
        100
    } else {
        0
    };
    let mut actions = String::new();
    if running && can_act(who, svm) {
        actions.push_str(&post_button(
            "/console/on-demand/cancel",
            &[("svm", svm), ("policy", policy)],
            &format!("Cancel {policy}"),
            csrf,
            "act danger",
        ));
    }
    if r["report"].is_string() {
        let _ = write!(
            actions,
            "<a class=\"report\" href=\"/console/on-demand/report?svm={}&amp;run={}\">Report</a>",
            enc(svm),
            enc(uuid)
        );
    }
    format!(
        "<tr data-run=\"{}\" data-svm=\"{}\" data-start=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"status\">{}</td>\
<td class=\"progress\"><progress max=\"100\" value=\"{percent}\" aria-label=\"Progress of {}\"></progress> <span class=\"percent\">{}</span></td>\
<td class=\"files\">{}</td><td class=\"rate\">–</td><td class=\"eta\">–</td><td class=\"infected\">{}</td><td>{}</td><td class=\"actions\">{actions}</td></tr>",
        esc(uuid),
        esc(svm),
        esc(r["start_time"].as_str().unwrap_or_default()),
        esc(policy),
        text(&r["svm"]["name"]),
        text(&r["type"]),
        esc(status),
        esc(policy),
        if running {
            "…".to_string()
        } else if percent == 100 {
            "100%".to_string()
        } else {
            "–".to_string()
        },
        text(&r["files_scanned"]),
        text(&r["infected_count"]),
        text(&r["start_time"]),
    )
}

async fn policy_action(app: App, action: Action, verb: &str) -> Response {
    let s = &action.signed;
    let (svm, policy) = (action.get("svm"), action.get("policy"));
    let reply = rest(
        &app,
        &s.who,
        Method::PATCH,
        &format!(
            "/api/protocols/vscan/{}/on-demand-policies/{}?action={verb}",
            enc(svm),
            enc(policy)
        ),
    )
    .await;
    if !reply.ok() {
        return super::failed(s, HERE, &reply);
    }
    let note = match verb {
        "run" => format!("Started a run of {policy}."),
        _ => format!("Asked the run of {policy} to stop."),
    };
    back(HERE, &note)
}

pub async fn run(AxumState(app): AxumState<App>, action: Action) -> Response {
    policy_action(app, action, "run").await
}

pub async fn cancel(AxumState(app): AxumState<App>, action: Action) -> Response {
    policy_action(app, action, "cancel").await
}

/// A run's report, read from the SVM namespace after the API has shown the user the
/// run (so who may read a report is the API's decision).
pub async fn report(
    AxumState(app): AxumState<App>,
    s: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let reply = rest(
        &app,
        &s.who,
        Method::GET,
        &format!(
            "/api/protocols/vscan/{}/on-demand-runs/{}?fields=report,policy",
            enc(get("svm")),
            enc(get("run"))
        ),
    )
    .await;
    if !reply.ok() {
        return super::failed(&s, HERE, &reply);
    }
    let Some(path) = reply.body["report"].as_str() else {
        return super::html::error_page(
            &s.frame("Report", HERE),
            StatusCode::NOT_FOUND,
            "This run has no report.",
        );
    };
    let text = app
        .state
        .svm(get("svm"))
        .ok_or("the SVM is gone".to_string())
        .and_then(|svm| app.state.namespace(&svm).map_err(|e| e.message.clone()))
        .and_then(|ns| {
            ns.resolve(path, Symlinks::Refuse)
                .map_err(|e| e.to_string())
        })
        .and_then(|file| read_capped(&file).map_err(|e| e.to_string()));
    match text {
        Ok(body) => {
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        Err(e) => super::html::error_page(
            &s.frame("Report", HERE),
            StatusCode::NOT_FOUND,
            &format!("The report {path} cannot be read: {e}"),
        ),
    }
}

fn read_capped(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(REPORT_MAX)
        .read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
