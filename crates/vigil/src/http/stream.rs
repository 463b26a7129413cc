//! The streaming endpoint: `GET /api/vigil/stream?topics=events,runs,scans` as
//! server-sent events, for the console (its session cookie) and the CLI (HTTP Basic).
//! Each message is one SSE event named by its topic with a JSON `data` line; an
//! SVM-scoped account gets only its SVM's. `scans` sends the per-minute scan counts
//! every 5 seconds. A follower that falls behind gets a `lagged` event saying how many
//! messages it missed. Errors are ONTAP error bodies, as on the rest of `/api`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use rest::{Authenticator, Principal};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::App;
use crate::live::{Message, Topic};

const SCANS_EVERY: Duration = Duration::from_secs(5);

fn error(status: StatusCode, code: &str, message: &str, target: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": {"message": message, "code": code, "target": target}})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"vigil\""),
        );
    }
    r
}

async fn caller(app: &App, headers: &HeaderMap) -> Option<Principal> {
    if headers.contains_key(header::AUTHORIZATION) {
        return app.console.accounts.authenticate(headers).await;
    }
    let (_, session) = app.console.sessions.find(headers)?;
    app.console.accounts.current(&session.user)
}

pub async fn handle(
    AxumState(app): AxumState<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(who) = caller(&app, &headers).await else {
        return error(
            StatusCode::UNAUTHORIZED,
            "6",
            "Authentication failed: a valid user name and password, or a console session, are required.",
            "",
        );
    };
    let asked = q.get("topics").map_or("events,runs,scans", String::as_str);
    let mut topics = Vec::new();
    let mut scans = false;
    for t in asked.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match (t, Topic::parse(t)) {
            ("scans", _) => scans = true,
            (_, Some(topic)) => topics.push(topic),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "262197",
                    &format!("\"{t}\" is not a topic: use events, runs or scans."),
                    "topics",
                );
            }
        }
    }
    if topics.is_empty() && !scans {
        return error(
            StatusCode::BAD_REQUEST,
            "262197",
            "No topic given: use events, runs or scans.",
            "topics",
        );
    }
    let svm = who.svm.as_ref().map(|(uuid, _)| uuid.clone());
    Sse::new(follow(app, svm, topics, scans))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

struct Follower {
    app: App,
    rx: tokio::sync::broadcast::Receiver<Arc<Message>>,
    svm: Option<String>,
    topics: Vec<Topic>,
    scans: Option<tokio::time::Interval>,
}

fn follow(
    app: App,
    svm: Option<String>,
    topics: Vec<Topic>,
    scans: bool,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    let rx = app.state.events.live().subscribe();
    let scans = scans.then(|| tokio::time::interval(SCANS_EVERY));
    let follower = Follower {
        app,
        rx,
        svm,
        topics,
        scans,
    };
    futures::stream::unfold(follower, |mut f| async move {
        let event = f.next().await?;
        Some((Ok(event), f))
    })
}

impl Follower {
    fn visible(&self, svm: &str) -> bool {
        self.svm.as_deref().is_none_or(|own| own == svm)
    }

    /// The next event to send; `None` when the server is shutting down.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let got = match &mut self.scans {
                Some(every) => tokio::select! {
                    _ = every.tick() => None,
                    m = self.rx.recv() => Some(m),
                },
                None => Some(self.rx.recv().await),
            };
            let message = match got {
                None => {
                    let rate = self
                        .app
                        .state
                        .events
                        .live()
                        .scans_per_minute(|s| self.visible(s));
                    return Some(
                        Event::default()
                            .event("scans")
                            .data(json!({"per_minute": rate}).to_string()),
                    );
                }
                Some(Ok(m)) => m,
                Some(Err(RecvError::Lagged(n))) => {
                    return Some(
                        Event::default()
                            .event("lagged")
                            .data(json!({"missed": n}).to_string()),
                    );
                }
                Some(Err(RecvError::Closed)) => return None,
            };
            if !self.topics.contains(&message.topic) || !self.visible(&message.svm) {
                continue;
            }
            let mut data = message.data.clone();
            if data["svm"]["uuid"].is_null() {
                data["svm"] = json!({"uuid": message.svm});
            }
            return Some(
                Event::default()
                    .event(message.topic.as_str())
                    .data(data.to_string()),
            );
        }
    }
}
