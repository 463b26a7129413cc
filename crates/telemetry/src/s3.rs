//! Requests to the SVMs' S3 servers, by operation (ONTAP's audit names, a closed set).

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

use crate::handles::{Handles, Identity, identity};
use crate::status_label;

pub const REQUESTS: &str = "vigil_s3_requests_total";
pub const DURATION: &str = "vigil_s3_request_duration_seconds";

/// The operation of a request answered before anyone knew what it asked for (a bad
/// signature, an unknown access key, a request the S3 protocol layer could not parse).
pub const UNKNOWN_OPERATION: &str = "unknown";

/// An S3 request was answered.
#[derive(Debug, Clone, Copy)]
pub struct S3RequestServed {
    /// ONTAP's audit name of the operation (`PutObject`, `ListBucket`, `MPUpload`, ...),
    /// or [`UNKNOWN_OPERATION`].
    pub operation: &'static str,
    /// The status sent, after any refusal by the audit feed.
    pub status: u16,
    /// From the request's arrival (after its head) to its answer (before its body).
    pub elapsed: Duration,
}

static HANDLES: Handles<(Identity, u16)> = Handles::new();

impl S3RequestServed {
    pub fn emit(self) {
        let key = (identity(self.operation), self.status);
        HANDLES.count(key, super::seconds(self.elapsed), || {
            (
                counter!(REQUESTS, "operation" => self.operation, "status" => status_label(self.status)),
                histogram!(DURATION, "operation" => self.operation),
            )
        });
    }
}

pub(crate) fn describe() {
    describe_counter!(
        REQUESTS,
        "S3 requests answered by the SVMs' S3 servers, by operation and status."
    );
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Time to answer an S3 request (up to its response head), by operation."
    );
}
