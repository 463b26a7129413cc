//! The report a run writes into its policy's `log_path`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::records::Tally;
use crate::namespace::{Namespace, Symlinks};
use crate::scanning::events::event_time;

/// Writes the run's report into the policy's `log_path`, whole or not at all (written
/// aside, then renamed). Returns the report's SVM path.
pub fn write(
    ns: &Namespace,
    svm: &Value,
    policy: &Value,
    record: &Value,
    tally: &Tally,
    ended: DateTime<Utc>,
) -> Result<String, String> {
    let log_path = policy["log_path"].as_str().unwrap_or("/");
    let dir = ns
        .existing_dir(log_path, Symlinks::Contain)
        .map_err(|e| format!("log path {log_path}: {e}"))?;
    let name = format!(
        "vscan_ondemand_{}_{}.log",
        policy["name"].as_str().unwrap_or_default(),
        ended.format("%Y%m%d-%H%M%S-%6f")
    );
    let mut text = String::new();
    text.push_str("Vigil On-Demand scan report\n");
    text.push_str(&format!(
        "SVM: {}\n",
        svm["name"].as_str().unwrap_or_default()
    ));
    text.push_str(&format!(
        "Policy: {}\n",
        policy["name"].as_str().unwrap_or_default()
    ));
    text.push_str(&format!(
        "Run: {}\n",
        record["uuid"].as_str().unwrap_or_default()
    ));
    text.push_str(&format!(
        "Start: {}\n",
        record["start_time"].as_str().unwrap_or_default()
    ));
    text.push_str(&format!("End: {}\n", event_time(ended)));
    text.push_str(&format!(
        "Scan paths: {}\n",
        vscan::config::strings(&record["scan_paths"]).join(", ")
    ));
    let count = |field: &str| record[field].as_u64().unwrap_or(0);
    text.push_str(&format!(
        "Type: {}\n",
        record["type"].as_str().unwrap_or_default()
    ));
    if let Some(since) = record["changed_since"].as_str() {
        text.push_str(&format!("Files changed since: {since}\n"));
    }
    text.push_str(&format!(
        "Status: {}\n",
        record["status"].as_str().unwrap_or_default()
    ));
    text.push_str(&format!("Folders scanned: {}\n", count("folders_scanned")));
    text.push_str(&format!(
        "Files scanned: {} ({} known clean from the scan cache)\n",
        count("files_scanned"),
        count("files_from_cache")
    ));
    text.push_str(&format!(
        "Files skipped by scope: {}\n",
        count("files_skipped")
    ));
    if record.get("files_unchanged").is_some() {
        text.push_str(&format!(
            "Files unchanged since the baseline run: {}\n",
            count("files_unchanged")
        ));
    }
    text.push_str(&format!("Infected files: {}\n", tally.infected.len()));
    for i in &tally.infected {
        let id = i
            .quarantine_id
            .as_deref()
            .map(|id| format!(" (quarantine id {id})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "  INFECTED {}: {} [{}]{id}\n",
            i.path, i.threat, i.action
        ));
    }
    text.push_str(&format!("Errors: {}\n", tally.errors.len()));
    for e in &tally.errors {
        text.push_str(&format!("  ERROR {}: {}\n", e.path, e.reason));
    }
    crate::files::write_whole(&dir.join(&name), text.as_bytes())
        .map_err(|e| format!("writing the report: {e}"))?;
    Ok(format!("{}/{name}", log_path.trim_end_matches('/')))
}
