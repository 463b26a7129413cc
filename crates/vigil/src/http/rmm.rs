//! The RMM `list_mav_scans` reporting service's door: API-key auth and XML, on ONTAP's
//! `/api` path with a `service` query term.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::Request;
use axum::response::Response;

use telemetry::rest::RestRequestServed;

use super::App;
use crate::state::State;

/// The service's route as the metrics label it.
const ROUTE: &str = "/api?service=";

/// `GET /api` and `GET /api/`: the RMM service when the query names a `service`, else
/// ONTAP REST.
pub async fn handle(AxumState(app): AxumState<App>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    if !names_a_service(&parts) {
        return super::ontap::handle(AxumState(app), Request::from_parts(parts, body)).await;
    }
    let started = Instant::now();
    let response = respond(&app.state, &parts).await;
    let elapsed = started.elapsed();
    if app.exporter.is_some() {
        RestRequestServed {
            method: "GET",
            route: ROUTE,
            status: 200,
            elapsed,
        }
        .emit();
    }
    tracing::info!(
        status = 200,
        micros = elapsed.as_micros() as u64,
        "MAV request done"
    );
    response
}

fn names_a_service(parts: &axum::http::request::Parts) -> bool {
    parts.method == axum::http::Method::GET
        && parts
            .uri
            .query()
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "service"))
}

async fn respond(state: &State, parts: &axum::http::request::Parts) -> Response {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("vigil")
        .to_string();
    let xml = crate::mav_service::respond(state, &query, &host).await;
    let mut response = Response::new(Body::from(xml));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(mav::CONTENT_TYPE),
    );
    response
}
