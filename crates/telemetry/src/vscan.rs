//! Vscan events (what `/api/protocols/vscan/{svm.uuid}/events` lists).

use metrics::{counter, describe_counter};

pub const EVENTS: &str = "vigil_vscan_events_total";

/// One Vscan event was recorded (before repeats are folded for the API).
#[derive(Debug, Clone, Copy)]
pub struct VscanEventRecorded {
    /// ONTAP's event type: `file_infected`, `scanner_connected`, ...
    pub kind: &'static str,
}

impl VscanEventRecorded {
    pub fn emit(self) {
        counter!(EVENTS, "type" => self.kind).increment(1);
    }
}

pub(crate) fn describe() {
    describe_counter!(EVENTS, "Vscan events recorded, by ONTAP event type.");
}
