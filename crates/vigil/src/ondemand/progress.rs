//! A run's progress as it goes, published on the live feed ([`crate::live`]) twice a
//! second: files handed to the scanners, files done, detections, and whether the walk
//! is still finding files (until it ends, the total is not known, so neither is an ETA).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::live::{Hub, Topic};

const EVERY: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Progress {
    pub queued: AtomicU64,
    pub done: AtomicU64,
    pub infected: AtomicU64,
    pub walk_done: AtomicBool,
}

impl Progress {
    /// The run's record (`status`, times, ids) with the live counts beside it.
    fn message(&self, record: &Value) -> Value {
        let mut m = json!({
            "uuid": record["uuid"],
            "svm": record["svm"],
            "policy": record["policy"],
            "type": record["type"],
            "status": record["status"],
            "start_time": record["start_time"],
            "files_queued": self.queued.load(Ordering::Relaxed),
            "files_done": self.done.load(Ordering::Relaxed),
            "infected_count": self.infected.load(Ordering::Relaxed),
            "walking": !self.walk_done.load(Ordering::Relaxed),
        });
        for field in ["end_time", "files_scanned", "error_count", "report"] {
            if let Some(v) = record.get(field) {
                m[field] = v.clone();
            }
        }
        m
    }
}

/// Publishes the run's progress until the returned task is aborted.
pub fn follow(
    hub: Arc<Hub>,
    svm: String,
    record: Value,
    progress: Arc<Progress>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        loop {
            every.tick().await;
            hub.publish(Topic::Runs, &svm, progress.message(&record));
        }
    })
}

/// The run's last message: its final record, every queued file done.
pub fn finished(hub: &Hub, svm: &str, record: &Value, progress: &Progress) {
    progress.walk_done.store(true, Ordering::Relaxed);
    let queued = progress.queued.load(Ordering::Relaxed);
    progress.done.store(queued, Ordering::Relaxed);
    hub.publish(Topic::Runs, svm, progress.message(record));
}
