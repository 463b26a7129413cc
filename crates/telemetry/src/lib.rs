//! Vigil's internal events: one typed struct per happening, each with an `emit()` that
//! records what it means for the metrics. Call sites build and emit events; only this
//! crate knows metric names, labels and units (docs/metrics.md lists them).
//!
//! It sits below every other crate (it depends on the `metrics` facade only), so the
//! engine, the audit log and the REST core emit without knowing who collects. Without
//! an installed recorder (`vigil serve --metrics false`, unit tests) emitting is a no-op.
//!
//! Label values are `&'static str` from closed sets (triggers, verdicts, route templates,
//! event types), never paths, file names or addresses a client chose: the number of
//! series stays bounded.

pub mod audit;
mod handles;
pub mod jobs;
pub mod ondemand;
pub mod pool;
pub mod rest;
pub mod s3;
pub mod scans;
pub mod vscan;

use std::time::Duration;

/// Buckets of every `*_seconds` histogram: half a millisecond (a cached REST answer) to a
/// minute (a large archive).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Gives every metric its help text. Call once after installing a recorder.
pub fn describe() {
    scans::describe();
    pool::describe();
    vscan::describe();
    ondemand::describe();
    audit::describe();
    rest::describe();
    s3::describe();
    jobs::describe();
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// An HTTP status as a label, without allocating for the codes Vigil's REST API and S3
/// servers answer with.
fn status_label(status: u16) -> metrics::SharedString {
    let known = match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        206 => "206",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        411 => "411",
        412 => "412",
        413 => "413",
        416 => "416",
        500 => "500",
        501 => "501",
        503 => "503",
        _ => return status.to_string().into(),
    };
    known.into()
}
