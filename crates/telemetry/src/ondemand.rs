//! On-demand runs: how many are going and how they ended. Their files are in
//! `vigil_scans_total{trigger="on_demand"}`.

use metrics::{counter, describe_counter, describe_gauge, gauge};

pub const RUNNING: &str = "vigil_ondemand_runs_running";
pub const RUNS: &str = "vigil_ondemand_runs_total";

/// A policy was claimed for a run.
#[derive(Debug, Clone, Copy)]
pub struct RunClaimed;

impl RunClaimed {
    pub fn emit(self) {
        gauge!(RUNNING).increment(1.0);
    }
}

/// A run's claim was released (it ended, or never started).
#[derive(Debug, Clone, Copy)]
pub struct RunReleased;

impl RunReleased {
    pub fn emit(self) {
        gauge!(RUNNING).decrement(1.0);
    }
}

/// A run's record was written with its final status.
#[derive(Debug, Clone, Copy)]
pub struct RunFinished {
    /// `COMPLETED`, `FAILED` or `CANCELED`, as the record says.
    pub status: &'static str,
}

impl RunFinished {
    pub fn emit(self) {
        counter!(RUNS, "status" => self.status).increment(1);
    }
}

pub(crate) fn describe() {
    describe_gauge!(RUNNING, "On-demand runs going now.");
    describe_counter!(RUNS, "On-demand runs ended, by the status of their record.");
}
