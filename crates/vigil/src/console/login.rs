//! Login and logout. The login form carries its own CSRF token (a cookie and a hidden
//! field that must match), so another site cannot sign a browser in as someone else.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::App;
use super::html::{esc, respond};
use super::session::{self, COOKIE, LOGIN_COOKIE};

fn login_page(token: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Log in · Vigil</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head>\
<body class=\"login\"><main id=\"main\"><h1>Vigil console</h1>{error}\
<form method=\"post\" action=\"/console/login\" class=\"card\">\
<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
<p><label for=\"username\">User name</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus></p>\
<p><label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
<p><button type=\"submit\" id=\"login\">Log in</button></p></form></main></body></html>",
        token = esc(token)
    )
}

/// The form with a fresh login token.
fn with_token(app: &App, status: StatusCode, error: Option<&str>) -> Response {
    let token = session::random_token();
    let mut r = respond(status, login_page(&token, error));
    if let Ok(v) = HeaderValue::from_str(&app.console.sessions.set_cookie(
        LOGIN_COOKIE,
        &token,
        Some(600),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn form(AxumState(app): AxumState<App>, headers: HeaderMap) -> Response {
    if super::signed(&app, &headers).is_ok() {
        return Redirect::to("/console/").into_response();
    }
    with_token(&app, StatusCode::OK, None)
}

pub async fn submit(
    AxumState(app): AxumState<App>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = form.get("csrf").map(String::as_str).unwrap_or_default();
    let cookie = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if field.is_empty() || !session::same(field, cookie) {
        return with_token(
            &app,
            StatusCode::FORBIDDEN,
            Some("The login form expired or did not come from this server: try again."),
        );
    }
    let user = form.get("username").map(String::as_str).unwrap_or_default();
    let password = form.get("password").map(String::as_str).unwrap_or_default();
    let Some(who) = app.console.accounts.login(user, password).await else {
        tracing::info!(user, "console login refused");
        return with_token(
            &app,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    };
    tracing::info!(user = %who.name, "console login");
    let token = app.console.sessions.open(&who.name);
    let mut r = Redirect::to("/console/").into_response();
    let sessions = &app.console.sessions;
    for c in [
        sessions.set_cookie(COOKIE, &token, None),
        sessions.set_cookie(LOGIN_COOKIE, "", Some(0)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

pub async fn logout(AxumState(app): AxumState<App>, action: super::Action) -> Response {
    app.console.sessions.close(&action.signed.token);
    let mut r = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&app.console.sessions.set_cookie(COOKIE, "", Some(0))) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
