//! The Vscan events log: every scanner connection change, detection and scan failure,
//! as ONTAP's `/vscan/{svm.uuid}/events` shows them. Producers (monitors, the
//! dispatcher, the scanning service) never wait for the database: [`EventLog::record`]
//! queues, one writer task stores.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use scan::dispatch::ScanEvent;
use scan::remote::{DisconnectReason, EventSink, ServerEvent, ServerEventKind};
use serde_json::{Value, json};
use store::Store;
use store::events::NewEvent;
use tokio::sync::mpsc;

/// Repeats of one event within this window fold into `consecutive_occurrence_count`.
const FOLD_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// An event as the API shows it, before it is stored.
#[derive(Debug, Clone)]
pub struct Event {
    pub svm: String,
    pub kind: &'static str,
    pub body: Value,
}

/// Accepts events from any thread and hands them to the writer task, so a monitor or a
/// scan never waits for the database.
pub struct EventLog {
    tx: mpsc::UnboundedSender<Event>,
    node: Value,
    /// Followers of the streaming endpoint see each event as it is recorded.
    live: Arc<crate::live::Hub>,
}

impl EventLog {
    /// The log and the receiving end for [`run_writer`].
    pub fn new(node: Value) -> (Arc<EventLog>, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let live = Arc::new(crate::live::Hub::default());
        (Arc::new(EventLog { tx, node, live }), rx)
    }

    /// The live feed this log publishes to; on-demand runs publish their progress there.
    pub fn live(&self) -> &Arc<crate::live::Hub> {
        &self.live
    }

    pub fn record(&self, svm: &str, kind: &'static str, mut body: Value) {
        telemetry::vscan::VscanEventRecorded { kind }.emit();
        body["type"] = json!(kind);
        body["node"] = self.node.clone();
        body["svm"] = json!({"uuid": svm});
        if body.get("event_time").is_none() {
            body["event_time"] = json!(event_time(Utc::now()));
        }
        self.live
            .publish(crate::live::Topic::Events, svm, body.clone());
        let _ = self.tx.send(Event {
            svm: svm.to_string(),
            kind,
            body,
        });
    }
}

/// Fixed-width UTC times sort as text in the events table and parse in the client.
pub fn event_time(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl EventSink for EventLog {
    fn server_event(&self, event: ServerEvent) {
        let s = &event.status;
        let (kind, reason) = match event.kind {
            ServerEventKind::Connected => ("scanner_connected", None),
            ServerEventKind::Updated => ("scanner_updated", None),
            ServerEventKind::Disconnected(r) => ("scanner_disconnected", Some(r)),
        };
        let mut body = json!({
            "server": s.ip,
            "disconnect_reason": reason.map_or("na", event_reason),
        });
        if let Some(v) = &s.vendor {
            body["vendor"] = json!(v);
        }
        if let Some(v) = &s.version {
            body["version"] = json!(v);
        }
        self.record(&s.svm, kind, body);
    }

    fn scan_event(&self, event: ScanEvent) {
        self.scan(event);
    }
}

impl EventLog {
    fn scan(&self, e: ScanEvent) {
        let mut body = json!({"file_path": e.file_path, "disconnect_reason": "na"});
        for (field, value) in [
            ("server", &e.server),
            ("vendor", &e.vendor),
            ("version", &e.version),
        ] {
            if let Some(v) = value {
                body[field] = json!(v);
            }
        }
        self.record(&e.svm, e.kind.as_str(), body);
    }
}

/// Events use `na` where server status says `unknown`.
fn event_reason(r: DisconnectReason) -> &'static str {
    match r {
        DisconnectReason::Unknown => "na",
        other => other.as_str(),
    }
}

/// What identifies a repeat of an event.
fn fold_key(e: &Event) -> (String, &'static str, String, String, String) {
    let s = |f: &str| e.body[f].as_str().unwrap_or_default().to_string();
    (
        e.svm.clone(),
        e.kind,
        s("server"),
        s("file_path"),
        s("disconnect_reason"),
    )
}

/// How many events are kept, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max: u64,
    pub max_age: Duration,
}

/// Stores events as they come, folding repeats, and trims the table periodically.
pub async fn run_writer(
    store: Arc<Store>,
    retention: Retention,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    type Last = (i64, Value, chrono::DateTime<Utc>);
    let mut last: HashMap<(String, &'static str, String, String, String), Last> = HashMap::new();
    let mut trim = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(mut event) = event else { return };
                let now = Utc::now();
                let key = fold_key(&event);
                if let Some((seq, body, first)) = last.get_mut(&key)
                    && now - *first < FOLD_WINDOW
                {
                    let count = body["consecutive_occurrence_count"].as_u64().unwrap_or(1) + 1;
                    body["consecutive_occurrence_count"] = json!(count);
                    body["event_time"] = event.body["event_time"].clone();
                    let time = body["event_time"].as_str().unwrap_or_default().to_string();
                    if let Err(e) = store.update_event(*seq, &time, body).await {
                        tracing::error!(error = %e, "cannot store a Vscan event");
                    }
                    continue;
                }
                event.body["consecutive_occurrence_count"] = json!(1);
                let time = event.body["event_time"].as_str().unwrap_or_default().to_string();
                let new = NewEvent { svm: event.svm.clone(), time, kind: event.kind.to_string(), body: event.body.clone() };
                match store.append_events(&[new]).await {
                    Ok(seqs) => {
                        if last.len() > 10_000 {
                            last.clear();
                        }
                        if let Some(seq) = seqs.first() {
                            last.insert(key, (*seq, event.body, now));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot store a Vscan event"),
                }
            }
            _ = trim.tick() => {
                let max_age = chrono::TimeDelta::from_std(retention.max_age).unwrap_or(chrono::TimeDelta::MAX);
                let cutoff = Utc::now().checked_sub_signed(max_age).map(event_time);
                match store.trim_events(retention.max, cutoff.as_deref()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "trimmed Vscan events"),
                    Err(e) => tracing::error!(error = %e, "cannot trim Vscan events"),
                }
            }
        }
    }
}
