//! Scan servers of the Vscan pools: their state and the scans moved off a failing one.

use metrics::{counter, describe_counter, describe_gauge, gauge};

pub const SERVERS: &str = "vigil_pool_servers";
pub const FAILOVERS: &str = "vigil_scan_failovers_total";

/// How many pool servers are in each state, taken when metrics are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServersCounted {
    pub primary_connected: u64,
    pub primary_disconnected: u64,
    pub secondary_connected: u64,
    pub secondary_disconnected: u64,
}

impl ServersCounted {
    pub fn emit(self) {
        for (role, state, n) in [
            ("primary", "connected", self.primary_connected),
            ("primary", "disconnected", self.primary_disconnected),
            ("secondary", "connected", self.secondary_connected),
            ("secondary", "disconnected", self.secondary_disconnected),
        ] {
            gauge!(SERVERS, "role" => role, "state" => state).set(n as f64);
        }
    }
}

/// Files a server failed or timed out on were handed to another server.
#[derive(Debug, Clone, Copy)]
pub struct ScansFailedOver {
    pub files: u64,
}

impl ScansFailedOver {
    pub fn emit(self) {
        counter!(FAILOVERS).increment(self.files);
    }
}

pub(crate) fn describe() {
    describe_gauge!(
        SERVERS,
        "Scan servers named by the Vscan pools (as server-status shows them), by role and state."
    );
    describe_counter!(
        FAILOVERS,
        "Files moved to another pool server after the first one failed or timed out."
    );
}
