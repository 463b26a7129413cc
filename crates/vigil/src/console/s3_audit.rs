//! S3 audit: each SVM's audit configuration, the latest records of its active log and
//! its rotated logs to download. Files are read only after the API has shown the user
//! the configuration, so who may read them is the API's decision.

use std::collections::HashMap;
use std::fmt::Write;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rest::Principal;
use serde_json::Value;

use super::html::{esc, text};
use super::{App, Signed};
use super::{enc, rest};
use crate::namespace::Symlinks;

const HERE: &str = "/console/s3-audit";
/// Records shown from the active log.
const LATEST: usize = 20;
/// How far back from the end of the active log the latest records are looked for.
const TAIL_BYTES: u64 = 256 * 1024;

/// The log directory of a configuration as the API showed it.
fn log_dir(app: &App, config: &Value) -> Result<PathBuf, String> {
    let svm_uuid = config["svm"]["uuid"].as_str().unwrap_or_default();
    let svm = app.state.svm(svm_uuid).ok_or("the SVM is gone")?;
    let ns = app.state.namespace(&svm).map_err(|e| e.message)?;
    ns.resolve(config["log_path"].as_str().unwrap_or("/"), Symlinks::Refuse)
        .map_err(|e| e.to_string())
}

/// Rotated logs in `dir`, newest first.
fn archives(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64, std::time::SystemTime)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let meta = e.metadata().ok()?;
            (meta.is_file() && name.starts_with("audit_") && name != audit::log::ACTIVE_NAME).then(
                || {
                    (
                        name,
                        meta.len(),
                        meta.modified().unwrap_or(std::time::UNIX_EPOCH),
                    )
                },
            )
        })
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then(b.0.cmp(&a.0)));
    out.into_iter().map(|(n, l, _)| (n, l)).collect()
}

/// The last records of the active log.
fn latest(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut f = std::fs::File::open(dir.join(audit::log::ACTIVE_NAME))?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text
        .lines()
        .skip(usize::from(len > TAIL_BYTES))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let from = lines.len().saturating_sub(LATEST);
    lines.drain(..from);
    lines.reverse();
    Ok(lines)
}

/// The rotation settings in words.
fn rotation(r: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(size) = r["size"].as_u64() {
        parts.push(format!("when the log reaches {size} bytes"));
    }
    if let Some(schedule) = r["schedule"].as_object() {
        let when: Vec<String> = schedule
            .iter()
            .map(|(field, list)| format!("{field} {list}"))
            .collect();
        parts.push(format!("on schedule ({})", when.join(", ")));
    }
    if parts.is_empty() {
        "never".to_string()
    } else {
        parts.join(", and ")
    }
}

async fn configs(app: &App, who: &Principal, svm: Option<&str>) -> super::Reply {
    rest(
        app,
        who,
        Method::GET,
        &format!(
            "/api/protocols/audit/{}/object-store?fields=*",
            svm.map_or_else(|| super::all_svms(who), enc)
        ),
    )
    .await
}

pub async fn page(AxumState(app): AxumState<App>, s: Signed) -> Response {
    let reply = configs(&app, &s.who, None).await;
    if !reply.ok() {
        return super::failed(&s, HERE, &reply);
    }
    let mut main = String::new();
    let records = reply.records();
    if records.is_empty() {
        main.push_str("<p>No SVM has S3 auditing configured.</p>");
    }
    for c in &records {
        let svm = c["svm"]["uuid"].as_str().unwrap_or_default();
        let name = c["svm"]["name"].as_str().unwrap_or_default();
        let _ = write!(
            main,
            "<section class=\"audit\" aria-label=\"S3 audit of {n}\"><h2>{n}</h2><dl class=\"config\">\
<dt>Enabled</dt><dd>{}</dd><dt>Log folder</dt><dd>{}</dd><dt>Events</dt><dd>data {}, management {}</dd>\
<dt>Rotation</dt><dd>{}</dd><dt>Retention</dt><dd>{} logs, {}</dd></dl>",
            text(&c["enabled"]),
            text(&c["log_path"]),
            text(&c["events"]["data"]),
            text(&c["events"]["management"]),
            esc(&rotation(&c["log"]["rotation"])),
            text(&c["log"]["retention"]["count"]),
            text(&c["log"]["retention"]["duration"]),
            n = esc(name),
        );
        match log_dir(&app, c) {
            Err(e) => {
                let _ = write!(
                    main,
                    "<p class=\"error\">The log folder cannot be read: {}</p>",
                    esc(&e)
                );
            }
            Ok(dir) => {
                main.push_str("<h3>Latest records</h3>");
                match latest(&dir) {
                    Ok(lines) if !lines.is_empty() => {
                        main.push_str("<ol class=\"records\">");
                        for l in lines {
                            let _ = write!(main, "<li><code>{}</code></li>", esc(&l));
                        }
                        main.push_str("</ol>");
                    }
                    Ok(_) => main.push_str("<p>No records yet.</p>"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        main.push_str("<p>No records yet.</p>");
                    }
                    Err(e) => {
                        let _ = write!(main, "<p class=\"error\">{}</p>", esc(&e.to_string()));
                    }
                }
                main.push_str("<h3>Rotated logs</h3>");
                let list = archives(&dir);
                if list.is_empty() {
                    main.push_str("<p>None yet.</p>");
                } else {
                    main.push_str("<ul class=\"archives\">");
                    for (file, len) in list {
                        let _ = write!(
                            main,
                            "<li><a href=\"/console/s3-audit/download?svm={}&amp;file={}\" download>{}</a> ({len} bytes)</li>",
                            enc(svm),
                            enc(&file),
                            esc(&file)
                        );
                    }
                    main.push_str("</ul>");
                }
            }
        }
        main.push_str("</section>");
    }
    s.page("S3 audit", HERE, &main)
}

/// One rotated log, by name: only a name the folder's listing shows (no paths).
pub async fn download(
    AxumState(app): AxumState<App>,
    s: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let svm = q.get("svm").map(String::as_str).unwrap_or_default();
    let file = q.get("file").map(String::as_str).unwrap_or_default();
    let reply = configs(&app, &s.who, Some(svm)).await;
    if !reply.ok() {
        return super::failed(&s, HERE, &reply);
    }
    let Some(config) = reply.records().into_iter().next() else {
        return super::html::error_page(
            &s.frame("S3 audit", HERE),
            StatusCode::NOT_FOUND,
            "No S3 audit configuration for this SVM.",
        );
    };
    let not_found = || {
        super::html::error_page(
            &s.frame("S3 audit", HERE),
            StatusCode::NOT_FOUND,
            &format!("No rotated log {file:?} in the log folder."),
        )
    };
    let Ok(dir) = log_dir(&app, &config) else {
        return not_found();
    };
    if !archives(&dir).iter().any(|(n, _)| n == file) {
        return not_found();
    }
    let path = dir.join(file);
    let bytes = match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(b)) => b,
        _ => return not_found(),
    };
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
