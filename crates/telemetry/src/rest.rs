//! ONTAP REST requests, by route template (never the raw path: bounded series).

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

pub const REQUESTS: &str = "vigil_rest_requests_total";
pub const DURATION: &str = "vigil_rest_request_duration_seconds";

/// A REST request was answered.
#[derive(Debug, Clone, Copy)]
pub struct RestRequestServed {
    /// `GET`, `POST`, ... or `other`.
    pub method: &'static str,
    /// The route's template (`/api/svm/svms/{uuid}`), or `unmatched`.
    pub route: &'static str,
    pub status: u16,
    pub elapsed: Duration,
}

impl RestRequestServed {
    pub fn emit(self) {
        counter!(REQUESTS, "method" => self.method, "route" => self.route, "status" => status_label(self.status))
            .increment(1);
        histogram!(DURATION, "method" => self.method, "route" => self.route)
            .record(super::seconds(self.elapsed));
    }
}

/// The status as a label without allocating for the codes Vigil answers with.
fn status_label(status: u16) -> metrics::SharedString {
    let known = match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        500 => "500",
        503 => "503",
        _ => return status.to_string().into(),
    };
    known.into()
}

pub(crate) fn describe() {
    describe_counter!(
        REQUESTS,
        "REST requests answered, by method, route template and status."
    );
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Time to answer a REST request, by method and route template."
    );
}
