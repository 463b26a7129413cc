//! On-demand scan runs: walk a policy's `scan_paths` inside the SVM namespace and hand
//! every file to the scanning service ([`crate::scanning`]), which applies the scope and
//! the cache, scans, remediates and records events; this module only orchestrates the
//! walk and writes what the service answered into the run record and report.
//!
//! Symbolic links are never followed (see [`walk`]). At most one run of a policy at a
//! time ([`crate::scanning::running`]); a run can be cancelled. A run cut short by a stop
//! is recorded `FAILED` at the next start (not resumed): its report and record say which
//! files it did not reach only by their absence, so the next run scans them.

mod progress;
mod schedule;
mod walk;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use rest::{ApiError, ApiResult, Code};
use scan::dispatch::Opened;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use vscan::config::{policy_scope, strings};
use vscan::scope::PathStyle;

use crate::namespace::Symlinks;
use crate::scanning::records::{self, ErrorKind, RunError, RunStart, Tally};
use crate::scanning::running::Ticket;
use crate::scanning::{self, Job, Outcome, Remediation, ScanService, report};
use crate::state::State;

pub use schedule::start_scheduler;

/// Batches of one run at the service at once: enough to keep every scanning thread
/// and a remote server's slots busy while the walkers fill the next ones.
const BATCHES_IN_FLIGHT: usize = 8;
/// Incremental runs rescan files whose status changed up to this long before the
/// baseline run started: file-system timestamps lag the clock by up to a tick.
const CHANGE_SLACK_NS: i128 = 1_000_000_000;

fn run_key(svm_uuid: &str, policy: &str) -> String {
    format!("{svm_uuid}/{policy}")
}

/// Claims the policy for a run, or says a run is already going.
fn claim(state: &State, svm_uuid: &str, policy: &str) -> ApiResult<Ticket> {
    Ticket::claim(&state.runs, run_key(svm_uuid, policy)).ok_or_else(|| {
        ApiError::new(
            Code::InUse,
            format!("On-Demand policy \"{policy}\" is already running."),
        )
    })
}

/// Asks the policy's run to stop. It stops within one directory's walk and the batches
/// already at the scanners, and is recorded `CANCELED` with what it scanned so far.
pub fn cancel(state: &State, svm_uuid: &str, policy: &str) -> ApiResult<()> {
    if state.runs.cancel(&run_key(svm_uuid, policy)) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::InvalidCombination,
            format!("On-Demand policy \"{policy}\" is not running."),
        ))
    }
}

/// Cancels every run of the SVM's policies (the SVM is being deleted).
pub fn cancel_svm(state: &State, svm_uuid: &str) {
    state.runs.cancel_prefix(&format!("{svm_uuid}/"));
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
    let snapshot = state.vscan();
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
    claim(state, svm_uuid, policy)
}

/// Runs the policy now and returns the run record.
pub async fn run(
    state: Arc<State>,
    svm_uuid: String,
    policy_name: String,
    trigger: Trigger,
    ticket: Ticket,
) -> ApiResult<Value> {
    let policy = state
        .vscan()
        .on_demand_policy(&svm_uuid, &policy_name)
        .ok_or_else(|| ApiError::not_found("name"))?;
    let svm = state
        .svm_or_admin(&svm_uuid)
        .ok_or_else(|| ApiError::not_found("svm.uuid"))?;
    let ns = state.namespace(&svm)?;
    let scope = policy_scope(&policy["scope"], PathStyle::Unix).map_err(|e| {
        ApiError::internal(format!(
            "The stored scope of On-Demand policy \"{policy_name}\" is invalid: {e}"
        ))
    })?;
    let scan_paths = strings(&policy["scan_paths"]);
    let incremental = trigger
        .incremental
        .unwrap_or_else(|| policy["incremental"].as_bool().unwrap_or(false));
    let baseline = if incremental {
        records::baseline(
            &state.store,
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
    let mut record = records::started_run(&RunStart {
        uuid: &run_id,
        svm: &svm,
        policy: &policy,
        kind: run_type,
        trigger: trigger.by,
        started,
        changed_since: baseline,
    });
    record["node"] = state.node_ref();
    records::save(&state.store, &record).await?;
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
    let job = Job {
        svm: svm_uuid.clone(),
        trigger: scanning::Trigger::OnDemand,
        remediation: Remediation::from_policy(policy["remediation"].as_str()),
        deadline: None,
    };
    let changed_since = baseline.map(|t| {
        i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
            - CHANGE_SLACK_NS
    });
    let walk = Arc::new(walk::Walk::new(
        svm_uuid.clone(),
        scope,
        Arc::clone(&state.scanning),
        changed_since,
        Arc::clone(&ticket.cancel),
        roots,
    ));
    let hub = Arc::clone(state.events.live());
    let progress = Arc::new(progress::Progress::default());
    let ticker = progress::follow(
        Arc::clone(&hub),
        svm_uuid.clone(),
        record.clone(),
        Arc::clone(&progress),
    );
    let walked = scan_all(&state.scanning, &walk, &job, &mut tally, &progress).await;
    ticker.abort();

    let ended = Utc::now();
    tally.errors.extend(walked.errors);
    let status = records::finish_run(
        &mut record,
        &mut tally,
        &walked.counts,
        incremental,
        ticket.canceled(),
        ended,
    );
    match report::write(&ns, &svm, &policy, &record, &tally, ended) {
        Ok(path) => record["report"] = json!(path),
        Err(e) => record["report_error"] = json!(e),
    }
    if state.svm(&svm_uuid).is_none() {
        // Deleted during the run: its history went with it.
        return Err(ApiError::not_found("svm.uuid"));
    }
    records::save(&state.store, &record).await?;
    progress::finished(&hub, &svm_uuid, &record, &progress);
    telemetry::ondemand::RunFinished { status }.emit();
    drop(ticket);
    schedule::trim_runs(&state).await;
    Ok(record)
}

/// Walks with one thread per CPU and scans what the walkers hand over, a few batches at
/// a time. Returns what the walkers counted.
async fn scan_all(
    service: &Arc<ScanService>,
    walk: &Arc<walk::Walk>,
    job: &Job,
    tally: &mut Tally,
    progress: &progress::Progress,
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
    let mut scans: JoinSet<Vec<(String, Outcome)>> = JoinSet::new();
    while let Some(batch) = rx.recv().await {
        progress
            .queued
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (service, job) = (Arc::clone(service), job.clone());
        scans.spawn(async move {
            let _permit = permit;
            let view = service.view(&job.svm);
            service.scan_opened(&view, &job, batch).await
        });
        while let Some(done) = scans.try_join_next() {
            count(tally, done, progress);
        }
    }
    progress.walk_done.store(true, Ordering::Relaxed);
    while let Some(done) = scans.join_next().await {
        count(tally, done, progress);
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

fn count(
    tally: &mut Tally,
    done: Result<Vec<(String, Outcome)>, tokio::task::JoinError>,
    progress: &progress::Progress,
) {
    match done {
        Ok(finished) => {
            progress
                .done
                .fetch_add(finished.len() as u64, Ordering::Relaxed);
            for (path, outcome) in finished {
                tally.add(path, outcome);
            }
            progress
                .infected
                .store(tally.infected.len() as u64, Ordering::Relaxed);
        }
        Err(e) => tally.errors.push(RunError::new(
            "",
            &format!("a scan task failed: {e}"),
            ErrorKind::Other,
        )),
    }
}

fn walker_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}
