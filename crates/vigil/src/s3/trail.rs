//! The trail of one S3 request: what the listener knows of it (request id, arrival,
//! peer, byte counts, status) joined with what the authorizer and the door report
//! ([`super::hooks::S3Operation`]), so the audit feed can write one complete record.
//!
//! [`layer`] wraps the `s3s` service: it gives every request an id
//! (`x-amz-request-id`), runs the request with its [`Trail`] reachable through
//! [`current`] (a task-local, so the door's commit point can reach it without the
//! request), and once the response is ready calls [`S3Hooks::finish`] before sending
//! it. A refusal there replaces the response with `503 ServiceUnavailable`. The request
//! metrics are emitted last, so they count the status the client gets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use telemetry::s3::{S3RequestServed, UNKNOWN_OPERATION};

use super::hooks::{AuditRefused, S3Hooks, S3Operation};

tokio::task_local! {
    static TRAIL: Arc<Trail>;
}

/// The trail of the request the current task serves, if a listener runs it.
pub fn current() -> Option<Arc<Trail>> {
    TRAIL.try_with(Arc::clone).ok()
}

pub struct Trail {
    pub request_id: String,
    /// When the request arrived (the record's `time`).
    pub arrived: DateTime<Utc>,
    pub started: Instant,
    pub client: Option<SocketAddr>,
    pub user_agent: Option<String>,
    /// The request body's announced length (decoded length for aws-chunked bodies).
    pub announced_in: u64,
    state: Mutex<TrailState>,
}

/// What happened to the request so far.
#[derive(Debug, Default, Clone)]
pub struct TrailState {
    /// The latest report of the authorizer or the door.
    pub op: Option<S3Operation>,
    /// The record written before the change became visible, when there was one.
    pub admitted: Option<S3Operation>,
    /// The file that lets a restart settle an admitted change (see `audit_feed`).
    pub pending: Option<PathBuf>,
    /// The audit feed refused the request: it answered 503 and there is nothing to write.
    pub refused: bool,
}

impl Trail {
    fn new(request_id: String, headers: &HeaderMap, client: Option<SocketAddr>) -> Trail {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        Trail {
            request_id,
            arrived: Utc::now(),
            started: Instant::now(),
            client,
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(String::from),
            announced_in: number("x-amz-decoded-content-length")
                .or_else(|| number("content-length"))
                .unwrap_or(0),
            state: Mutex::new(TrailState::default()),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, TrailState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a report of the authorizer or the door; a refusal by the authorizer stays.
    pub fn note(&self, op: &S3Operation) {
        let mut state = self.state();
        let mut op = op.clone();
        if let Some(before) = &state.op {
            op.authorized = op.authorized && before.authorized;
            if op.access_key.is_none() {
                op.access_key = before.access_key.clone();
            }
        }
        state.op = Some(op);
    }

    /// The request's record as it stands: the latest report with the listener's part.
    pub fn record(&self) -> Option<S3Operation> {
        let mut op = self.state().op.clone()?;
        op.request_id = self.request_id.clone();
        if op.client.is_none() {
            op.client = self.client;
        }
        op.user_agent = self.user_agent.clone();
        if op.bytes_in == 0 {
            op.bytes_in = self.announced_in;
        }
        op.elapsed = self.started.elapsed();
        Some(op)
    }
}

/// A request id as S3 gives them: 16 upper-case hex digits, unique per node run.
fn new_request_id() -> String {
    let id = uuid::Uuid::new_v4().as_u128() as u64;
    format!("{id:016X}")
}

/// The listener's middleware (see the module comment).
pub async fn layer(State(hooks): State<Arc<dyn S3Hooks>>, req: Request, next: Next) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let trail = Arc::new(Trail::new(new_request_id(), req.headers(), client));
    let request_id = trail.request_id.clone();
    let t = Arc::clone(&trail);
    let finished = TRAIL.scope(Arc::clone(&trail), async move {
        let resp = next.run(req).await;
        let op = t.record().map(|mut op| {
            op.status = resp.status().as_u16();
            if op.status >= 400 && op.error.is_none() {
                op.error = Some(status_error(resp.status()).to_string());
            }
            op.bytes_out = content_length(resp.headers());
            op
        });
        let operation = op.as_ref().map_or(UNKNOWN_OPERATION, |op| op.operation);
        let outcome = match op {
            Some(op) => hooks.finish(&op).await,
            None => Ok(()),
        };
        (resp, outcome, operation)
    });
    let (mut resp, outcome, operation) = finished.await;
    if let Err(refused) = outcome {
        resp = unavailable(&request_id, &refused);
    }
    S3RequestServed {
        operation,
        status: resp.status().as_u16(),
        elapsed: trail.started.elapsed(),
    }
    .emit();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    resp
}

fn content_length(headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The S3 code of an error the door did not report (the protocol layer answered it).
fn status_error(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "InvalidRequest",
        403 => "AccessDenied",
        404 => "NoSuchKey",
        405 => "MethodNotAllowed",
        411 => "MissingContentLength",
        412 => "PreconditionFailed",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    }
}

/// The answer to a request whose audit record cannot be written.
pub fn unavailable(request_id: &str, refused: &AuditRefused) -> Response {
    tracing::warn!(request_id, reason = %refused.0, "S3 request refused: audit record not written");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ServiceUnavailable</Code>\
         <Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
        REFUSED_MESSAGE
    );
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// What a client reads when auditing refuses its request (never the reason, which
/// names server paths; that goes to the server's log).
pub const REFUSED_MESSAGE: &str = "The audit record of this request cannot be written, so the request is refused; nothing was changed.";

/// The same refusal as an `s3s` error, for the door and the authorizer.
pub fn refused_error() -> s3s::S3Error {
    s3s::S3Error::with_message(s3s::S3ErrorCode::ServiceUnavailable, REFUSED_MESSAGE)
}
