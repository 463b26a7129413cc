//! The Vscan configuration of every SVM at one moment, and the rules that combine it.
//!
//! Objects belong to an SVM. Those the admin SVM (the cluster) owns are inherited by
//! every data SVM, as in ONTAP: `default_CIFS` is such a policy. A data SVM can only
//! enable or disable an inherited policy and give an inherited pool a role; those
//! per-SVM choices are kept apart from the object itself ([`INHERITED_KIND`]), so the
//! owner's edits reach every SVM.
//!
//! Documents are JSON as stored; this module holds no HTTP or REST types, so the REST
//! handlers, the scanners, the on-demand runner and the scheduler all read the same model.

mod names;
mod snapshot;

pub use names::{MAX_NAME, NameError, check_name};
pub use snapshot::{Seen, Snapshot};

use crate::scope::{self, PathStyle, Scope, ScopeError};
use serde_json::{Map, Value, json};

/// Per-SVM switch: `{"svm_uuid", "enabled": bool, "cache_generation": n}`.
pub const STATE_KIND: &str = "vscan";
pub const POOL_KIND: &str = "vscan_pool";
pub const ON_ACCESS_KIND: &str = "vscan_on_access";
pub const ON_DEMAND_KIND: &str = "vscan_on_demand";
/// A data SVM's choice about an inherited object: `{"role"}` or `{"enabled"}`.
pub const INHERITED_KIND: &str = "vscan_inherited";

/// The cluster-owned on-access policy every SVM starts with (enabled).
pub const DEFAULT_POLICY: &str = "default_CIFS";
/// Policies an SVM may own, per kind (ONTAP's guide: 10 on-access, 10 on-demand).
pub const MAX_POLICIES: usize = 10;

pub const ROLES: &[&str] = &["primary", "secondary", "idle"];

/// The store id of an SVM's pool or policy.
pub fn object_id(svm_uuid: &str, name: &str) -> String {
    format!("{svm_uuid}/{name}")
}

/// The store id of a data SVM's choice about an inherited object.
pub fn inherited_id(svm_uuid: &str, kind: &str, name: &str) -> String {
    format!("{svm_uuid}/{kind}/{name}")
}

/// The SVM that owns a stored pool or policy.
pub fn owner_of(record: &Value) -> &str {
    record["svm"]["uuid"].as_str().unwrap_or_default()
}

/// The cluster-owned `default_CIFS` policy, created with the cluster.
pub fn default_policy(admin_uuid: &str) -> Value {
    json!({
        "svm": {"uuid": admin_uuid},
        "name": DEFAULT_POLICY,
        "enabled": true,
        "mandatory": true,
        "protocol": "CIFS",
        "scope": default_scope(PathStyle::Cifs),
    })
}

/// `secondary` counts as active for enabling Vscan: it takes over when no primary
/// server is connected (docs/vscan.md).
pub fn is_active_role(role: &Value) -> bool {
    matches!(role.as_str(), Some("primary" | "secondary"))
}

/// A list of strings from a stored field (`servers`, `scan_paths`, ...).
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The scope a policy starts with when none is given.
pub fn default_scope(style: PathStyle) -> Value {
    match style {
        PathStyle::Cifs => json!({
            "include_extensions": ["*"],
            "exclude_extensions": [],
            "exclude_paths": [],
            "max_file_size": scope::ON_ACCESS_DEFAULT_MAX,
            "scan_without_extension": true,
            "only_execute_access": false,
            "scan_readonly_volumes": false,
        }),
        PathStyle::Unix => json!({
            "include_extensions": ["*"],
            "exclude_extensions": [],
            "exclude_paths": [],
            "max_file_size": scope::ON_DEMAND_DEFAULT_MAX,
            "scan_without_extension": true,
        }),
    }
}

/// The scope a write leaves: `current` (or the defaults) with the given members
/// replaced (lists wholesale; `null` restores a default), validated.
pub fn merge_scope(
    given: Option<&Value>,
    current: Option<&Value>,
    style: PathStyle,
) -> Result<Value, ScopeError> {
    let defaults = default_scope(style);
    let mut scope = current.cloned().unwrap_or_else(|| defaults.clone());
    if let Some(Value::Object(given)) = given {
        for (k, v) in given {
            scope[k.as_str()] = if v.is_null() {
                defaults[k.as_str()].clone()
            } else {
                v.clone()
            };
        }
    }
    policy_scope(&scope, style)?;
    Ok(scope)
}

/// The evaluable scope of a stored policy.
pub fn policy_scope(scope: &Value, style: PathStyle) -> Result<Scope, ScopeError> {
    let default_max = default_scope(style)["max_file_size"]
        .as_u64()
        .unwrap_or_default();
    Scope::from_json(scope, style, default_max)
}

/// A scope as the API shows it: empty exclusion lists are left out, as ONTAP does.
pub fn shown_scope(scope: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = scope {
        for (k, v) in m {
            if v.as_array().is_some_and(Vec::is_empty) && k.starts_with("exclude") {
                continue;
            }
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}
