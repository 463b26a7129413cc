//! Every Vscan object at one moment, as each SVM sees it.

use std::collections::HashMap;

use serde_json::{Value, json};
use store::Documents;

use super::{
    DEFAULT_POLICY, INHERITED_KIND, ON_ACCESS_KIND, ON_DEMAND_KIND, POOL_KIND, STATE_KIND,
    inherited_id, is_active_role, owner_of,
};

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

impl Snapshot {
    /// Reads the configuration from the store, or from inside a write transaction so
    /// that checks see the transaction's own writes. `admin` is the admin SVM's uuid.
    pub fn load(source: &dyn Documents, admin: &str) -> Snapshot {
        let keyed = |kind: &str, key: fn(&Value) -> String| {
            source
                .documents(kind)
                .into_iter()
                .map(|v| (key(&v), v))
                .collect::<HashMap<_, _>>()
        };
        Snapshot {
            admin: admin.to_string(),
            states: keyed(STATE_KIND, |v| {
                v["svm_uuid"].as_str().unwrap_or_default().into()
            }),
            pools: source.documents(POOL_KIND),
            on_access: source.documents(ON_ACCESS_KIND),
            on_demand: source.documents(ON_DEMAND_KIND),
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

    /// The generation of the SVM's scan cache: bumped to forget every clean verdict.
    pub fn cache_generation(&self, svm: &str) -> u64 {
        self.state_doc(svm)["cache_generation"]
            .as_u64()
            .unwrap_or(0)
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

    /// The SVM's on-demand policy of that name.
    pub fn on_demand_policy(&self, svm: &str, name: &str) -> Option<Value> {
        self.on_demand
            .iter()
            .find(|p| owner_of(p) == svm && p["name"] == name)
            .cloned()
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
