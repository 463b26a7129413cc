//! ONTAP jobs (asynchronous operations). A job runs as soon as it is started, so the
//! queue depth is the number running.

use metrics::{counter, describe_counter, describe_gauge, gauge};

pub const RUNNING: &str = "vigil_jobs_running";
pub const JOBS: &str = "vigil_jobs_total";

/// A job started.
#[derive(Debug, Clone, Copy)]
pub struct JobStarted;

impl JobStarted {
    pub fn emit(self) {
        gauge!(RUNNING).increment(1.0);
    }
}

/// A job ended.
#[derive(Debug, Clone, Copy)]
pub struct JobFinished {
    /// `success` or `failure`.
    pub state: &'static str,
}

impl JobFinished {
    pub fn emit(self) {
        gauge!(RUNNING).decrement(1.0);
        counter!(JOBS, "state" => self.state).increment(1);
    }
}

pub(crate) fn describe() {
    describe_gauge!(RUNNING, "ONTAP jobs running now (the job queue's depth).");
    describe_counter!(JOBS, "ONTAP jobs ended, by state (success or failure).");
}
