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
pub mod on_demand;
pub mod quarantine;
pub mod runs;
pub mod scanner_pools;
pub mod server_status;

use std::collections::HashMap;

use rest::schema::{Field, Ty, array, boolean, integer, object};
use rest::{ApiError, ApiResult, Code};
use serde_json::{Map, Value, json};
use store::{Store, Txn};
use vscan::scope::{PathStyle, Scope, ScopeError};

use crate::state::{SVM_KIND, State, svm_ref};

/// Per-SVM switch: `{"enabled": bool, "cache_generation": n}`.
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
const MAX_NAME: usize = 256;

pub const ROLES: &[&str] = &["primary", "secondary", "idle"];

pub fn object_id(svm_uuid: &str, name: &str) -> String {
    format!("{svm_uuid}/{name}")
}

fn inherited_id(svm_uuid: &str, kind: &str, name: &str) -> String {
    format!("{svm_uuid}/{kind}/{name}")
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

/// Documents of a kind, from the store (reads) or from a write transaction.
pub trait Source {
    fn docs(&self, kind: &str) -> Vec<Value>;
}

impl Source for Store {
    fn docs(&self, kind: &str) -> Vec<Value> {
        self.list(kind).into_iter().map(|v| (*v).clone()).collect()
    }
}

impl Source for Txn<'_> {
    fn docs(&self, kind: &str) -> Vec<Value> {
        self.list(kind).into_iter().map(|(_, v)| v).collect()
    }
}

/// An object as one SVM sees it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The stored object (owner's copy), with the viewing SVM's role/enabled applied.
    pub record: Value,
    /// Owned by the admin SVM and seen from a data SVM.
    pub inherited: bool,
}

impl Seen {
    pub fn name(&self) -> &str {
        self.record["name"].as_str().unwrap_or_default()
    }
}

/// Every Vscan object at one moment, with the rules that combine them.
pub struct Snapshot {
    pub admin: String,
    states: HashMap<String, Value>,
    pools: Vec<Value>,
    on_access: Vec<Value>,
    on_demand: Vec<Value>,
    inherited: HashMap<String, Value>,
}

fn owner_of(record: &Value) -> &str {
    record["svm"]["uuid"].as_str().unwrap_or_default()
}

impl Snapshot {
    pub fn load(source: &dyn Source, admin: &str) -> Snapshot {
        let keyed = |kind: &str, key: fn(&Value) -> String| {
            source
                .docs(kind)
                .into_iter()
                .map(|v| (key(&v), v))
                .collect::<HashMap<_, _>>()
        };
        Snapshot {
            admin: admin.to_string(),
            states: keyed(STATE_KIND, |v| {
                v["svm_uuid"].as_str().unwrap_or_default().into()
            }),
            pools: source.docs(POOL_KIND),
            on_access: source.docs(ON_ACCESS_KIND),
            on_demand: source.docs(ON_DEMAND_KIND),
            inherited: keyed(INHERITED_KIND, |v| {
                v["id"].as_str().unwrap_or_default().into()
            }),
        }
    }

    fn inherits(&self, svm: &str) -> bool {
        svm != self.admin
    }

    pub fn enabled(&self, svm: &str) -> bool {
        self.states
            .get(svm)
            .and_then(|s| s["enabled"].as_bool())
            .unwrap_or(false)
    }

    pub fn state_doc(&self, svm: &str) -> Value {
        self.states
            .get(svm)
            .cloned()
            .unwrap_or_else(|| json!({"svm_uuid": svm, "enabled": false, "cache_generation": 0}))
    }

    /// The SVM's own objects of `docs`, then (for a data SVM) the cluster's, each with
    /// the viewing SVM's choice for `field` applied (`default` when it made none).
    fn own_then_inherited(
        &self,
        docs: &[Value],
        svm: &str,
        kind: &str,
        field: &str,
        default: impl Fn(&str) -> Value,
    ) -> Vec<Seen> {
        let seen = |record: Value, inherited| Seen { record, inherited };
        let mut out: Vec<Seen> = docs
            .iter()
            .filter(|d| owner_of(d) == svm)
            .map(|d| seen(d.clone(), false))
            .collect();
        if self.inherits(svm) {
            for d in docs.iter().filter(|d| owner_of(d) == self.admin) {
                let name = d["name"].as_str().unwrap_or_default();
                let choice = self
                    .inherited
                    .get(&inherited_id(svm, kind, name))
                    .map(|o| o[field].clone())
                    .filter(|v| !v.is_null())
                    .unwrap_or_else(|| default(name));
                let mut record = d.clone();
                record[field] = choice;
                out.push(seen(record, true));
            }
        }
        out
    }

    /// The SVM's own pools, then the cluster's (idle here until given a role).
    pub fn pools(&self, svm: &str) -> Vec<Seen> {
        self.own_then_inherited(&self.pools, svm, POOL_KIND, "role", |_| json!("idle"))
    }

    /// The SVM's own on-access policies, then the cluster's. An inherited policy is
    /// enabled where the SVM enabled it; `default_CIFS` starts enabled everywhere.
    pub fn on_access(&self, svm: &str) -> Vec<Seen> {
        self.own_then_inherited(&self.on_access, svm, ON_ACCESS_KIND, "enabled", |name| {
            json!(name == DEFAULT_POLICY)
        })
    }

    /// Whether `name` is taken for a new object of `svm`: an SVM sees its own objects and
    /// the cluster's; a cluster object would be seen by every SVM.
    pub fn name_taken(
        &self,
        svm: &str,
        data_svms: &[String],
        sees: impl Fn(&Snapshot, &str) -> bool,
    ) -> bool {
        if svm == self.admin {
            data_svms
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(self.admin.as_str()))
                .any(|s| sees(self, s))
        } else {
            sees(self, svm)
        }
    }

    pub fn on_demand(&self, svm: &str) -> Vec<Value> {
        self.on_demand
            .iter()
            .filter(|p| owner_of(p) == svm)
            .cloned()
            .collect()
    }

    pub fn pool(&self, svm: &str, name: &str) -> Option<Seen> {
        self.pools(svm).into_iter().find(|p| p.name() == name)
    }

    pub fn policy(&self, svm: &str, name: &str) -> Option<Seen> {
        self.on_access(svm).into_iter().find(|p| p.name() == name)
    }

    pub fn enabled_policy(&self, svm: &str) -> Option<String> {
        self.on_access(svm)
            .into_iter()
            .find(|p| p.record["enabled"] == true)
            .map(|p| p.name().to_string())
    }

    pub fn active_pools(&self, svm: &str) -> Vec<String> {
        self.pools(svm)
            .into_iter()
            .filter(|p| is_active_role(&p.record["role"]))
            .map(|p| p.name().to_string())
            .collect()
    }

    /// SVMs that see an object the admin SVM owns (every data SVM), plus the admin.
    pub fn viewers(&self, owner: &str, data_svms: &[String]) -> Vec<String> {
        if owner == self.admin {
            let mut all = vec![self.admin.clone()];
            all.extend(data_svms.iter().cloned());
            all
        } else {
            vec![owner.to_string()]
        }
    }
}

/// `secondary` counts as active for enabling Vscan: it takes over when no primary
/// server is connected (docs/vscan.md).
pub fn is_active_role(role: &Value) -> bool {
    matches!(role.as_str(), Some("primary" | "secondary"))
}

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
    if let Some(svm) = state.svm(uuid) {
        return Ok((*svm).clone());
    }
    let (admin_uuid, admin_name) = state.admin_svm();
    if uuid == admin_uuid {
        return Ok(json!({"uuid": admin_uuid, "name": admin_name}));
    }
    Err(ApiError::not_found("svm.uuid"))
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

pub fn data_svm_uuids(state: &State) -> Vec<String> {
    state
        .store
        .list(SVM_KIND)
        .iter()
        .filter_map(|s| s["uuid"].as_str().map(String::from))
        .collect()
}

/// The data SVMs that are running: a stopped SVM serves no data, so its scanner
/// connections are dropped and its scheduled runs wait until it runs again.
pub fn running_svm_uuids(state: &State) -> Vec<String> {
    state
        .store
        .list(SVM_KIND)
        .iter()
        .filter(|s| s["state"].as_str().is_none_or(|st| st == "running"))
        .filter_map(|s| s["uuid"].as_str().map(String::from))
        .collect()
}

pub fn svm_link(svm: &Value) -> Value {
    svm_ref(svm)
}

// ---- validation shared by the standalone resources and nested creation ----

/// Pool and policy names: 1–256 of `A-Za-z0-9_-.` (ONTAP's CLI rule).
pub fn check_name(name: &str, target: &str) -> ApiResult<()> {
    // "." and ".." would be rewritten away in a URL path.
    let ok = !name.is_empty()
        && name.chars().any(|c| c != '.')
        && name.chars().count() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::InvalidFieldValue,
            format!("\"{name}\" is an invalid value for field \"{target}\": use 1 to {MAX_NAME} letters, digits, \"_\", \"-\" or \".\", not only dots."),
        )
        .with_target(target))
    }
}

/// A list of strings from a body field (type-checked by the schema already).
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

pub fn default_scope(style: PathStyle) -> Value {
    match style {
        PathStyle::Cifs => json!({
            "include_extensions": ["*"],
            "exclude_extensions": [],
            "exclude_paths": [],
            "max_file_size": vscan::scope::ON_ACCESS_DEFAULT_MAX,
            "scan_without_extension": true,
            "only_execute_access": false,
            "scan_readonly_volumes": false,
        }),
        PathStyle::Unix => json!({
            "include_extensions": ["*"],
            "exclude_extensions": [],
            "exclude_paths": [],
            "max_file_size": vscan::scope::ON_DEMAND_DEFAULT_MAX,
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
) -> ApiResult<Value> {
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
    let default_max = defaults["max_file_size"].as_u64().unwrap_or_default();
    Scope::from_json(&scope, style, default_max).map_err(scope_error)?;
    Ok(scope)
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

/// Adds the owning SVM's name and link to a stored object.
pub fn with_svm(mut record: Value, svm: &Value) -> Value {
    record["svm"] = svm_ref(svm);
    record
}
