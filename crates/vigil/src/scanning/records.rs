//! Scan run records: one document per run (on-demand today; on-access and S3 upload
//! runs will write the same shape with type `ACTIVE`), read by the managed-antivirus
//! history and by operators. Outcomes of the pipeline fold into a [`Tally`]; the record
//! is written when the run starts and again when it ends.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use store::{Store, StoreError};

use super::events::event_time;
use super::{Outcome, Remedy};

/// One record per run.
pub const RUN_KIND: &str = "vscan_run";
/// Infected files and errors kept in a run record (the report lists them all).
pub const RECORD_LIMIT: usize = 1000;

/// What kept a run from scanning or remediating something; the RMM's error `reason`
/// comes from the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A directory could not be opened or listed.
    ListFolder,
    /// A file could not be looked at or opened.
    OpenFile,
    /// No scanner answered, or one answered with an error.
    Scan,
    /// Moving an infected file into quarantine failed.
    Quarantine,
    /// Renaming or deleting an infected file failed.
    Remediation,
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ListFolder => "list_folder",
            ErrorKind::OpenFile => "open_file",
            ErrorKind::Scan => "scan",
            ErrorKind::Quarantine => "quarantine",
            ErrorKind::Remediation => "remediation",
            ErrorKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunError {
    pub path: String,
    pub reason: String,
    pub kind: ErrorKind,
}

impl RunError {
    pub fn new(path: &str, reason: &dyn std::fmt::Display, kind: ErrorKind) -> RunError {
        RunError {
            path: path.to_string(),
            reason: reason.to_string(),
            kind,
        }
    }
}

#[derive(Debug)]
pub struct Infected {
    pub path: String,
    pub threat: String,
    /// What was done: `report`, `quarantine`, ... or `<action>_failed`.
    pub action: String,
    pub quarantine_id: Option<String>,
}

/// What a run's files came to.
#[derive(Debug, Default)]
pub struct Tally {
    pub scanned: u64,
    pub infected: Vec<Infected>,
    pub errors: Vec<RunError>,
}

impl Tally {
    /// Folds in one file's outcome.
    pub fn add(&mut self, path: String, outcome: Outcome) {
        match outcome {
            Outcome::Skipped(_) => {}
            Outcome::Clean { .. } => self.scanned += 1,
            Outcome::Infected { threat, remedy } => {
                self.scanned += 1;
                let (action, quarantine_id) = match remedy {
                    Some(Remedy::Done {
                        action,
                        quarantine_id,
                    }) => (action.to_string(), quarantine_id),
                    Some(Remedy::Failed { action, reason }) => {
                        let kind = if action == "quarantine" {
                            ErrorKind::Quarantine
                        } else {
                            ErrorKind::Remediation
                        };
                        self.errors.push(RunError::new(&path, &reason, kind));
                        (format!("{action}_failed"), None)
                    }
                    None => ("report".to_string(), None),
                };
                self.infected.push(Infected {
                    path,
                    threat,
                    action,
                    quarantine_id,
                });
            }
            Outcome::Unavailable(e) | Outcome::Failed(e) => {
                self.errors.push(RunError::new(&path, &e, ErrorKind::Scan))
            }
        }
    }

    /// Writes the files' part of a finished run into its record.
    pub fn fill(&mut self, record: &mut Value) {
        self.infected.sort_by(|a, b| a.path.cmp(&b.path));
        record["files_scanned"] = json!(self.scanned);
        record["infected"] = json!(
            self.infected
                .iter()
                .take(RECORD_LIMIT)
                .map(|i| {
                    json!({"path": i.path, "threat": i.threat, "action": i.action, "quarantine_id": i.quarantine_id})
                })
                .collect::<Vec<_>>()
        );
        record["infected_count"] = json!(self.infected.len());
        record["errors"] = json!(
            self.errors
                .iter()
                .take(RECORD_LIMIT)
                .map(|e| json!({"path": e.path, "reason": e.reason, "kind": e.kind.as_str()}))
                .collect::<Vec<_>>()
        );
        record["error_count"] = json!(self.errors.len());
    }
}

/// What a run covers, known when it starts.
pub struct RunStart<'a> {
    pub uuid: &'a str,
    pub svm: &'a Value,
    pub policy: &'a Value,
    /// `QUICK`, `DEEP`, `CUSTOM` (on-demand) or `ACTIVE` (on-access).
    pub kind: &'static str,
    /// `request` or `schedule`.
    pub trigger: &'static str,
    pub started: DateTime<Utc>,
    /// Incremental runs: the baseline they compare changes with.
    pub changed_since: Option<DateTime<Utc>>,
}

/// The record of a run that has just started.
pub fn started_run(start: &RunStart<'_>) -> Value {
    let mut record = json!({
        "uuid": start.uuid,
        "svm": {"uuid": start.svm["uuid"], "name": start.svm["name"]},
        "policy": start.policy["name"],
        "type": start.kind,
        "trigger": start.trigger,
        "status": "RUNNING",
        "start_time": event_time(start.started),
        "scan_paths": start.policy["scan_paths"],
        // What the run looked at, so that only a run over the same paths and scope
        // is a later incremental run's baseline.
        "scope": start.policy["scope"],
    });
    if let Some(since) = start.changed_since {
        record["changed_since"] = json!(event_time(since));
    }
    record
}

/// What the walk of a run counted by itself (files it never handed to the pipeline).
#[derive(Debug, Default)]
pub struct WalkCounts {
    pub folders: u64,
    pub skipped: u64,
    /// Left out because they did not change (shown for incremental runs only).
    pub unchanged: u64,
    /// Answered by the scan cache without being opened.
    pub cached: u64,
}

/// Completes a run's record: its status (returned), end, counts and the tally's files.
pub fn finish_run(
    record: &mut Value,
    tally: &mut Tally,
    walked: &WalkCounts,
    incremental: bool,
    canceled: bool,
    ended: DateTime<Utc>,
) -> &'static str {
    tally.scanned += walked.cached;
    let status = if canceled {
        "CANCELED"
    } else if tally.errors.is_empty() {
        "COMPLETED"
    } else {
        "COMPLETED_WITH_ERRORS"
    };
    record["status"] = json!(status);
    record["end_time"] = json!(event_time(ended));
    record["files_from_cache"] = json!(walked.cached);
    record["files_skipped"] = json!(walked.skipped);
    if incremental {
        record["files_unchanged"] = json!(walked.unchanged);
    }
    record["folders_scanned"] = json!(walked.folders);
    tally.fill(record);
    status
}

/// Writes (or rewrites) a run record.
pub async fn save(store: &Store, record: &Value) -> Result<(), StoreError> {
    let mut txn = store.begin().await;
    txn.put(
        RUN_KIND,
        record["uuid"].as_str().unwrap_or_default(),
        record.clone(),
    );
    txn.commit().await
}

/// The start of the policy's latest complete, error-free run over the same scan paths
/// and scope: what an incremental run compares file changes with. Runs with errors,
/// cancelled or failed runs are no baseline, since files they did not scan may be
/// unchanged; nor are runs made before the policy's paths or scope changed, since
/// files they did not look at (a new path, a file no longer excluded) may be too.
pub fn baseline(
    store: &Store,
    svm_uuid: &str,
    policy: &str,
    scan_paths: &[String],
    scope: &Value,
) -> Option<DateTime<Utc>> {
    let sorted = |mut paths: Vec<String>| {
        paths.sort();
        paths
    };
    let paths = sorted(scan_paths.to_vec());
    store
        .list(RUN_KIND)
        .iter()
        .filter(|r| {
            r["svm"]["uuid"] == svm_uuid
                && r["policy"] == policy
                && r["status"] == "COMPLETED"
                && r["scope"] == *scope
                && sorted(vscan::config::strings(&r["scan_paths"])) == paths
        })
        .filter_map(|r| r["start_time"].as_str()?.parse::<DateTime<Utc>>().ok())
        .max()
}

/// The start of the policy's latest run, if it ever ran.
pub fn latest_start(store: &Store, svm_uuid: &str, policy: &str) -> Option<DateTime<Utc>> {
    store
        .list(RUN_KIND)
        .iter()
        .filter(|r| r["svm"]["uuid"] == svm_uuid && r["policy"] == policy)
        .filter_map(|r| r["start_time"].as_str()?.parse::<DateTime<Utc>>().ok())
        .max()
}

/// Notes on the run that quarantined item `id` that it was since restored (`released`)
/// or discarded (`purged`), so the scan history says what became of the file.
pub async fn note_quarantine_item(store: &Store, svm_uuid: &str, id: &str, what: &str) {
    let mut txn = store.begin().await;
    for (run_id, mut run) in txn.list(RUN_KIND) {
        if run["svm"]["uuid"] != svm_uuid {
            continue;
        }
        let mut changed = false;
        for item in run["infected"].as_array_mut().into_iter().flatten() {
            if item["quarantine_id"] == id {
                item[what] = json!(true);
                changed = true;
            }
        }
        if changed {
            txn.put(RUN_KIND, &run_id, run);
        }
    }
    if let Err(e) = txn.commit().await {
        tracing::error!(svm = svm_uuid, id, error = %e, "cannot note the quarantine item's fate on its run");
    }
}

/// How many run records are kept, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max: u64,
    pub max_age: Duration,
}

/// Deletes run records older than the retention's age, then the oldest beyond its
/// count. Returns how many went.
pub async fn trim(store: &Store, retention: Retention) -> usize {
    let max_age = chrono::TimeDelta::from_std(retention.max_age).unwrap_or(chrono::TimeDelta::MAX);
    let cutoff = Utc::now().checked_sub_signed(max_age);
    let mut runs: Vec<(DateTime<Utc>, String)> = store
        .list(RUN_KIND)
        .iter()
        .filter(|r| r["status"] != "RUNNING")
        .map(|r| {
            let start = r["start_time"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            (start, r["uuid"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    runs.sort();
    let over = runs
        .len()
        .saturating_sub(usize::try_from(retention.max).unwrap_or(usize::MAX));
    let doomed: Vec<&String> = runs
        .iter()
        .enumerate()
        .filter(|(i, (start, _))| *i < over || cutoff.is_some_and(|c| *start < c))
        .map(|(_, (_, id))| id)
        .collect();
    if doomed.is_empty() {
        return 0;
    }
    let mut txn = store.begin().await;
    for id in &doomed {
        txn.delete(RUN_KIND, id);
    }
    match txn.commit().await {
        Ok(()) => {
            tracing::info!(deleted = doomed.len(), "old on-demand run records trimmed");
            doomed.len()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot trim on-demand run records");
            0
        }
    }
}

/// Runs left `RUNNING` by a node that stopped or crashed did not finish: say so.
/// `orphaned` picks them (this node's own runs at its start; on a cluster, also the
/// runs of nodes that went down), `reason` says what happened.
pub async fn mark_interrupted(store: &Store, orphaned: impl Fn(&Value) -> bool, reason: &str) {
    let mut txn = store.begin().await;
    for (id, mut record) in txn.list(RUN_KIND) {
        if record["status"] == "RUNNING" && orphaned(&record) {
            record["status"] = json!("FAILED");
            record["errors"] = json!([{"path": "", "reason": reason, "kind": "other"}]);
            record["error_count"] = json!(1);
            txn.put(RUN_KIND, &id, record);
        }
    }
    if let Err(e) = txn.commit().await {
        tracing::error!(error = %e, "cannot mark interrupted on-demand runs");
    }
}

/// The node a run record says ran it; records from before clusters name none.
pub fn run_node(record: &Value) -> Option<&str> {
    record["node"]["uuid"].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> Value {
        let svm = json!({"uuid": "s1", "name": "vs1"});
        let policy = json!({"name": "p", "scan_paths": ["/a"], "scope": {"max_file_size": 5}});
        started_run(&RunStart {
            uuid: "r1",
            svm: &svm,
            policy: &policy,
            kind: "CUSTOM",
            trigger: "request",
            started: Utc::now(),
            changed_since: None,
        })
    }

    #[test]
    fn outcomes_fold_into_the_record() {
        let mut record = started();
        assert_eq!(record["status"], "RUNNING");
        assert_eq!(record["scan_paths"], json!(["/a"]));
        assert!(record.get("changed_since").is_none());
        let mut tally = Tally::default();
        tally.add("/a/ok".into(), Outcome::Clean { cached: false });
        tally.add(
            "/a/z.com".into(),
            Outcome::Infected {
                threat: "T".into(),
                remedy: Some(Remedy::Done {
                    action: "quarantine",
                    quarantine_id: Some("q1".into()),
                }),
            },
        );
        tally.add(
            "/a/b.com".into(),
            Outcome::Infected {
                threat: "T".into(),
                remedy: Some(Remedy::Failed {
                    action: "delete",
                    reason: "delete failed: gone".into(),
                }),
            },
        );
        tally.add("/a/down".into(), Outcome::Unavailable("no server".into()));
        let walked = WalkCounts {
            folders: 2,
            skipped: 3,
            unchanged: 0,
            cached: 4,
        };
        finish_run(&mut record, &mut tally, &walked, false, false, Utc::now());
        assert_eq!(record["status"], "COMPLETED_WITH_ERRORS");
        assert_eq!(record["files_scanned"], 3 + 4);
        assert_eq!(
            (
                record["files_from_cache"].clone(),
                record["files_skipped"].clone()
            ),
            (json!(4), json!(3))
        );
        assert!(record.get("files_unchanged").is_none());
        let infected: Vec<_> = record["infected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["path"].clone(), i["action"].clone()))
            .collect();
        assert_eq!(
            infected,
            [
                (json!("/a/b.com"), json!("delete_failed")),
                (json!("/a/z.com"), json!("quarantine"))
            ]
        );
        let kinds: Vec<_> = record["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].clone())
            .collect();
        assert_eq!(kinds, [json!("remediation"), json!("scan")]);
        assert_eq!(record["error_count"], 2);
    }

    #[test]
    fn status_says_canceled_or_completed() {
        for (canceled, errors, want) in [
            (true, false, "CANCELED"),
            (false, false, "COMPLETED"),
            (true, true, "CANCELED"),
        ] {
            let mut record = started();
            let mut tally = Tally::default();
            if errors {
                tally.add("/a/x".into(), Outcome::Failed("unreadable".into()));
            }
            let walked = WalkCounts {
                unchanged: 7,
                ..Default::default()
            };
            finish_run(&mut record, &mut tally, &walked, true, canceled, Utc::now());
            assert_eq!(record["status"], want);
            assert_eq!(record["files_unchanged"], 7);
        }
    }
}
