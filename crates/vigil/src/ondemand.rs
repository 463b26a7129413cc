//! On-demand scan runs: walk a policy's `scan_paths` inside the SVM namespace, apply its
//! scope, send each file through the dispatcher (cache first), write the report into the
//! policy's `log_path`, and keep a record of the run.
//!
//! Symbolic links are never followed (a link's target may lie outside the namespace or
//! be scanned through its real path anyway). At most one run of a policy at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use rest::{ApiError, ApiResult, Code};
use scan::Verdict;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use vscan::scope::{Decision, FileAccess, ON_DEMAND_DEFAULT_MAX, PathStyle, Scope};

use crate::api::vscan::{Snapshot, path_svm};
use crate::namespace::Symlinks;
use crate::scanners::event_time;
use crate::state::State;

/// One record per run, read by the scan history (MAV) and by operators.
pub const RUN_KIND: &str = "vscan_run";
/// Scans of one run in flight at once.
const PARALLEL_SCANS: usize = 8;
/// Infected files and errors kept in a run record (the report lists them all).
const RECORD_LIMIT: usize = 1000;

static RUNNING: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Marks a policy as running for as long as it lives.
struct RunningGuard(String);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

#[derive(Debug, Default)]
struct Tally {
    files_scanned: u64,
    files_skipped: u64,
    folders_scanned: u64,
    infected: Vec<Infected>,
    errors: Vec<(String, String)>,
}

/// Claims the policy for a run, or says a run is already going.
fn claim(svm_uuid: &str, policy: &str) -> ApiResult<RunningGuard> {
    let key = format!("{svm_uuid}/{policy}");
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    if !running.insert(key.clone()) {
        return Err(ApiError::new(
            Code::InUse,
            format!("On-Demand policy \"{policy}\" is already running."),
        ));
    }
    Ok(RunningGuard(key))
}

/// Checks that a run can start now and claims the policy; the returned guard goes to
/// [`run`].
pub fn prepare(state: &State, svm_uuid: &str, policy: &str) -> ApiResult<impl Send + 'static> {
    let snapshot = Snapshot::load(&*state.store, &state.admin_svm().0);
    if !snapshot.enabled(svm_uuid) {
        return Err(ApiError::new(
            Code::VscanScheduleNeedsVscan,
            "An On-Demand policy runs only while Vscan is enabled on the SVM.",
        ));
    }
    if !snapshot
        .on_demand(svm_uuid)
        .iter()
        .any(|p| p["name"] == policy)
    {
        return Err(ApiError::not_found("name"));
    }
    claim(svm_uuid, policy)
}

/// Runs the policy now and returns the run record. `guard` comes from [`prepare`].
pub async fn run(
    state: Arc<State>,
    svm_uuid: String,
    policy_name: String,
    trigger: &'static str,
    guard: impl Send + 'static,
) -> ApiResult<Value> {
    let _guard = guard;
    let snapshot = Snapshot::load(&*state.store, &state.admin_svm().0);
    let policy = snapshot
        .on_demand(&svm_uuid)
        .into_iter()
        .find(|p| p["name"] == policy_name.as_str())
        .ok_or_else(|| ApiError::not_found("name"))?;
    let svm = path_svm(&state, &svm_uuid)?;
    let ns = state.namespace(&svm)?;
    let scope = Scope::from_json(&policy["scope"], PathStyle::Unix, ON_DEMAND_DEFAULT_MAX)
        .map_err(crate::api::vscan::scope_error)?;
    let scan_paths = crate::api::vscan::strings(&policy["scan_paths"]);
    let started = Utc::now();
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut record = json!({
        "uuid": run_id,
        "svm": {"uuid": svm_uuid, "name": svm["name"]},
        "policy": policy_name,
        "type": if scan_paths.iter().any(|p| p == "/") { "DEEP" } else { "CUSTOM" },
        "trigger": trigger,
        "status": "RUNNING",
        "start_time": event_time(started),
        "scan_paths": scan_paths,
    });
    save(&state, &record).await?;

    let mut tally = Tally::default();
    let slots = Arc::new(Semaphore::new(PARALLEL_SCANS));
    let remediation = policy["remediation"]
        .as_str()
        .unwrap_or("report")
        .to_string();
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    for scan_path in &scan_paths {
        let root = match ns.resolve(scan_path, Symlinks::Contain) {
            Ok(root) => root,
            Err(e) => {
                tally.errors.push((scan_path.clone(), e.to_string()));
                continue;
            }
        };
        // Walking is blocking file-system work: done here in bounded steps, with the
        // scans themselves running concurrently on the dispatcher.
        for entry in walkdir::WalkDir::new(&root).follow_links(false) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map(|p| shown(ns.root(), p)).unwrap_or_default();
                    tally.errors.push((path, e.to_string()));
                    continue;
                }
            };
            let file_type = entry.file_type();
            if file_type.is_dir() {
                tally.folders_scanned += 1;
                continue;
            }
            if !file_type.is_file() {
                continue;
            }
            let svm_path = shown(ns.root(), entry.path());
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let access = FileAccess {
                path: &svm_path,
                size,
                execute: false,
                readonly_volume: false,
            };
            if let Decision::Skip(_) = scope.decide(&access) {
                tally.files_skipped += 1;
                continue;
            }
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let state = Arc::clone(&state);
            let svm_uuid = svm_uuid.clone();
            let host_path: PathBuf = entry.path().to_path_buf();
            let action = remediation.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let verdict = state
                    .scanners
                    .scan(&svm_uuid, &host_path, &svm_path)
                    .await
                    .map(|s| s.verdict)
                    .map_err(|e| e.to_string());
                let remedy = match &verdict {
                    Ok(v @ (Verdict::Infected(_) | Verdict::LimitExceeded(_))) => {
                        let threat = v.found_names().join(", ");
                        remedy(&state, &svm_uuid, &action, &host_path, &svm_path, &threat)
                    }
                    _ => Remedy::None,
                };
                (svm_path, verdict, remedy)
            });
            while let Some(done) = tasks.try_join_next() {
                count(&mut tally, done);
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        count(&mut tally, done);
    }

    let ended = Utc::now();
    let status = if tally.errors.is_empty() {
        "COMPLETED"
    } else {
        "COMPLETED_WITH_ERRORS"
    };
    let report = write_report(&state, &svm, &policy, &record, &tally, ended);
    record["status"] = json!(status);
    record["end_time"] = json!(event_time(ended));
    record["files_scanned"] = json!(tally.files_scanned);
    record["files_skipped"] = json!(tally.files_skipped);
    record["folders_scanned"] = json!(tally.folders_scanned);
    record["infected"] = json!(
        tally
            .infected
            .iter()
            .take(RECORD_LIMIT)
            .map(|i| {
                json!({"path": i.path, "threat": i.threat, "action": i.action, "quarantine_id": i.quarantine_id})
            })
            .collect::<Vec<_>>()
    );
    record["infected_count"] = json!(tally.infected.len());
    record["errors"] = json!(
        tally
            .errors
            .iter()
            .take(RECORD_LIMIT)
            .map(|(p, r)| json!({"path": p, "reason": r}))
            .collect::<Vec<_>>()
    );
    record["error_count"] = json!(tally.errors.len());
    match report {
        Ok(path) => record["report"] = json!(path),
        Err(e) => record["report_error"] = json!(e),
    }
    save(&state, &record).await?;
    Ok(record)
}

/// What was done about an infected file.
enum Remedy {
    None,
    Done {
        action: &'static str,
        quarantine_id: Option<String>,
    },
    Failed(String),
}

/// Applies the policy's remediation and records the matching event; a failure is an
/// event and a run error, never a silent skip.
fn remedy(
    state: &State,
    svm_uuid: &str,
    action: &str,
    host_path: &Path,
    svm_path: &str,
    threat: &str,
) -> Remedy {
    use crate::quarantine::{Done, remediate};
    let data_dir = &state.config.data_dir;
    match remediate(action, data_dir, svm_uuid, host_path, svm_path, threat) {
        Ok(done) => {
            if let Some(kind) = done.event_type() {
                let body = json!({"file_path": svm_path, "disconnect_reason": "na"});
                state.events.record(svm_uuid, kind, body);
            }
            let (action, quarantine_id) = match done {
                Done::Reported => ("report", None),
                Done::Quarantined { id } => ("quarantine", Some(id)),
                Done::Renamed { .. } => ("rename", None),
                Done::Deleted => ("delete", None),
            };
            Remedy::Done {
                action,
                quarantine_id,
            }
        }
        Err(e) => {
            tracing::error!(svm = svm_uuid, path = svm_path, action, error = %e, "remediation failed");
            let body = json!({"file_path": svm_path, "disconnect_reason": "na"});
            state.events.record(svm_uuid, "scan_internal_error", body);
            Remedy::Failed(format!("{action} failed: {e}"))
        }
    }
}

type Finished = (String, Result<Verdict, String>, Remedy);

#[derive(Debug)]
struct Infected {
    path: String,
    threat: String,
    action: String,
    quarantine_id: Option<String>,
}

fn count(tally: &mut Tally, done: Result<Finished, tokio::task::JoinError>) {
    match done {
        Ok((_, Ok(Verdict::Clean), _)) => tally.files_scanned += 1,
        Ok((path, Ok(v @ (Verdict::Infected(_) | Verdict::LimitExceeded(_))), remedy)) => {
            tally.files_scanned += 1;
            let threat = v.found_names().join(", ");
            let (action, quarantine_id) = match remedy {
                Remedy::Done {
                    action,
                    quarantine_id,
                } => (action.to_string(), quarantine_id),
                Remedy::Failed(reason) => {
                    tally.errors.push((path.clone(), reason));
                    ("failed".to_string(), None)
                }
                Remedy::None => ("report".to_string(), None),
            };
            tally.infected.push(Infected {
                path,
                threat,
                action,
                quarantine_id,
            });
        }
        Ok((path, Ok(Verdict::Error(e)), _)) | Ok((path, Err(e), _)) => {
            tally.errors.push((path, e))
        }
        Err(e) => tally
            .errors
            .push((String::new(), format!("scan task failed: {e}"))),
    }
}

/// A host path as the SVM names it (`/vol1/a.txt`).
fn shown(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => path.display().to_string(),
    }
}

async fn save(state: &State, record: &Value) -> ApiResult<()> {
    let mut txn = state.store.begin().await;
    txn.put(
        RUN_KIND,
        record["uuid"].as_str().unwrap_or_default(),
        record.clone(),
    );
    txn.commit().await?;
    Ok(())
}

/// Writes the run's report into the policy's `log_path`, whole or not at all (written
/// aside, then renamed). Returns the report's SVM path.
fn write_report(
    state: &State,
    svm: &Value,
    policy: &Value,
    record: &Value,
    tally: &Tally,
    ended: DateTime<Utc>,
) -> Result<String, String> {
    let ns = state.namespace(svm).map_err(|e| e.message)?;
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
        crate::api::vscan::strings(&record["scan_paths"]).join(", ")
    ));
    text.push_str(&format!("Folders scanned: {}\n", tally.folders_scanned));
    text.push_str(&format!("Files scanned: {}\n", tally.files_scanned));
    text.push_str(&format!(
        "Files skipped by scope: {}\n",
        tally.files_skipped
    ));
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
    for (path, reason) in &tally.errors {
        text.push_str(&format!("  ERROR {path}: {reason}\n"));
    }
    crate::files::write_whole(&dir.join(&name), text.as_bytes())
        .map_err(|e| format!("writing the report: {e}"))?;
    Ok(format!("{}/{name}", log_path.trim_end_matches('/')))
}

/// When a scheduled policy is due: cron schedules by minute, interval schedules by
/// elapsed time since the policy's last run.
fn due(schedule: &Value, last: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    match schedule["type"].as_str() {
        Some("cron") => serde_json::from_value::<audit::RotationSchedule>(schedule["cron"].clone())
            .is_ok_and(|cron| cron.fired_between(last, now)),
        Some("interval") => schedule["interval"]
            .as_str()
            .and_then(rest::duration::parse)
            .is_some_and(|secs| secs > 0 && (now - last).num_seconds() >= secs as i64),
        _ => false,
    }
}

/// The start of the policy's latest run, if it ever ran.
fn last_run(state: &State, svm_uuid: &str, policy: &str) -> Option<DateTime<Utc>> {
    state
        .store
        .list(RUN_KIND)
        .iter()
        .filter(|r| r["svm"]["uuid"] == svm_uuid && r["policy"] == policy)
        .filter_map(|r| {
            r["start_time"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok())
        })
        .max()
}

/// Starts runs of scheduled policies when their schedule fires. A schedule time that
/// passed while the node was down gives one catch-up run at start (not one per missed
/// time). Runs started earlier and cut short by a stop are recorded as `FAILED`.
pub fn start_scheduler(state: &Arc<State>) {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        mark_interrupted(&state).await;
        let started = Utc::now();
        let mut checked: std::collections::HashMap<String, DateTime<Utc>> = Default::default();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = Utc::now();
            let snapshot = Snapshot::load(&*state.store, &state.admin_svm().0);
            for svm in crate::api::vscan::data_svm_uuids(&state) {
                if !snapshot.enabled(&svm) {
                    continue;
                }
                for policy in snapshot.on_demand(&svm) {
                    let Some(schedule) = policy["schedule"]["uuid"]
                        .as_str()
                        .and_then(|u| state.store.get(crate::api::schedules::KIND, u))
                    else {
                        continue;
                    };
                    let name = policy["name"].as_str().unwrap_or_default().to_string();
                    let key = format!("{svm}/{name}");
                    // From the last run (or, never run, from this node's start), then
                    // from the last check, so each schedule time fires once.
                    let since = *checked
                        .entry(key.clone())
                        .or_insert_with(|| last_run(&state, &svm, &name).unwrap_or(started));
                    let since = match schedule["type"].as_str() {
                        Some("interval") => last_run(&state, &svm, &name).unwrap_or(since),
                        _ => since,
                    };
                    if !due(&schedule, since, now) {
                        continue;
                    }
                    checked.insert(key, now);
                    let Ok(guard) = claim(&svm, &name) else {
                        continue;
                    };
                    let state = Arc::clone(&state);
                    let svm = svm.clone();
                    tokio::spawn(async move {
                        match run(
                            Arc::clone(&state),
                            svm.clone(),
                            name.clone(),
                            "schedule",
                            guard,
                        )
                        .await
                        {
                            Ok(r) => {
                                tracing::info!(svm, policy = name, files = %r["files_scanned"], infected = %r["infected_count"], "scheduled on-demand run done")
                            }
                            Err(e) => {
                                tracing::error!(svm, policy = name, error = %e, "scheduled on-demand run failed")
                            }
                        }
                    });
                }
            }
        }
    });
}

/// Runs left `RUNNING` by a stop or crash did not finish: say so.
async fn mark_interrupted(state: &State) {
    let mut txn = state.store.begin().await;
    for (id, mut record) in txn.list(RUN_KIND) {
        if record["status"] == "RUNNING" {
            record["status"] = json!("FAILED");
            record["errors"] = json!([{"path": "", "reason": "the node stopped during the run"}]);
            record["error_count"] = json!(1);
            txn.put(RUN_KIND, &id, record);
        }
    }
    if let Err(e) = txn.commit().await {
        tracing::error!(error = %e, "cannot mark interrupted on-demand runs");
    }
}
