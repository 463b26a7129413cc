//! Scheduled runs: cron and interval job schedules, one catch-up run for a time missed
//! while the node was down, runs cut short by a stop marked `FAILED`, and the retention
//! of run records.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{RUN_KIND, Trigger, claim, run};
use crate::api::vscan::Snapshot;
use crate::state::State;

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

/// The start of each policy's latest run, so the scheduler does not read every run
/// record each second. Filled from the store the first time a policy is asked about
/// and kept current by [`note_start`].
static LAST_START: LazyLock<Mutex<HashMap<String, Option<DateTime<Utc>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn last_starts() -> std::sync::MutexGuard<'static, HashMap<String, Option<DateTime<Utc>>>> {
    LAST_START.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records that a run of the policy started at `at`.
pub(super) fn note_start(svm_uuid: &str, policy: &str, at: DateTime<Utc>) {
    last_starts().insert(format!("{svm_uuid}/{policy}"), Some(at));
}

/// The start of the policy's latest run, if it ever ran.
fn last_run(state: &State, svm_uuid: &str, policy: &str) -> Option<DateTime<Utc>> {
    let key = format!("{svm_uuid}/{policy}");
    if let Some(known) = last_starts().get(&key) {
        return *known;
    }
    let latest = state
        .store
        .list(RUN_KIND)
        .iter()
        .filter(|r| r["svm"]["uuid"] == svm_uuid && r["policy"] == policy)
        .filter_map(|r| r["start_time"].as_str()?.parse::<DateTime<Utc>>().ok())
        .max();
    last_starts().entry(key).or_insert(latest);
    latest
}

/// Deletes run records older than the configured age, then the oldest beyond the
/// configured count. Returns how many went.
pub async fn trim_runs(state: &State) -> usize {
    let max_age = chrono::TimeDelta::from_std(state.config.vscan_runs_max_age)
        .unwrap_or(chrono::TimeDelta::MAX);
    let cutoff = Utc::now().checked_sub_signed(max_age);
    let mut runs: Vec<(DateTime<Utc>, String)> = state
        .store
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
        .saturating_sub(usize::try_from(state.config.vscan_runs_max).unwrap_or(usize::MAX));
    let doomed: Vec<&String> = runs
        .iter()
        .enumerate()
        .filter(|(i, (start, _))| *i < over || cutoff.is_some_and(|c| *start < c))
        .map(|(_, (_, id))| id)
        .collect();
    if doomed.is_empty() {
        return 0;
    }
    let mut txn = state.store.begin().await;
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

/// How often run records are trimmed.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Starts runs of scheduled policies when their schedule fires. A schedule time that
/// passed while the node was down gives one catch-up run at start (not one per missed
/// time). Runs started earlier and cut short by a stop are recorded as `FAILED`.
pub fn start_scheduler(state: &Arc<State>) {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        mark_interrupted(&state).await;
        trim_runs(&state).await;
        let mut trimmed = std::time::Instant::now();
        let started = Utc::now();
        let mut checked: std::collections::HashMap<String, DateTime<Utc>> = Default::default();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            if trimmed.elapsed() >= TRIM_EVERY {
                trim_runs(&state).await;
                trimmed = std::time::Instant::now();
            }
            let now = Utc::now();
            let snapshot = Snapshot::load(&*state.store, &state.admin_svm().0);
            for svm in crate::api::vscan::running_svm_uuids(&state) {
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
                            Trigger {
                                by: "schedule",
                                incremental: None,
                            },
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
            record["errors"] =
                json!([{"path": "", "reason": "the node stopped during the run", "kind": "other"}]);
            record["error_count"] = json!(1);
            txn.put(RUN_KIND, &id, record);
        }
    }
    if let Err(e) = txn.commit().await {
        tracing::error!(error = %e, "cannot mark interrupted on-demand runs");
    }
}
