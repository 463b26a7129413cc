//! What happens, as it happens: Vscan events, on-demand run progress and the scan rate,
//! for the streaming endpoint (`GET /api/vigil/stream`) that the console and the CLI
//! follow. Producers publish without waiting; a follower too slow to keep up loses the
//! oldest messages and is told how many (it can re-read the REST collections).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::Value;
use tokio::sync::broadcast;

/// Messages kept for followers that fall behind.
const BACKLOG: usize = 1024;
/// Minutes of scan counts kept for the overview's chart.
pub const RATE_MINUTES: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A Vscan event as `GET …/events` shows it.
    Events,
    /// An on-demand run started, progressed or ended.
    Runs,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Events => "events",
            Topic::Runs => "runs",
        }
    }

    pub fn parse(text: &str) -> Option<Topic> {
        match text {
            "events" => Some(Topic::Events),
            "runs" => Some(Topic::Runs),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub topic: Topic,
    /// The SVM it belongs to: SVM-scoped followers see only theirs.
    pub svm: String,
    pub data: Value,
}

pub struct Hub {
    tx: broadcast::Sender<Arc<Message>>,
    /// Per SVM: (minute since the epoch, files scanned in it), oldest first.
    rate: Mutex<HashMap<String, VecDeque<(i64, u64)>>>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub {
            tx: broadcast::channel(BACKLOG).0,
            rate: Mutex::new(HashMap::new()),
        }
    }
}

impl Hub {
    pub fn publish(&self, topic: Topic, svm: &str, data: Value) {
        // No follower is not an error: the message is for whoever listens now.
        let _ = self.tx.send(Arc::new(Message {
            topic,
            svm: svm.to_string(),
            data,
        }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Message>> {
        self.tx.subscribe()
    }

    /// Counts one file scanned for `svm` in the current minute.
    pub fn count_scan(&self, svm: &str) {
        let minute = Utc::now().timestamp().div_euclid(60);
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rate.entry(svm.to_string()).or_default();
        match ring.back_mut() {
            Some((m, n)) if *m == minute => *n += 1,
            _ => {
                ring.push_back((minute, 1));
                while ring.len() > RATE_MINUTES {
                    ring.pop_front();
                }
            }
        }
    }

    /// Files scanned per minute over the last [`RATE_MINUTES`] minutes, oldest first,
    /// summed over the SVMs `visible` accepts.
    pub fn scans_per_minute(&self, visible: impl Fn(&str) -> bool) -> Vec<u64> {
        let now = Utc::now().timestamp().div_euclid(60);
        let first = now - RATE_MINUTES as i64 + 1;
        let mut out = vec![0u64; RATE_MINUTES];
        let rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        for (svm, ring) in rate.iter() {
            if !visible(svm) {
                continue;
            }
            for (minute, n) in ring {
                if let Ok(i) = usize::try_from(minute - first)
                    && let Some(slot) = out.get_mut(i)
                {
                    *slot += n;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn followers_get_what_is_published_after_they_subscribe() {
        let hub = Hub::default();
        hub.publish(Topic::Events, "s1", json!({"n": 0}));
        let mut rx = hub.subscribe();
        hub.publish(Topic::Runs, "s1", json!({"n": 1}));
        let got = rx.try_recv().expect("one message");
        assert_eq!((got.topic, got.svm.as_str()), (Topic::Runs, "s1"));
        assert_eq!(got.data["n"], 1);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn scan_rate_counts_the_current_minute_per_svm() {
        let hub = Hub::default();
        for _ in 0..3 {
            hub.count_scan("a");
        }
        hub.count_scan("b");
        let all = hub.scans_per_minute(|_| true);
        assert_eq!(all.len(), RATE_MINUTES);
        // The last slot is this minute, unless the minute turned between the calls.
        assert_eq!(all.iter().sum::<u64>(), 4);
        assert_eq!(hub.scans_per_minute(|s| s == "a").iter().sum::<u64>(), 3);
        assert_eq!(Topic::parse("runs"), Some(Topic::Runs));
        assert_eq!(Topic::parse("nope"), None);
    }
}
