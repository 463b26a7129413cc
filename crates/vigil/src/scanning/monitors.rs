//! The live side of the Vscan configuration on this node: monitors for the scan servers
//! that the pools of SVMs with Vscan enabled name.
//!
//! The configuration is the source of truth; [`reconcile`] turns it into the wanted set
//! of monitors after every change that can affect it, and a periodic pass catches
//! anything else (an SVM deleted, a restart).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use scan::remote::{Assignment, Desired, Manager, Role};
use tokio::sync::mpsc;
use vscan::config::{Snapshot, strings};

use crate::scanning::events::{Event, EventLog, Retention, run_writer};
use crate::state::State;

/// The servers this node should watch: those of active pools of SVMs with Vscan on.
pub fn desired(snapshot: &Snapshot, data_svms: &[String]) -> Desired {
    let mut out = Desired {
        enabled_svms: HashSet::new(),
        assignments: Vec::new(),
        cache_generations: HashMap::new(),
    };
    for svm in data_svms {
        out.cache_generations
            .insert(svm.clone(), snapshot.cache_generation(svm));
    }
    for svm in data_svms.iter().filter(|s| snapshot.enabled(s)) {
        out.enabled_svms.insert(svm.clone());
        for pool in snapshot.pools(svm) {
            let role = match pool.record["role"].as_str() {
                Some("primary") => Role::Primary,
                Some("secondary") => Role::Secondary,
                _ => continue,
            };
            for server in strings(&pool.record["servers"]) {
                out.assignments.push(Assignment {
                    svm: svm.clone(),
                    server,
                    role,
                });
            }
        }
    }
    out
}

/// Brings the monitors in line with the configuration as stored now.
pub fn reconcile(state: &State) {
    state
        .scanners
        .apply(&desired(&state.vscan(), &state.running_svm_uuids()));
}

/// Starts the events writer and the periodic reconcile pass.
pub fn start(state: &Arc<State>, events: mpsc::UnboundedReceiver<Event>) {
    let retention = Retention {
        max: state.config.vscan_events_max,
        max_age: state.config.vscan_events_max_age,
    };
    tokio::spawn(run_writer(Arc::clone(&state.store), retention, events));
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
            reconcile(&state);
            rounds += 1;
            if rounds.is_multiple_of(6) {
                save_cache(&state);
            }
        }
    });
}

/// Saves the scan cache (every 30 s and at shutdown) so a restart keeps it.
pub fn save_cache(state: &State) {
    if let Some(cache) = state.scanners.cache()
        && let Err(e) = cache.save()
    {
        tracing::warn!(error = %e, "cannot save the scan cache");
    }
}

pub fn manager(config: &crate::config::Config, log: Arc<EventLog>) -> Arc<Manager> {
    let manager = Manager::new(
        scan::remote::ManagerConfig {
            check_interval: config.vscan_check_interval,
            ..Default::default()
        },
        log,
    );
    manager.set_cache(Arc::new(scan::cache::ScanCache::open(
        config.scan_cache_entries,
        Some(config.data_dir.join("scan-cache")),
    )));
    manager
}
