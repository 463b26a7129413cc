//! The cluster and its SVMs as the store holds them: their document kinds and the
//! lookups that services and front doors share. It sits below the server state so that
//! a door can be given the store alone, not the whole server state.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use store::Store;

use crate::namespace::Namespace;

pub const CLUSTER_KIND: &str = "cluster";
pub const SVM_KIND: &str = "svm";
/// Cluster job schedules (`/api/cluster/schedules`), which on-demand policies name.
pub const SCHEDULE_KIND: &str = "schedule";

pub fn cluster(store: &Store) -> Value {
    store
        .get(CLUSTER_KIND, CLUSTER_KIND)
        .map(|v| (*v).clone())
        .unwrap_or_else(|| json!({}))
}

/// The cluster's admin SVM as `(uuid, name)`. ONTAP gives it the cluster's name;
/// Vigil also gives it the cluster's uuid.
pub fn admin_svm(store: &Store) -> (String, String) {
    let c = cluster(store);
    (
        c["uuid"].as_str().unwrap_or_default().to_string(),
        c["name"].as_str().unwrap_or_default().to_string(),
    )
}

pub fn svm(store: &Store, uuid: &str) -> Option<Arc<Value>> {
    store.get(SVM_KIND, uuid)
}

pub fn svm_by_name(store: &Store, name: &str) -> Option<Arc<Value>> {
    store.list(SVM_KIND).into_iter().find(|s| s["name"] == name)
}

pub fn data_svm_uuids(store: &Store) -> Vec<String> {
    store
        .list(SVM_KIND)
        .iter()
        .filter_map(|s| s["uuid"].as_str().map(String::from))
        .collect()
}

/// The data SVMs that are running: a stopped SVM serves no data, so its scanner
/// connections are dropped, its doors closed and its scheduled runs wait.
pub fn running_svm_uuids(store: &Store) -> Vec<String> {
    store
        .list(SVM_KIND)
        .iter()
        .filter(|s| s["state"].as_str().is_none_or(|st| st == "running"))
        .filter_map(|s| s["uuid"].as_str().map(String::from))
        .collect()
}

/// The Vscan configuration as stored now.
pub fn vscan(store: &Store) -> vscan::config::Snapshot {
    vscan::config::Snapshot::load(store, &admin_svm(store).0)
}

/// The namespace of an SVM record; the error says why its root is unusable.
pub fn namespace(svm: &Value) -> Result<Namespace, String> {
    let root = svm["root_path"].as_str().unwrap_or_default();
    Namespace::new(Path::new(root)).map_err(|e| {
        format!(
            "The namespace root {root} of SVM {} is unusable: {e}",
            svm["name"]
        )
    })
}
