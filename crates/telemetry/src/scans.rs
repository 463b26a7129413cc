//! Files scanned, whoever asked: the scanning pipeline (on-demand, later on-access and
//! S3) and the clamd-protocol sockets.

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

pub const SCANS: &str = "vigil_scans_total";
pub const SCANNED_BYTES: &str = "vigil_scanned_bytes_total";
pub const SCAN_DURATION: &str = "vigil_scan_duration_seconds";
pub const CACHE_LOOKUPS: &str = "vigil_scan_cache_lookups_total";

/// Who asked for a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    OnDemand,
    OnAccess,
    S3Upload,
    /// A client of the clamd-protocol sockets (clamdscan, Samba, c-icap).
    Clamd,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::OnDemand => "on_demand",
            Trigger::OnAccess => "on_access",
            Trigger::S3Upload => "s3_upload",
            Trigger::Clamd => "clamd_protocol",
        }
    }
}

/// What answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The built-in YARA-X engine, in process.
    Builtin,
    /// A clamd server of a pool.
    Clamd,
    /// An ICAP server of a pool.
    Icap,
    /// The scan cache (a clean verdict without a scan).
    Cache,
    /// Nothing: skipped by scope, or no server could answer.
    None,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Builtin => "builtin",
            Engine::Clamd => "clamd",
            Engine::Icap => "icap",
            Engine::Cache => "cache",
            Engine::None => "none",
        }
    }
}

/// The verdict, without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Infected,
    /// The scanner could not scan this file (unreadable, refused).
    Error,
    /// No scanner answered (none connected, all failed, deadline passed).
    Unavailable,
    /// Outside the policy's scope.
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Infected => "infected",
            Verdict::Error => "error",
            Verdict::Unavailable => "unavailable",
            Verdict::Skipped => "skipped",
        }
    }
}

/// One file (or stream) got its verdict.
#[derive(Debug, Clone, Copy)]
pub struct ScanCompleted {
    pub trigger: Trigger,
    pub engine: Engine,
    pub verdict: Verdict,
    /// Bytes an engine was given (0 for cache hits, skips and unavailable scanners).
    pub bytes: u64,
    /// From the request to the verdict.
    pub elapsed: Duration,
}

impl ScanCompleted {
    pub fn emit(self) {
        let (trigger, engine) = (self.trigger.as_str(), self.engine.as_str());
        counter!(SCANS, "trigger" => trigger, "engine" => engine, "verdict" => self.verdict.as_str())
            .increment(1);
        if self.bytes > 0 {
            counter!(SCANNED_BYTES, "trigger" => trigger, "engine" => engine).increment(self.bytes);
        }
        histogram!(SCAN_DURATION, "trigger" => trigger).record(super::seconds(self.elapsed));
    }
}

/// The scan cache was asked whether a file is known clean.
#[derive(Debug, Clone, Copy)]
pub struct CacheLookedUp {
    pub hit: bool,
}

impl CacheLookedUp {
    pub fn emit(self) {
        let result = if self.hit { "hit" } else { "miss" };
        counter!(CACHE_LOOKUPS, "result" => result).increment(1);
    }
}

pub(crate) fn describe() {
    describe_counter!(
        SCANS,
        "Files and streams that got a verdict, by trigger, engine and verdict."
    );
    describe_counter!(
        SCANNED_BYTES,
        Unit::Bytes,
        "Bytes handed to a scan engine, by trigger and engine."
    );
    describe_histogram!(
        SCAN_DURATION,
        Unit::Seconds,
        "Time from a scan request to its verdict, by trigger."
    );
    describe_counter!(
        CACHE_LOOKUPS,
        "Scan cache lookups of files about to be scanned, by result (hit or miss)."
    );
}
