//! Fills a stopped node's events table for the events benchmark:
//! `events_fill <data dir> <svm uuid> <count>`. Events are one second apart, ending now,
//! with types and servers cycling as a busy SVM's would.

use serde_json::json;
use store::Store;
use store::events::NewEvent;

const TYPES: &[&str] = &[
    "scanner_connected",
    "scanner_disconnected",
    "file_infected",
    "scan_failed",
    "scan_timedout",
    "scanner_updated",
    "scan_internal_error",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 4,
        "usage: events_fill <data dir> <svm uuid> <count>"
    );
    let store = Store::open(&Store::sqlite_url(
        &std::path::Path::new(&args[1]).join("vigil.db"),
    ))
    .await?;
    let svm = &args[2];
    let count: u64 = args[3].parse()?;
    let end = chrono::Utc::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..count {
        let t = end - chrono::TimeDelta::seconds((count - i) as i64);
        let time = vigil::scanning::events::event_time(t);
        let kind = TYPES[(i % TYPES.len() as u64) as usize];
        let server = format!("10.0.{}.{}", (i / 250) % 250, i % 250);
        batch.push(NewEvent {
            svm: svm.clone(),
            time: time.clone(),
            kind: kind.to_string(),
            body: json!({
                "type": kind, "event_time": time, "server": server, "svm": {"uuid": svm},
                "node": {"name": "bench"}, "file_path": format!("/vol1/dir{}/file{i}", i % 97),
                "disconnect_reason": "na", "consecutive_occurrence_count": 1,
            }),
        });
        if batch.len() == 10_000 {
            store.append_events(&batch).await?;
            batch.clear();
        }
    }
    store.append_events(&batch).await?;
    println!("{} events in the table", store.count_events().await?);
    Ok(())
}
