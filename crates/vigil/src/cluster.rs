//! Cluster membership. Every `vigil serve` on one shared database (PostgreSQL) is a
//! node of one cluster: it heartbeats a `cluster_node` document with its identity, and
//! `/api/cluster/nodes` lists every node that ever joined, `up` while its heartbeat is
//! fresh and `down` once it is older than [`DOWN_AFTER`]. Heartbeats are wall-clock
//! times, so the nodes' clocks must agree to within a few seconds (NTP), as ONTAP's
//! nodes must. On SQLite the cluster is this node alone and nothing is written.
//!
//! Work that must happen once per cluster (firing schedules, failing the runs of a
//! node that died) is done by the holder of one lease, a `cluster_lease` document
//! renewed with each heartbeat and taken over by another node once it has expired.
//! Writes take turns across the cluster (see `store`), so two nodes never both take
//! it, and a holder that cannot renew (its database is gone) stops leading when its
//! term ends, before any other node may start.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::state::State;

pub const NODE_KIND: &str = "cluster_node";
pub const LEASE_KIND: &str = "cluster_lease";
const LEASE_ID: &str = "leader";
/// How long a lease lasts unless renewed: four heartbeats.
const LEASE_TERM: Duration = Duration::from_secs(20);
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node whose heartbeat is older than this is `down`: six missed beats.
pub const DOWN_AFTER: Duration = Duration::from_secs(30);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether this node shares its database with other nodes.
pub fn is_shared(state: &State) -> bool {
    state.store.engine() != "sqlite"
}

/// Heartbeats while the process lives; a failed beat (database down) is retried at
/// the next one.
pub fn start(state: &Arc<State>) {
    if !is_shared(state) {
        return;
    }
    let state = Arc::clone(state);
    let started = now();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            let now = now();
            let mut txn = state.store.begin().await;
            txn.put(
                NODE_KIND,
                &state.node_uuid,
                own_record(&state, started, now),
            );
            let lease = txn.get(LEASE_KIND, LEASE_ID);
            let free = lease.as_ref().is_none_or(|l| {
                l["holder"] == state.node_uuid.as_str()
                    || l["expires_at"].as_u64().unwrap_or(0) < now
            });
            if free {
                txn.put(
                    LEASE_KIND,
                    LEASE_ID,
                    json!({
                        "holder": state.node_uuid,
                        "name": state.config.node_name,
                        "expires_at": now + LEASE_TERM.as_secs(),
                    }),
                );
            }
            if let Err(e) = txn.commit().await {
                tracing::warn!(error = %e, "cluster heartbeat not written");
                continue;
            }
            if leads(&state) {
                fail_runs_of_down_nodes(&state).await;
            }
        }
    });
}

/// Whether this node does the cluster's once-only work now. Always on SQLite.
pub fn leads(state: &State) -> bool {
    if !is_shared(state) {
        return true;
    }
    state.store.get(LEASE_KIND, LEASE_ID).is_some_and(|l| {
        l["holder"] == state.node_uuid.as_str() && l["expires_at"].as_u64().unwrap_or(0) >= now()
    })
}

/// Runs left `RUNNING` by a node that is now down will not finish: they are failed,
/// naming the node, so that the policy can run again.
async fn fail_runs_of_down_nodes(state: &State) {
    let down: Vec<(String, String)> = members(state)
        .into_iter()
        .filter(|m| !m.up)
        .map(|m| (m.uuid, m.name))
        .collect();
    if down.is_empty() {
        return;
    }
    use crate::scanning::records::{RUN_KIND, run_node};
    for (uuid, name) in &down {
        let orphans = state
            .store
            .list(RUN_KIND)
            .iter()
            .any(|run| run["status"] == "RUNNING" && run_node(run) == Some(uuid.as_str()));
        if !orphans {
            continue;
        }
        crate::scanning::records::mark_interrupted(
            &state.store,
            |run| run_node(run) == Some(uuid.as_str()),
            &format!("node {name} went down during the run"),
        )
        .await;
    }
}

fn own_record(state: &State, started: u64, heartbeat: u64) -> Value {
    json!({
        "uuid": state.node_uuid,
        "name": state.config.node_name,
        "version": crate::api::cluster::version(),
        "started_at": started,
        "heartbeat_at": heartbeat,
    })
}

/// One node as `/api/cluster/nodes` shows it.
pub struct Member {
    pub uuid: String,
    pub name: String,
    pub up: bool,
    pub uptime: Option<u64>,
    pub version: Value,
}

/// Every node of the cluster: this one (always up: it is answering) and, on a shared
/// database, every other that has heartbeated.
pub fn members(state: &State) -> Vec<Member> {
    let mut out = vec![Member {
        uuid: state.node_uuid.clone(),
        name: state.config.node_name.clone(),
        up: true,
        uptime: Some(state.started.elapsed().as_secs()),
        version: crate::api::cluster::version(),
    }];
    if !is_shared(state) {
        return out;
    }
    let now = now();
    for doc in state.store.list(NODE_KIND) {
        let uuid = doc["uuid"].as_str().unwrap_or_default();
        if uuid == state.node_uuid || uuid.is_empty() {
            continue;
        }
        let beat = doc["heartbeat_at"].as_u64().unwrap_or(0);
        let up = now.saturating_sub(beat) <= DOWN_AFTER.as_secs();
        out.push(Member {
            uuid: uuid.to_string(),
            name: doc["name"].as_str().unwrap_or_default().to_string(),
            up,
            uptime: up.then(|| now.saturating_sub(doc["started_at"].as_u64().unwrap_or(now))),
            version: doc["version"].clone(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
