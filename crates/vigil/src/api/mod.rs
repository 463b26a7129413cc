//! The REST resources, one module each, and their registration.

pub mod accounts;
pub mod cluster;
pub mod jobs;
pub mod mav_keys;
pub mod nodes;
pub mod s3;
pub mod s3_audit;
pub mod schedules;
pub mod svm_fields;
pub mod svms;
pub mod vscan;

use std::sync::Arc;

use rest::Api;
use serde_json::json;

use crate::auth::Accounts;
use crate::state::State;

pub fn build(state: &Arc<State>) -> Api {
    Api::builder()
        .register(Arc::new(cluster::ClusterResource::new(state)))
        .register(Arc::new(nodes::Nodes::new(state)))
        .register(Arc::new(svms::Svms::new(state)))
        .register(Arc::new(schedules::Schedules::new(state)))
        .register(Arc::new(jobs::JobsResource::new(state)))
        .register(Arc::new(accounts::AccountsResource::new(state)))
        .register(Arc::new(vscan::config::VscanConfigs::new(state)))
        .register(Arc::new(vscan::scanner_pools::ScannerPools::new(state)))
        .register(Arc::new(vscan::on_access::OnAccessPolicies::new(state)))
        .register(Arc::new(vscan::on_demand::OnDemandPolicies::new(state)))
        .register(Arc::new(vscan::server_status::ServerStatuses::new(state)))
        .register(Arc::new(vscan::on_access_status::OnAccessStatus::new(state)))
        .register(Arc::new(vscan::events::Events::new(state)))
        .register(Arc::new(vscan::quarantine::Quarantine::new(state)))
        .register(Arc::new(vscan::runs::Runs::new(state)))
        .register(Arc::new(mav_keys::MavKeys::new(state)))
        .register(Arc::new(s3_audit::S3Audit::new(state)))
        .register(Arc::new(s3::services::S3Services::new(state)))
        .register(Arc::new(s3::buckets::S3Buckets::per_svm(state)))
        .register(Arc::new(s3::buckets::S3Buckets::cluster_wide(state)))
        .register(Arc::new(s3::users::S3Users::new(state)))
        .register(Arc::new(s3::groups::S3Groups::new(state)))
        .register(Arc::new(s3::policies::S3Policies::new(state)))
        .build(
            Arc::clone(&state.jobs),
            Arc::new(Accounts::new(Arc::clone(&state.store))),
            state.config.max_body_bytes,
            json!({"title": "Vigil ONTAP-compatible REST API", "version": env!("CARGO_PKG_VERSION")}),
        )
}
