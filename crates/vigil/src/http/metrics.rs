//! The metrics door: `GET /metrics` in Prometheus text format, for the client networks
//! and bearer token of [`super::access`]; refusals are plain text, not ONTAP errors,
//! since scrapers are not ONTAP clients.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use scan::remote::Role;
use telemetry::pool::ServersCounted;

use super::App;
use super::access::Decision;
use crate::state::State;

/// What the door needs besides the node's state.
#[derive(Clone)]
pub struct Exporter {
    pub handle: PrometheusHandle,
    pub access: crate::config::MetricsAccess,
}

pub async fn handle(AxumState(app): AxumState<App>, request: Request<Body>) -> Response {
    let Some(exporter) = &app.exporter else {
        return plain(StatusCode::NOT_FOUND, "Metrics are off on this node.\n");
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
        });
    match exporter.access.decide(peer, bearer) {
        Decision::Allow => {}
        Decision::Unauthorized(why) => {
            let mut r = plain(StatusCode::UNAUTHORIZED, &format!("{why}\n"));
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vigil metrics\""),
            );
            return r;
        }
        Decision::Forbidden => {
            return plain(
                StatusCode::FORBIDDEN,
                "This address may not read /metrics (see --metrics-allow and --metrics-token).\n",
            );
        }
    }
    count_servers(&app.state);
    let mut response = Response::new(Body::from(exporter.handle.render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Pool server states are read when scraped: the monitors own them.
fn count_servers(state: &State) {
    let mut counted = ServersCounted::default();
    for s in state.scanners.statuses() {
        let n = match (s.role, s.connected) {
            (Role::Primary, true) => &mut counted.primary_connected,
            (Role::Primary, false) => &mut counted.primary_disconnected,
            (Role::Secondary, true) => &mut counted.secondary_connected,
            (Role::Secondary, false) => &mut counted.secondary_disconnected,
        };
        *n += 1;
    }
    counted.emit();
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut r = Response::new(Body::from(text.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
