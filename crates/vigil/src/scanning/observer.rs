//! The metrics hook of the scanning service: one typed event per scan, handed to an
//! observer. [`Metrics`] turns each into the `telemetry` event the exporter counts;
//! [`ScanCounters`] keeps totals in memory (what tests read).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use scan::dispatch::EngineKind;
use telemetry::scans::{ScanCompleted, Verdict};

use super::{OutcomeKind, Trigger};

/// One file went through the pipeline.
#[derive(Debug, Clone)]
pub struct FileScanned<'a> {
    pub svm: &'a str,
    pub trigger: Trigger,
    pub outcome: OutcomeKind,
    /// What answered: an engine, the cache, or none (skipped, unavailable).
    pub engine: EngineKind,
    /// Bytes the engine was given (0 for cache hits and skips).
    pub bytes: u64,
    /// From the request to the verdict, remediation included.
    pub elapsed: Duration,
}

pub trait ScanObserver: Send + Sync + 'static {
    fn file_scanned(&self, event: &FileScanned<'_>);
}

/// Totals per (trigger, outcome): files, bytes and time spent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    pub micros: u64,
}

#[derive(Default)]
pub struct ScanCounters {
    totals: Mutex<HashMap<(Trigger, OutcomeKind), Totals>>,
}

impl ScanCounters {
    pub fn get(&self, trigger: Trigger, outcome: OutcomeKind) -> Totals {
        let totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        totals.get(&(trigger, outcome)).copied().unwrap_or_default()
    }
}

impl ScanObserver for ScanCounters {
    fn file_scanned(&self, event: &FileScanned<'_>) {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let t = totals.entry((event.trigger, event.outcome)).or_default();
        t.files += 1;
        t.bytes += event.bytes;
        t.micros += u64::try_from(event.elapsed.as_micros()).unwrap_or(u64::MAX);
    }
}

/// The node's observer: every file is a [`ScanCompleted`] for the metrics endpoint.
pub struct Metrics;

impl ScanObserver for Metrics {
    fn file_scanned(&self, event: &FileScanned<'_>) {
        ScanCompleted {
            trigger: event.trigger.metric(),
            engine: event.engine,
            verdict: match event.outcome {
                OutcomeKind::Clean | OutcomeKind::Cached => Verdict::Clean,
                OutcomeKind::Infected => Verdict::Infected,
                OutcomeKind::Failed => Verdict::Error,
                OutcomeKind::Unavailable => Verdict::Unavailable,
                OutcomeKind::Skipped => Verdict::Skipped,
            },
            bytes: event.bytes,
            elapsed: event.elapsed,
        }
        .emit();
    }
}

/// The node's observer when the console is served: [`Metrics`], and the per-minute scan
/// counts of the overview's chart.
pub struct Live {
    pub hub: std::sync::Arc<crate::live::Hub>,
}

impl ScanObserver for Live {
    fn file_scanned(&self, event: &FileScanned<'_>) {
        Metrics.file_scanned(event);
        if event.outcome != OutcomeKind::Skipped {
            self.hub.count_scan(event.svm);
        }
    }
}
