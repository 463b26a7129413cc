//! Scheduled runs: cron and interval job schedules, one catch-up run for a time missed
//! while the node was down, runs cut short by a stop marked `FAILED`, and the retention
//! of run records.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Trigger, claim, run};
use crate::scanning::records::{self, Retention};
use crate::state::{SCHEDULE_KIND, State};

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
    let latest = records::latest_start(&state.store, svm_uuid, policy);
    last_starts().entry(key).or_insert(latest);
    latest
}

/// Deletes run records beyond the configured age and count.
pub async fn trim_runs(state: &State) -> usize {
    let retention = Retention {
        max: state.config.vscan_runs_max,
        max_age: state.config.vscan_runs_max_age,
    };
    records::trim(&state.store, retention).await
}

/// How often run records are trimmed.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Starts runs of scheduled policies when their schedule fires. A schedule time that
/// passed while the node was down gives one catch-up run at start (not one per missed
/// time). Runs started earlier and cut short by a stop are recorded as `FAILED`.
pub fn start_scheduler(state: &Arc<State>) {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let me = state.node_uuid.clone();
        records::mark_interrupted(
            &state.store,
            |run| records::run_node(run).is_none_or(|node| node == me),
            "the node stopped during the run",
        )
        .await;
        trim_runs(&state).await;
        let mut trimmed = std::time::Instant::now();
        let started = Utc::now();
        let mut checked: std::collections::HashMap<String, DateTime<Utc>> = Default::default();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            // On a cluster one node fires the schedules (crate::cluster's lease).
            if !crate::cluster::leads(&state) {
                continue;
            }
            if trimmed.elapsed() >= TRIM_EVERY {
                trim_runs(&state).await;
                trimmed = std::time::Instant::now();
            }
            let now = Utc::now();
            let snapshot = state.vscan();
            for svm in state.running_svm_uuids() {
                if !snapshot.enabled(&svm) {
                    continue;
                }
                for policy in snapshot.on_demand(&svm) {
                    let Some(schedule) = policy["schedule"]["uuid"]
                        .as_str()
                        .and_then(|u| state.store.get(SCHEDULE_KIND, u))
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
                    let Ok(guard) = claim(&state, &svm, &name) else {
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
