//! ONTAP REST requests, by route template (never the raw path: bounded series).

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

use crate::handles::{Handles, Identity, identity};
use crate::status_label;

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

type LabelsKey = (Identity, Identity, u16);

static HANDLES: Handles<LabelsKey> = Handles::new();

impl RestRequestServed {
    pub fn emit(self) {
        let key = (identity(self.method), identity(self.route), self.status);
        HANDLES.count(key, super::seconds(self.elapsed), || {
            (
                counter!(REQUESTS, "method" => self.method, "route" => self.route, "status" => status_label(self.status)),
                histogram!(DURATION, "method" => self.method, "route" => self.route),
            )
        });
    }
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
