//! The ONTAP REST door: reads the body within the configured limit, gives the request
//! an id, hands it to the REST core ([`rest::Api`]) and logs the outcome.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::{Method, Request};
use axum::response::Response;
use tracing::Instrument;

use telemetry::rest::RestRequestServed;

use super::App;

/// The request method as a label: the standard ones, else `other` (bounded series).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub async fn handle(AxumState(app): AxumState<App>, request: Request<Body>) -> Response {
    let api = app.api;
    let request_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let (parts, body) = request.into_parts();
    let span = tracing::info_span!("request", id = %request_id, method = %parts.method, path = %parts.uri.path());
    // Labels are worked out only when metrics are on, so `--metrics false` costs nothing.
    let labels = app.exporter.is_some().then(|| {
        (
            method_label(&parts.method),
            api.route_template(parts.uri.path()),
        )
    });
    async move {
        let started = Instant::now();
        let limit = api.body_limit();
        let body = axum::body::to_bytes(body, limit).await.map_err(|_| limit);
        let unread_body = body.is_err();
        let mut response = api
            .handle(parts.method, &parts.uri, &parts.headers, body, &request_id)
            .await;
        if unread_body {
            // The rest of the body is still on the wire: the connection cannot be reused.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        if let Some((method, route)) = labels {
            RestRequestServed {
                method,
                route,
                status,
                elapsed,
            }
            .emit();
        }
        tracing::info!(status, micros = elapsed.as_micros() as u64, "request done");
        response
    }
    .instrument(span)
    .await
}
