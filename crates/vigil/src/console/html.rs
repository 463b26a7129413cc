//! The page frame (navigation, the signed-in user, logout) and HTML escaping. Pages
//! are built as strings: each value from the API goes through [`esc`].

use std::fmt::Write;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rest::{Principal, Role};

pub const NAV: &[(&str, &str)] = &[
    ("/console/", "Overview"),
    ("/console/events", "Events"),
    ("/console/on-demand", "On-demand"),
    ("/console/quarantine", "Quarantine"),
    ("/console/s3-audit", "S3 audit"),
    ("/console/s3", "S3"),
];

/// Text escaped for HTML content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as text for a table cell (strings bare, nothing as a dash).
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "–".to_string(),
        serde_json::Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Readonly => "readonly",
        Role::Vsadmin => "vsadmin",
    }
}

/// Whether the user may act on `svm` (the REST API decides anyway; this only hides
/// buttons that would be refused).
pub fn can_act(who: &Principal, svm: &str) -> bool {
    match who.role {
        Role::Admin => true,
        Role::Readonly => false,
        Role::Vsadmin => who.svm.as_ref().is_some_and(|(uuid, _)| uuid == svm),
    }
}

/// A button posting `fields` (and the CSRF token) to `action`.
pub fn post_button(
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    csrf: &str,
    class: &str,
) -> String {
    let mut out = format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(action),
        esc(csrf)
    );
    for (name, value) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(name),
            esc(value)
        );
    }
    let _ = write!(
        out,
        "<button type=\"submit\" class=\"{}\">{}</button></form>",
        esc(class),
        esc(label)
    );
    out
}

pub struct Frame<'a> {
    pub title: &'a str,
    /// The navigation entry to mark current.
    pub current: &'a str,
    pub who: &'a Principal,
    pub csrf: &'a str,
}

/// A whole page: head, navigation, `main`.
pub fn page(frame: &Frame<'_>, main: &str) -> String {
    let mut nav = String::new();
    for (href, label) in NAV {
        let current = if *href == frame.current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<li><a href=\"{href}\"{current}>{label}</a></li>");
    }
    let scope = match &frame.who.svm {
        Some((_, name)) => format!(", SVM {}", esc(name)),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Vigil</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
<script src=\"/console/assets/console.js\" defer></script></head>\
<body data-role=\"{role}\"><header><span class=\"brand\">Vigil</span>\
<nav aria-label=\"Main\"><ul>{nav}</ul></nav>\
<div class=\"user\"><span id=\"signed-in\">{user} ({role}{scope})</span>\
<span id=\"live-state\" role=\"status\" aria-live=\"polite\">connecting…</span>\
<form method=\"post\" action=\"/console/logout\" class=\"inline\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Log out</button></form>\
</div></header><main id=\"main\"><h1>{title}</h1>{main}</main></body></html>",
        title = esc(frame.title),
        role = role_name(frame.who.role),
        user = esc(&frame.who.name),
        csrf = esc(frame.csrf),
    )
}

/// Closes a table's body; one without rows gets a row that says so (`message`).
pub fn end_table(main: &mut String, no_rows: bool, columns: usize, message: &str) {
    if no_rows {
        main.push_str(&format!(
            "<tr class=\"empty\"><td colspan=\"{columns}\">{}</td></tr>",
            esc(message)
        ));
    }
    main.push_str("</tbody></table>");
}

/// An HTML response with the console's headers: no caching of pages that show data,
/// no framing, no scripts from elsewhere.
pub fn respond(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    r
}

/// A page that only says what went wrong (an error of the API, a refused form).
pub fn error_page(frame: &Frame<'_>, status: StatusCode, message: &str) -> Response {
    let main = format!(
        "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"{}\">Back</a></p>",
        esc(message),
        esc(frame.current)
    );
    respond(status, page(frame, &main))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn who_may_act() {
        let p = |role, svm: Option<&str>| Principal {
            name: "u".into(),
            role,
            svm: svm.map(|s| (s.to_string(), "n".to_string())),
        };
        assert!(can_act(&p(Role::Admin, None), "s"));
        assert!(!can_act(&p(Role::Readonly, None), "s"));
        assert!(can_act(&p(Role::Vsadmin, Some("s")), "s"));
        assert!(!can_act(&p(Role::Vsadmin, Some("s")), "t"));
    }
}
