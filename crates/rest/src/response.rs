//! Response helpers shared by the dispatcher and error replies.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

pub const HAL_JSON: &str = "application/hal+json";

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    json_response_as(status, body, HAL_JSON)
}

pub fn json_response_as(status: StatusCode, body: &Value, content_type: &'static str) -> Response {
    body_response(status, body.to_string().into_bytes(), content_type)
}

/// A response with an already serialized JSON body.
pub fn body_response(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache,no-store,must-revalidate"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Removes every `_links` member except the collection's `next`, which is what ONTAP
/// does for `Accept: application/json`.
pub fn strip_links(value: &mut Value, keep_next: bool) {
    match value {
        Value::Object(map) => {
            let next = if keep_next {
                map.get("_links").and_then(|l| l.get("next")).cloned()
            } else {
                None
            };
            map.remove("_links");
            if let Some(next) = next {
                map.insert("_links".into(), serde_json::json!({ "next": next }));
            }
            for (_, v) in map.iter_mut() {
                strip_links(v, false);
            }
        }
        Value::Array(items) => {
            for v in items {
                strip_links(v, false);
            }
        }
        _ => {}
    }
}

/// Percent-encodes a path key the way ONTAP and its Python client do (`quote_plus`-safe).
pub fn encode_key(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, COMPONENT).to_string()
}

/// Everything but RFC 3986 unreserved characters is encoded.
pub const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
