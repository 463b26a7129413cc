//! On-demand scan runs: walk a policy's `scan_paths` inside the SVM namespace, apply its
//! scope, send each file through the dispatcher (cache first), remediate infected files,
//! write the report into the policy's `log_path`, and keep a record of the run.
//!
//! Symbolic links are never followed (see [`walk`]). At most one run of a policy at a
//! time; a run can be cancelled. A run cut short by a stop is recorded `FAILED` at the
//! next start (not resumed): its report and record say which files it did not reach
//! only by their absence, so the next run scans them.

mod report;
mod schedule;
mod walk;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use rest::{ApiError, ApiResult, Code};
use scan::Verdict;
use scan::cache::FileId;
use scan::dispatch::Opened;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use vscan::scope::{ON_DEMAND_DEFAULT_MAX, PathStyle, Scope};

use crate::api::vscan::{Snapshot, path_svm};
use crate::namespace::Symlinks;
use crate::scanners::event_time;
use crate::state::State;

pub use schedule::{start_scheduler, trim_runs};

/// One record per run, read by the scan history (MAV) and by operators.
pub const RUN_KIND: &str = "vscan_run";
/// Infected files and errors kept in a run record (the report lists them all).
const RECORD_LIMIT: usize = 1000;
/// Batches of one run at the dispatcher at once: enough to keep every scanning thread
/// and a remote server's slots busy while the walkers fill the next ones.
const BATCHES_IN_FLIGHT: usize = 8;
/// Incremental runs rescan files whose status changed up to this long before the
/// baseline run started: file-system timestamps lag the clock by up to a tick.
const CHANGE_SLACK_NS: i128 = 1_000_000_000;

/// Policies with a run going, and the flag that cancels it.
static RUNNING: LazyLock<Mutex<HashMap<String, Arc<AtomicBool>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn running() -> std::sync::MutexGuard<'static, HashMap<String, Arc<AtomicBool>>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// The right to run a policy, held for as long as the run lasts.
pub struct Ticket {
    key: String,
    cancel: Arc<AtomicBool>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        running().remove(&self.key);
    }
}

/// Claims the policy for a run, or says a run is already going.
fn claim(svm_uuid: &str, policy: &str) -> ApiResult<Ticket> {
    let key = format!("{svm_uuid}/{policy}");
    let mut running = running();
    if running.contains_key(&key) {
        return Err(ApiError::new(
            Code::InUse,
            format!("On-Demand policy \"{policy}\" is already running."),
        ));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    running.insert(key.clone(), Arc::clone(&cancel));
    Ok(Ticket { key, cancel })
}

/// Asks the policy's run to stop. It stops within one directory's walk and the batches
/// already at the scanners, and is recorded `CANCELED` with what it scanned so far.
pub fn cancel(svm_uuid: &str, policy: &str) -> ApiResult<()> {
    match running().get(&format!("{svm_uuid}/{policy}")) {
        Some(flag) => {
            flag.store(true, Ordering::Relaxed);
            Ok(())
        }
        None => Err(ApiError::new(
            Code::InvalidCombination,
            format!("On-Demand policy \"{policy}\" is not running."),
        )),
    }
}

/// Cancels every run of the SVM's policies (the SVM is being deleted).
pub fn cancel_svm(svm_uuid: &str) {
    let prefix = format!("{svm_uuid}/");
    for (key, flag) in running().iter() {
        if key.starts_with(&prefix) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// What starts a run and how much it scans.
#[derive(Debug, Clone, Copy)]
pub struct Trigger {
    /// `request` or `schedule`, as the record shows it.
    pub by: &'static str,
    /// Only files changed since the policy's last complete run; `None` follows the
    /// policy's `incremental` field.
    pub incremental: Option<bool>,
}

/// Checks that a run can start now and claims the policy; the ticket goes to [`run`].
pub fn prepare(state: &State, svm_uuid: &str, policy: &str) -> ApiResult<Ticket> {
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
    if let Some(svm) = state.svm(svm_uuid)
        && svm["state"].as_str().is_some_and(|s| s != "running")
    {
        return Err(ApiError::new(
            Code::VscanSvmNotOperational,
            format!(
                "SVM \"{}\" is not running, so its On-Demand policies cannot run.",
                svm["name"].as_str().unwrap_or_default()
            ),
        ));
    }
    claim(svm_uuid, policy)
}

#[derive(Debug, Default)]
struct Tally {
    scanned: u64,
    infected: Vec<Infected>,
    errors: Vec<RunError>,
}

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
struct Infected {
    path: String,
    threat: String,
    action: String,
    quarantine_id: Option<String>,
}

/// Runs the policy now and returns the run record.
pub async fn run(
    state: Arc<State>,
    svm_uuid: String,
    policy_name: String,
    trigger: Trigger,
    ticket: Ticket,
) -> ApiResult<Value> {
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
    let incremental = trigger
        .incremental
        .unwrap_or_else(|| policy["incremental"].as_bool().unwrap_or(false));
    let baseline = if incremental {
        baseline(
            &state,
            &svm_uuid,
            &policy_name,
            &scan_paths,
            &policy["scope"],
        )
    } else {
        None
    };
    let started = Utc::now();
    let run_id = uuid::Uuid::new_v4().to_string();
    let run_type = match (&baseline, scan_paths.iter().any(|p| p == "/")) {
        (Some(_), _) => "QUICK",
        (None, true) => "DEEP",
        (None, false) => "CUSTOM",
    };
    let mut record = json!({
        "uuid": run_id,
        "svm": {"uuid": svm_uuid, "name": svm["name"]},
        "policy": policy_name,
        "type": run_type,
        "trigger": trigger.by,
        "status": "RUNNING",
        "start_time": event_time(started),
        "scan_paths": scan_paths,
        // What the run looked at, so that only a run over the same paths and scope
        // is a later incremental run's baseline.
        "scope": policy["scope"],
    });
    if let Some(since) = baseline {
        record["changed_since"] = json!(event_time(since));
    }
    save(&state, &record).await?;
    schedule::note_start(&svm_uuid, &policy_name, started);

    let mut tally = Tally::default();
    let mut roots = Vec::new();
    for scan_path in &scan_paths {
        match ns.resolve(scan_path, Symlinks::Contain) {
            Ok(root) => roots.push((root, scan_path.clone())),
            Err(e) => tally
                .errors
                .push(RunError::new(scan_path, &e, ErrorKind::ListFolder)),
        }
    }
    let remediation = policy["remediation"]
        .as_str()
        .unwrap_or("report")
        .to_string();
    let changed_since = baseline.map(|t| {
        i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
            - CHANGE_SLACK_NS
    });
    let walk = Arc::new(walk::Walk::new(
        svm_uuid.clone(),
        scope,
        Arc::clone(&state.scanners),
        changed_since,
        Arc::clone(&ticket.cancel),
        roots,
    ));
    let walked = scan_all(&state, &walk, &remediation, &mut tally).await;

    let ended = Utc::now();
    let canceled = ticket.cancel.load(Ordering::Relaxed);
    tally.errors.extend(walked.errors.iter().cloned());
    tally.scanned += walked.cached;
    tally.infected.sort_by(|a, b| a.path.cmp(&b.path));
    let status = if canceled {
        "CANCELED"
    } else if tally.errors.is_empty() {
        "COMPLETED"
    } else {
        "COMPLETED_WITH_ERRORS"
    };
    record["status"] = json!(status);
    record["end_time"] = json!(event_time(ended));
    record["files_scanned"] = json!(tally.scanned);
    record["files_from_cache"] = json!(walked.cached);
    record["files_skipped"] = json!(walked.skipped);
    if incremental {
        record["files_unchanged"] = json!(walked.unchanged);
    }
    record["folders_scanned"] = json!(walked.folders);
    let report = report::write(&state, &svm, &policy, &record, &tally, ended);
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
            .map(|e| json!({"path": e.path, "reason": e.reason, "kind": e.kind.as_str()}))
            .collect::<Vec<_>>()
    );
    record["error_count"] = json!(tally.errors.len());
    match report {
        Ok(path) => record["report"] = json!(path),
        Err(e) => record["report_error"] = json!(e),
    }
    if state.svm(&svm_uuid).is_none() {
        // Deleted during the run: its history went with it.
        return Err(ApiError::not_found("svm.uuid"));
    }
    save(&state, &record).await?;
    drop(ticket);
    trim_runs(&state).await;
    Ok(record)
}

/// Walks with one thread per CPU and scans what the walkers hand over, a few batches at
/// a time. Returns what the walkers counted.
async fn scan_all(
    state: &Arc<State>,
    walk: &Arc<walk::Walk>,
    remediation: &str,
    tally: &mut Tally,
) -> walk::Walked {
    let (tx, mut rx) = mpsc::channel::<Vec<Opened>>(BATCHES_IN_FLIGHT);
    let walkers: Vec<_> = (0..walker_threads())
        .map(|_| {
            let (walk, tx) = (Arc::clone(walk), tx.clone());
            tokio::task::spawn_blocking(move || walk.walker(&tx))
        })
        .collect();
    drop(tx);
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let mut scans: JoinSet<Vec<Finished>> = JoinSet::new();
    while let Some(batch) = rx.recv().await {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (state, svm, action) = (Arc::clone(state), walk.svm.clone(), remediation.to_string());
        scans.spawn(async move {
            let _permit = permit;
            scan_batch(&state, &svm, &action, batch).await
        });
        while let Some(done) = scans.try_join_next() {
            count(tally, done);
        }
    }
    while let Some(done) = scans.join_next().await {
        count(tally, done);
    }
    let mut parts = Vec::new();
    for walker in walkers {
        match walker.await {
            Ok(part) => parts.push(part),
            Err(e) => tally.errors.push(RunError::new(
                "",
                &format!("a walker failed: {e}"),
                ErrorKind::Other,
            )),
        }
    }
    walk::merge(parts)
}

fn walker_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

type Finished = (String, Result<Verdict, String>, Remedy);

/// Scans one batch and remediates what it finds.
async fn scan_batch(
    state: &Arc<State>,
    svm_uuid: &str,
    action: &str,
    batch: Vec<Opened>,
) -> Vec<Finished> {
    let view = state.scanners.view(svm_uuid);
    let batch: Arc<[Opened]> = Arc::from(batch);
    let results = state.scanners.scan_opened(&view, Arc::clone(&batch)).await;
    let mut finished = Vec::with_capacity(batch.len());
    for (item, result) in batch.iter().zip(results) {
        let verdict = result.map(|s| s.verdict).map_err(|e| e.to_string());
        let remedy = match &verdict {
            Ok(v @ (Verdict::Infected(_) | Verdict::LimitExceeded(_))) => {
                let threat = v.found_names().join(", ");
                let state = Arc::clone(state);
                let (id, path) = (item.id.clone(), item.path.clone());
                let (svm_uuid, act, svm_path) = (
                    svm_uuid.to_string(),
                    action.to_string(),
                    item.file_path.clone(),
                );
                // Moving or copying a file is blocking work.
                tokio::task::spawn_blocking(move || {
                    remedy(&state, &svm_uuid, &act, &path, &id, &svm_path, &threat)
                })
                .await
                .unwrap_or_else(|e| {
                    Remedy::Failed(action.to_string(), format!("{action} failed: {e}"))
                })
            }
            _ => Remedy::None,
        };
        finished.push((item.file_path.clone(), verdict, remedy));
    }
    finished
}

/// What was done about an infected file.
enum Remedy {
    None,
    Done {
        action: &'static str,
        quarantine_id: Option<String>,
    },
    /// The action that failed (`quarantine`, `rename`, `delete`) and why.
    Failed(String, String),
}

/// Applies the policy's remediation and records the matching event; a failure is an
/// event and a run error, never a silent skip. The file must still be the one that was
/// scanned (same inode, size and times): a file replaced or changed since is left alone.
fn remedy(
    state: &State,
    svm_uuid: &str,
    action: &str,
    host_path: &PathBuf,
    scanned: &FileId,
    svm_path: &str,
    threat: &str,
) -> Remedy {
    use crate::quarantine::{Done, remediate};
    let fail = |reason: String| {
        tracing::error!(svm = svm_uuid, path = svm_path, action, error = %reason, "remediation failed");
        let body = json!({"file_path": svm_path, "disconnect_reason": "na"});
        state.events.record(svm_uuid, "scan_internal_error", body);
        Remedy::Failed(action.to_string(), format!("{action} failed: {reason}"))
    };
    if action != "report" {
        match std::fs::symlink_metadata(host_path) {
            Ok(meta) if meta.is_file() && FileId::of(&meta) == *scanned => {}
            Ok(_) => return fail("the file changed after it was scanned".to_string()),
            Err(e) => return fail(e.to_string()),
        }
    }
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
        Err(e) => fail(e.to_string()),
    }
}

fn count(tally: &mut Tally, done: Result<Vec<Finished>, tokio::task::JoinError>) {
    let finished = match done {
        Ok(f) => f,
        Err(e) => {
            tally.errors.push(RunError::new(
                "",
                &format!("a scan task failed: {e}"),
                ErrorKind::Other,
            ));
            return;
        }
    };
    for item in finished {
        match item {
            (_, Ok(Verdict::Clean), _) => tally.scanned += 1,
            (path, Ok(v @ (Verdict::Infected(_) | Verdict::LimitExceeded(_))), remedy) => {
                tally.scanned += 1;
                let threat = v.found_names().join(", ");
                let (action, quarantine_id) = match remedy {
                    Remedy::Done {
                        action,
                        quarantine_id,
                    } => (action.to_string(), quarantine_id),
                    Remedy::Failed(action, reason) => {
                        let kind = if action == "quarantine" {
                            ErrorKind::Quarantine
                        } else {
                            ErrorKind::Remediation
                        };
                        tally.errors.push(RunError::new(&path, &reason, kind));
                        (format!("{action}_failed"), None)
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
            (path, Ok(Verdict::Error(e)), _) | (path, Err(e), _) => {
                tally.errors.push(RunError::new(&path, &e, ErrorKind::Scan))
            }
        }
    }
}

/// Notes on the run that quarantined item `id` that it was since restored (`released`)
/// or discarded (`purged`), so the scan history says what became of the file.
pub async fn note_quarantine_item(state: &State, svm_uuid: &str, id: &str, what: &str) {
    let mut txn = state.store.begin().await;
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

/// The start of the policy's latest complete, error-free run over the same scan paths
/// and scope: what an incremental run compares file changes with. Runs with errors,
/// cancelled or failed runs are no baseline, since files they did not scan may be
/// unchanged; nor are runs made before the policy's paths or scope changed, since
/// files they did not look at (a new path, a file no longer excluded) may be too.
fn baseline(
    state: &State,
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
    state
        .store
        .list(RUN_KIND)
        .iter()
        .filter(|r| {
            r["svm"]["uuid"] == svm_uuid
                && r["policy"] == policy
                && r["status"] == "COMPLETED"
                && r["scope"] == *scope
                && sorted(crate::api::vscan::strings(&r["scan_paths"])) == paths
        })
        .filter_map(|r| r["start_time"].as_str()?.parse::<DateTime<Utc>>().ok())
        .max()
}
