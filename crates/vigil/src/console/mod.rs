//! The web console: server-rendered pages under `/console/`, a little vanilla JS that
//! follows the streaming endpoint (`GET /api/vigil/stream`, [`crate::http::stream`]),
//! assets embedded in the binary. docs/console.md describes it.
//!
//! Every read and every action goes through the REST core as the signed-in user
//! ([`rest::Api::handle_as`]): the same resources, RBAC and errors as a REST client,
//! so nothing here decides what a user may see or do. Buttons a user could not use
//! are not shown ([`html::can_act`]), and a post made anyway gets the API's 403.
//!
//! One file per page group: [`login`], [`overview`], [`events`], [`on_demand`],
//! [`quarantine`], [`s3_audit`], [`s3`]; sessions and CSRF tokens in [`session`].

mod assets;
mod events;
pub mod html;
mod login;
mod on_demand;
mod overview;
mod quarantine;
mod s3;
mod s3_audit;
pub mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rest::Principal;
use serde_json::Value;

use crate::auth::Accounts;
use html::Frame;
use session::{Session, Sessions};

/// What every console handler gets: the REST API it acts through (as the signed-in
/// user), the server state and the console's own sessions.
#[derive(Clone)]
pub struct App {
    pub api: Arc<rest::Api>,
    pub state: Arc<crate::state::State>,
    pub console: Arc<Console>,
}

/// What the console keeps: its sessions and the accounts it signs users in with.
pub struct Console {
    pub sessions: Sessions,
    pub accounts: Accounts,
}

impl Console {
    pub fn new(state: &crate::state::State) -> Console {
        let secure = matches!(state.config.listen, crate::config::Listen::Https(_));
        Console {
            sessions: Sessions::new(secure),
            accounts: Accounts::new(Arc::clone(&state.store)),
        }
    }
}

pub fn routes(app: App) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(overview::page))
        .route("/console/login", get(login::form).post(login::submit))
        .route("/console/logout", post(login::logout))
        .route("/console/events", get(events::page))
        .route("/console/on-demand", get(on_demand::page))
        .route("/console/on-demand/run", post(on_demand::run))
        .route("/console/on-demand/cancel", post(on_demand::cancel))
        .route("/console/on-demand/report", get(on_demand::report))
        .route("/console/quarantine", get(quarantine::page))
        .route("/console/quarantine/restore", post(quarantine::restore))
        .route("/console/quarantine/delete", post(quarantine::delete))
        .route("/console/s3-audit", get(s3_audit::page))
        .route("/console/s3-audit/download", get(s3_audit::download))
        .route("/console/s3", get(s3::page))
        .route("/console/s3/regenerate", post(s3::regenerate))
        .route("/console/assets/{name}", get(assets::serve))
        .with_state(app)
}

/// A signed-in request.
pub struct Signed {
    pub token: String,
    pub session: Session,
    pub who: Principal,
}

impl Signed {
    pub fn frame<'a>(&'a self, title: &'a str, current: &'a str) -> Frame<'a> {
        Frame {
            title,
            current,
            who: &self.who,
            csrf: &self.session.csrf,
        }
    }

    /// A page of the console for this user, answered 200.
    pub fn page(&self, title: &str, current: &str, main: &str) -> Response {
        html::respond(
            StatusCode::OK,
            html::page(&self.frame(title, current), main),
        )
    }
}

/// A page handler's user: anyone not signed in is sent to the login page.
impl FromRequestParts<App> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Signed, Response> {
        signed(app, &parts.headers).map_err(|r| *r)
    }
}

/// A form posted to an action (`/console/quarantine/restore`) by a signed-in user,
/// carrying the session's CSRF token; a refusal links back to the action's page.
pub struct Action {
    pub signed: Signed,
    form: HashMap<String, String>,
}

impl Action {
    /// A field of the form; empty when absent.
    pub fn get(&self, key: &str) -> &str {
        self.form.get(key).map(String::as_str).unwrap_or_default()
    }
}

impl FromRequest<App> for Action {
    type Rejection = Response;

    async fn from_request(request: Request, app: &App) -> Result<Action, Response> {
        let page = page_of_action(request.uri().path());
        let headers = request.headers().clone();
        let Form(form) = Form::<HashMap<String, String>>::from_request(request, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let signed = signed_post(app, &headers, &form, &page).map_err(|r| *r)?;
        Ok(Action { signed, form })
    }
}

/// The page an action belongs to: its path without the last segment
/// (`/console/logout` belongs to the overview, `/console/`).
fn page_of_action(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((page, _)) if page != "/console" && !page.is_empty() => page.to_string(),
        _ => "/console/".to_string(),
    }
}

/// The request's user, or the way to the login page.
/// The refusal is boxed: a response is large, and the signed-in path is the common one.
pub fn signed(app: &App, headers: &HeaderMap) -> Result<Signed, Box<Response>> {
    let to_login = || Box::new(Redirect::to("/console/login").into_response());
    let (token, session) = app.console.sessions.find(headers).ok_or_else(to_login)?;
    let Some(who) = app.console.accounts.current(&session.user) else {
        app.console.sessions.close(&token);
        return Err(to_login());
    };
    Ok(Signed {
        token,
        session,
        who,
    })
}

/// A form post from a signed-in user carrying the session's CSRF token; anything else
/// is refused before it reaches the API.
fn signed_post(
    app: &App,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    current: &str,
) -> Result<Signed, Box<Response>> {
    let Some((token, session)) = app.console.sessions.find(headers) else {
        return Err(Box::new(plain(
            StatusCode::FORBIDDEN,
            "Not signed in: log in to the console first.",
        )));
    };
    let Some(who) = app.console.accounts.current(&session.user) else {
        app.console.sessions.close(&token);
        return Err(Box::new(plain(
            StatusCode::FORBIDDEN,
            "This account cannot sign in.",
        )));
    };
    let s = Signed {
        token,
        session,
        who,
    };
    let given = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !session::same(given, &s.session.csrf) {
        return Err(Box::new(html::error_page(
            &s.frame("Refused", current),
            StatusCode::FORBIDDEN,
            "The form did not carry this session's CSRF token: reload the page and try again.",
        )));
    }
    Ok(s)
}

pub fn plain(status: StatusCode, text: &str) -> Response {
    let mut r = (status, format!("{text}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A REST answer as the console reads it.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The API's error message, or the status.
    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("The request failed ({}).", self.status))
    }

    pub fn records(&self) -> Vec<Value> {
        self.body["records"].as_array().cloned().unwrap_or_default()
    }
}

/// Calls the REST API as `who`; `path` is a path and query as a REST client sends it.
pub async fn rest(app: &App, who: &Principal, method: Method, path: &str) -> Reply {
    let Ok(uri) = path.parse::<Uri>() else {
        return Reply {
            status: StatusCode::BAD_REQUEST,
            body: serde_json::json!({"error": {"message": "The console built an invalid URL."}}),
        };
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let request_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let response = app
        .api
        .handle_as(
            who.clone(),
            method,
            &uri,
            &headers,
            Ok(Bytes::new()),
            &request_id,
        )
        .await;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    Reply { status, body }
}

/// A path segment or query value, percent-encoded.
pub fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The SVM key of a path that lists over SVMs: every SVM (`*`), or an SVM-scoped
/// user's own (such a user addresses its SVM by uuid).
pub fn all_svms(who: &Principal) -> String {
    match &who.svm {
        Some((uuid, _)) => enc(uuid),
        None => "*".to_string(),
    }
}

/// The SVMs the user sees, by name.
pub async fn svms(app: &App, who: &Principal) -> Vec<Value> {
    rest(
        app,
        who,
        Method::GET,
        "/api/svm/svms?fields=name,state&order_by=name&max_records=1000",
    )
    .await
    .records()
}

/// After an action: back to the page, with what happened in the query.
pub fn back(to: &str, note: &str) -> Response {
    Redirect::to(&format!("{to}?note={}", enc(note))).into_response()
}

/// The note an action left (see [`back`]), as a status paragraph.
pub fn note(query: &HashMap<String, String>) -> String {
    match query.get("note") {
        Some(n) if !n.is_empty() => {
            format!("<p class=\"note\" role=\"status\">{}</p>", html::esc(n))
        }
        _ => String::new(),
    }
}

/// An API failure as a page with the API's status (403 stays 403).
pub fn failed(s: &Signed, current: &str, reply: &Reply) -> Response {
    html::error_page(&s.frame("Refused", current), reply.status, &reply.message())
}
