//! Vscan configuration: `/api/protocols/vscan`, and below it each SVM's scanner pools,
//! on-access policies and on-demand policies.
//!
//! Objects belong to an SVM. Those the admin SVM (the cluster) owns are inherited by
//! every data SVM, as in ONTAP: `default_CIFS` is such a policy. A data SVM can only
//! enable or disable an inherited policy and give an inherited pool a role; those
//! per-SVM choices are kept apart from the object itself (`INHERITED_KIND`), so the
//! owner's edits reach every SVM. The decisions behind every UNCONFIRMED rule of the
//! spec are in `docs/vscan.md`.

pub mod config;
pub mod events;
pub mod on_access;
pub mod on_access_status;
pub mod on_demand;
pub mod quarantine;
pub mod runs;
pub mod scanner_pools;
pub mod server_status;

use rest::schema::{Field, Ty, array, boolean, integer, object};
use rest::{ApiError, ApiResult, Code};
use serde_json::{Value, json};
use store::Txn;
use vscan::scope::{PathStyle, ScopeError};

use crate::state::{SVM_KIND, State, svm_ref};

pub use vscan::config::{
    DEFAULT_POLICY, INHERITED_KIND, MAX_POLICIES, ON_ACCESS_KIND, ON_DEMAND_KIND, POOL_KIND, ROLES,
    STATE_KIND, Seen, Snapshot, default_policy, inherited_id, is_active_role, object_id, owner_of,
    shown_scope, strings,
};

/// Remembers a data SVM's role for an inherited pool or state of an inherited policy.
pub fn put_inherited(txn: &mut Txn<'_>, svm: &str, kind: &str, name: &str, value: Value) {
    let id = inherited_id(svm, kind, name);
    let mut doc = value;
    doc["id"] = json!(id);
    txn.put(INHERITED_KIND, &id, doc);
}

/// Forgets every data SVM's choices about an object the admin SVM deleted.
pub fn drop_inherited(txn: &mut Txn<'_>, kind: &str, name: &str) {
    let suffix = format!("/{kind}/{name}");
    txn.delete_where(INHERITED_KIND, |id, _| id.ends_with(&suffix));
}

/// Removes an SVM's whole Vscan configuration (its objects, its choices about the
/// cluster's, its switch). Used by Vscan DELETE and when the SVM itself is deleted.
pub fn forget_svm(txn: &mut Txn<'_>, svm: &str) {
    for kind in [POOL_KIND, ON_ACCESS_KIND, ON_DEMAND_KIND] {
        txn.delete_where(kind, |_, doc| owner_of(doc) == svm);
    }
    let prefix = format!("{svm}/");
    txn.delete_where(INHERITED_KIND, |id, _| id.starts_with(&prefix));
    txn.delete(STATE_KIND, svm);
}

/// The SVM a Vscan path names: a data SVM, or the admin SVM (the cluster's uuid).
pub fn path_svm(state: &State, uuid: &str) -> ApiResult<Value> {
    state
        .svm_or_admin(uuid)
        .ok_or_else(|| ApiError::not_found("svm.uuid"))
}

/// The SVMs a listing covers: the one in the path, or every data SVM for `*`/absent.
pub fn listed_svms(state: &State, key: Option<&String>) -> ApiResult<Vec<Value>> {
    match key.map(String::as_str) {
        Some("*") | None => Ok(state
            .store
            .list(SVM_KIND)
            .into_iter()
            .map(|s| (*s).clone())
            .collect()),
        Some(uuid) => Ok(vec![path_svm(state, uuid)?]),
    }
}

pub fn svm_link(svm: &Value) -> Value {
    svm_ref(svm)
}

// ---- validation shared by the standalone resources and nested creation ----

/// Pool and policy names (the domain's rule) as an ONTAP error.
pub fn check_name(name: &str, target: &str) -> ApiResult<()> {
    vscan::config::check_name(name, target).map_err(|e| {
        ApiError::new(Code::InvalidFieldValue, e.to_string()).with_target(e.target.clone())
    })
}

pub fn scope_fields(on_access: bool) -> Vec<Field> {
    let mut fields = vec![
        array("include_extensions", Ty::String),
        array("exclude_extensions", Ty::String),
        array("exclude_paths", Ty::String),
        integer("max_file_size"),
        boolean("scan_without_extension"),
    ];
    if on_access {
        fields.push(boolean("only_execute_access"));
        fields.push(boolean("scan_readonly_volumes"));
    }
    fields
}

pub fn scope_field(on_access: bool) -> Field {
    object("scope", scope_fields(on_access))
}

/// The scope a write leaves (see [`vscan::config::merge_scope`]), as an ONTAP error.
pub fn merge_scope(
    given: Option<&Value>,
    current: Option<&Value>,
    style: PathStyle,
) -> ApiResult<Value> {
    vscan::config::merge_scope(given, current, style).map_err(scope_error)
}

pub fn scope_error(e: ScopeError) -> ApiError {
    let code = Code::ALL
        .iter()
        .copied()
        .find(|c| c.code() == e.ontap_code())
        .unwrap_or(Code::InvalidFieldValue);
    ApiError::new(code, capitalize(&e.to_string())).with_target(e.target())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Adds the owning SVM's name and link to a stored object.
pub fn with_svm(mut record: Value, svm: &Value) -> Value {
    record["svm"] = svm_ref(svm);
    record
}
