//! Keeps each SVM's S3 listeners in line with its service record: after a change
//! through the REST API and at start-up.

use std::path::PathBuf;

use s3model::model::{BucketType, SERVICE_KIND, Service};

use super::listeners::{Endpoint, Proto};
use super::storage::BucketDir;
use crate::state::State;

/// The listeners a service asks for: none while it is disabled.
pub fn wanted(service: &Service) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if !service.enabled {
        return out;
    }
    if service.is_http_enabled {
        out.push(Endpoint {
            proto: Proto::Http,
            port: service.port,
        });
    }
    if service.is_https_enabled {
        out.push(Endpoint {
            proto: Proto::Https,
            port: service.secure_port,
        });
    }
    out
}

fn svm_root(state: &State, svm_uuid: &str) -> Option<PathBuf> {
    let svm = state.svm(svm_uuid)?;
    svm["root_path"].as_str().map(PathBuf::from)
}

/// Makes the SVM's listeners match `service` (`None`: no S3 server).
pub fn apply(state: &State, svm_uuid: &str, service: Option<&Service>) -> Result<(), String> {
    let wanted = service.map(wanted).unwrap_or_default();
    let Some(root) = svm_root(state, svm_uuid) else {
        state.s3.listeners.stop_svm(svm_uuid);
        return Ok(());
    };
    state.s3.listeners.apply(svm_uuid, &root, &wanted)
}

/// Starts the listeners of every stored service (at start-up), after removing what
/// interrupted uploads left in the buckets. A listener that cannot start is logged;
/// the service stays as configured.
pub fn restore(state: &State) {
    for bucket in crate::s3::buckets::all(&state.store) {
        if bucket.kind != BucketType::S3 {
            continue;
        }
        let Some(root) = svm_root(state, &bucket.svm_uuid) else {
            continue;
        };
        match BucketDir::new(&root, &bucket.uuid).clean() {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(bucket = %bucket.name, files = n, "removed interrupted S3 uploads")
            }
            Err(e) => tracing::warn!(bucket = %bucket.name, error = %e, "cannot clean S3 bucket"),
        }
    }
    for doc in state.store.list(SERVICE_KIND) {
        let Ok(service) = serde_json::from_value::<Service>(doc.as_ref().clone()) else {
            tracing::error!("unreadable S3 service record");
            continue;
        };
        if let Err(e) = apply(state, &service.svm_uuid, Some(&service)) {
            tracing::error!(svm_uuid = %service.svm_uuid, error = %e, "S3 server not started");
        }
    }
}
