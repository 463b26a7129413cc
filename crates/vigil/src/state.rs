//! What every resource shares: the store, this node's identity and the configuration.

use std::sync::Arc;
use std::time::Instant;

use rest::{ApiError, ApiResult, Code, Jobs};
use serde_json::{Value, json};
use store::Store;

use crate::config::Config;
use crate::namespace::Namespace;
use crate::scanning::ScanService;
use crate::scanning::events::EventLog;
use crate::scanning::running::RunningScans;

use crate::tenancy;
pub use crate::tenancy::{CLUSTER_KIND, SCHEDULE_KIND, SVM_KIND};

pub struct State {
    pub store: Arc<Store>,
    pub config: Config,
    pub node_uuid: String,
    pub started: Instant,
    pub jobs: Arc<Jobs>,
    /// Health of the scan servers that Vscan pools name.
    pub scanners: Arc<scan::remote::Manager>,
    pub events: Arc<EventLog>,
    /// The scanning pipeline every front door calls.
    pub scanning: Arc<ScanService>,
    /// The on-access decision every on-access door (S3, fanotify) asks.
    pub on_access: Arc<crate::scanning::on_access::OnAccess>,
    /// On-demand runs going, and their cancel flags.
    pub runs: Arc<dyn RunningScans>,
    /// The live S3 audit logs; what the S3 endpoint records through.
    pub audit: Arc<audit::AuditHub>,
    /// The S3 servers' listeners and the key that seals S3 users' secrets.
    pub s3: Arc<crate::s3::runtime::S3Runtime>,
    /// The fanotify on-access door (NFS exports, local access).
    pub fanotify: Arc<crate::fanotify::Door>,
}

impl State {
    pub fn cluster(&self) -> Value {
        tenancy::cluster(&self.store)
    }

    pub fn cluster_name(&self) -> String {
        self.admin_svm().1
    }

    /// The cluster's admin SVM, which owns cluster-scoped accounts.
    pub fn admin_svm(&self) -> (String, String) {
        tenancy::admin_svm(&self.store)
    }

    pub fn node_ref(&self) -> Value {
        json!({
            "uuid": self.node_uuid,
            "name": self.config.node_name,
            "_links": {"self": {"href": format!("/api/cluster/nodes/{}", self.node_uuid)}}
        })
    }

    pub fn svm(&self, uuid: &str) -> Option<Arc<Value>> {
        tenancy::svm(&self.store, uuid)
    }

    /// A data SVM, or the admin SVM by the cluster's uuid (Vscan objects of the cluster
    /// are the admin SVM's).
    pub fn svm_or_admin(&self, uuid: &str) -> Option<Value> {
        if let Some(svm) = self.svm(uuid) {
            return Some((*svm).clone());
        }
        let (admin_uuid, admin_name) = self.admin_svm();
        (uuid == admin_uuid).then(|| json!({"uuid": admin_uuid, "name": admin_name}))
    }

    pub fn data_svm_uuids(&self) -> Vec<String> {
        tenancy::data_svm_uuids(&self.store)
    }

    pub fn running_svm_uuids(&self) -> Vec<String> {
        tenancy::running_svm_uuids(&self.store)
    }

    pub fn vscan(&self) -> vscan::config::Snapshot {
        tenancy::vscan(&self.store)
    }

    pub fn svm_by_name(&self, name: &str) -> Option<Arc<Value>> {
        tenancy::svm_by_name(&self.store, name)
    }

    /// Finds an SVM from a `{uuid, name}` reference in a request body; both given must
    /// agree (2621706), and an unknown one is 2621462.
    pub fn resolve_svm_ref(&self, reference: &Value, target: &str) -> ApiResult<Arc<Value>> {
        let by_uuid = reference.get("uuid").and_then(Value::as_str);
        let by_name = reference.get("name").and_then(Value::as_str);
        let (svm, field, given) = match (by_uuid, by_name) {
            (Some(u), _) => (self.svm(u), "uuid", u),
            (None, Some(n)) => (self.svm_by_name(n), "name", n),
            (None, None) => return Err(ApiError::required(&format!("{target}.uuid"))),
        };
        let svm = svm.ok_or_else(|| {
            ApiError::new(
                Code::SvmRefNotFound,
                format!("SVM \"{given}\" does not exist."),
            )
            .with_target(format!("{target}.{field}"))
        })?;
        if let Some(n) = by_name
            && svm["name"] != n
        {
            return Err(ApiError::new(
                Code::SvmRefMismatch,
                format!(
                    "The SVM with uuid \"{}\" is named \"{}\", not \"{n}\".",
                    svm["uuid"].as_str().unwrap_or_default(),
                    svm["name"].as_str().unwrap_or_default()
                ),
            )
            .with_target(format!("{target}.name")));
        }
        Ok(svm)
    }

    /// The namespace of an SVM record.
    pub fn namespace(&self, svm: &Value) -> ApiResult<Namespace> {
        tenancy::namespace(svm).map_err(ApiError::internal)
    }
}

pub fn svm_ref(svm: &Value) -> Value {
    json!({
        "uuid": svm["uuid"],
        "name": svm["name"],
        "_links": {"self": {"href": format!("/api/svm/svms/{}", svm["uuid"].as_str().unwrap_or_default())}}
    })
}
