//! ONTAP REST requests, by route template (never the raw path: bounded series).

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram};

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

/// Label values are `&'static str`s from fixed sets, so their addresses and lengths
/// identify them.
type LabelsKey = ((usize, usize), (usize, usize), u16);

fn identity(s: &'static str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// The handles of each (method, route, status), taken from the recorder at first use.
/// Building a key and finding it in the recorder's registry on every request costs
/// more than counting it; the hot path here is one read lock and an integer hash.
/// Vigil installs its recorder before it serves, so no handle outlives a recorder.
static HANDLES: OnceLock<RwLock<HashMap<LabelsKey, (Counter, Histogram)>>> = OnceLock::new();

impl RestRequestServed {
    pub fn emit(self) {
        let key = (identity(self.method), identity(self.route), self.status);
        let seconds = super::seconds(self.elapsed);
        let handles = HANDLES.get_or_init(Default::default);
        if let Some((count, time)) = handles.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            count.increment(1);
            time.record(seconds);
            return;
        }
        let count = counter!(REQUESTS, "method" => self.method, "route" => self.route, "status" => status_label(self.status));
        let time = histogram!(DURATION, "method" => self.method, "route" => self.route);
        count.increment(1);
        time.record(seconds);
        handles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (count, time));
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
