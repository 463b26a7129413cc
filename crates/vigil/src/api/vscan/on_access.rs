//! `/api/protocols/vscan/{svm.uuid}/on-access-policies`: which file opens are scanned.
//! At most one policy is enabled per SVM; `default_CIFS` belongs to the cluster.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{boolean, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Params, Record, Resource, ResourceDef, Schema,
    VsadminAccess, Work,
};
use serde_json::{Value, json};
use store::Txn;
use vscan::scope::PathStyle;

use super::on_demand::check_remediation;
use super::{
    MAX_POLICIES, ON_ACCESS_KIND, Seen, Snapshot, check_name, drop_inherited, listed_svms,
    merge_scope, object_id, path_svm, put_inherited, scope_field, shown_scope, with_svm,
};
use crate::state::State;

pub struct OnAccessPolicies {
    state: Arc<State>,
    def: ResourceDef,
}

pub fn policy_fields() -> Vec<rest::schema::Field> {
    vec![
        string("name").create().identity(),
        boolean("enabled").read_write(),
        boolean("mandatory").read_write(),
        string("protocol").read_write(),
        scope_field(true).read_write(),
        // An extension, shown when asked for by name or `fields=**`: what on-access
        // scanning of S3 objects does with an infected object's data on read.
        string("remediation")
            .read_write()
            .expensive()
            .doc("Vigil extension: report (default), quarantine, rename or delete infected files found on access (S3 reads)."),
    ]
}

impl OnAccessPolicies {
    pub fn new(state: &Arc<State>) -> OnAccessPolicies {
        let mut fields = vec![reference("svm").read_only().identity()];
        fields.extend(policy_fields());
        fields.push(string("owner").read_only());
        let mut def = ResourceDef::new(Schema::new(fields));
        def.collection = Some("/api/protocols/vscan/{svm.uuid}/on-access-policies");
        def.instance = Some("/api/protocols/vscan/{svm.uuid}/on-access-policies/{name}");
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        OnAccessPolicies {
            state: Arc::clone(state),
            def,
        }
    }
}

/// The API form of a policy as `svm` sees it.
pub fn shown(policy: &Seen, svm: &Value, admin: &str) -> Value {
    let mut r = with_svm(policy.record.clone(), svm);
    r["scope"] = shown_scope(&r["scope"]);
    let owned_by_cluster = policy.inherited || policy.record["svm"]["uuid"] == admin;
    r["owner"] = json!(if owned_by_cluster {
        "cluster"
    } else {
        "vserver"
    });
    r
}

/// `protocol`: only CIFS exists; any case is accepted, `CIFS` is stored.
fn check_protocol(value: &Value) -> ApiResult<&'static str> {
    match value.as_str() {
        Some(p) if p.eq_ignore_ascii_case("cifs") => Ok("CIFS"),
        _ => Err(ApiError::new(
            Code::InvalidFieldValue,
            format!(
                "\"{}\" is an invalid value for field \"protocol\": the only protocol is CIFS.",
                value.as_str().unwrap_or_default()
            ),
        )
        .with_target("protocol")),
    }
}

/// Validates a new policy; `enabled` is the creation default (standalone POST: true,
/// nested in a Vscan POST: false) unless the body says otherwise.
pub fn new_policy(svm_uuid: &str, body: &Value, default_enabled: bool) -> ApiResult<Value> {
    let name = ApiError::required_str(body, "name")?;
    check_name(name, "name")?;
    let protocol = match body.get("protocol").filter(|v| !v.is_null()) {
        Some(p) => check_protocol(p)?,
        None => "CIFS",
    };
    Ok(json!({
        "svm": {"uuid": svm_uuid},
        "name": name,
        "enabled": body.get("enabled").and_then(Value::as_bool).unwrap_or(default_enabled),
        "mandatory": body.get("mandatory").and_then(Value::as_bool).unwrap_or(true),
        "protocol": protocol,
        "scope": merge_scope(body.get("scope"), None, PathStyle::Cifs)?,
        "remediation": match body.get("remediation").filter(|v| !v.is_null()) {
            Some(v) => check_remediation(v)?,
            None => "report".to_string(),
        },
    }))
}

/// How an insert went: saved, or saved disabled because another policy is enabled.
pub enum Inserted {
    Saved,
    SavedDisabled { enabled_policy: String },
}

/// Inserts a validated policy: the name must be free, the SVM under its limit, and a
/// policy asking to be enabled is saved disabled when another one already is.
pub fn insert_policy(
    txn: &mut Txn<'_>,
    snapshot: &Snapshot,
    data_svms: &[String],
    mut policy: Value,
) -> ApiResult<Inserted> {
    let svm_uuid = policy["svm"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = policy["name"].as_str().unwrap_or_default().to_string();
    if snapshot.name_taken(&svm_uuid, data_svms, |snap, s| {
        snap.policy(s, &name).is_some()
    }) {
        return Err(ApiError::new(
            Code::Duplicate,
            format!("On-Access policy \"{name}\" already exists."),
        )
        .with_target("name"));
    }
    let owned = snapshot
        .on_access(&svm_uuid)
        .iter()
        .filter(|p| !p.inherited)
        .count();
    if owned >= MAX_POLICIES {
        return Err(ApiError::new(
            Code::VscanTooManyOnAccess,
            format!("The SVM already has the maximum of {MAX_POLICIES} On-Access policies."),
        ));
    }
    let mut outcome = Inserted::Saved;
    if policy["enabled"] == true
        && let Some(other) = snapshot.enabled_policy(&svm_uuid)
    {
        policy["enabled"] = json!(false);
        outcome = Inserted::SavedDisabled {
            enabled_policy: other,
        };
    }
    txn.put(ON_ACCESS_KIND, &object_id(&svm_uuid, &name), policy);
    Ok(outcome)
}

/// Is the policy enabled anywhere it is seen (a cluster policy in any data SVM)?
fn enabled_in(
    snapshot: &Snapshot,
    owner: &str,
    name: &str,
    data_svms: &[String],
) -> Option<String> {
    snapshot.viewers(owner, data_svms).into_iter().find(|svm| {
        snapshot
            .policy(svm, name)
            .is_some_and(|p| p.record["enabled"] == true)
    })
}

#[async_trait]
impl Resource for OnAccessPolicies {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let admin = self.state.admin_svm().0;
        let snapshot = Snapshot::load(&*self.state.store, &admin);
        let mut out = Vec::new();
        for svm in listed_svms(&self.state, keys.get("svm.uuid"))? {
            let uuid = svm["uuid"].as_str().unwrap_or_default();
            for policy in snapshot.on_access(uuid) {
                out.push(shown(&policy, &svm, &admin).into());
            }
        }
        Ok(out)
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let svm_uuid = keys.get("svm.uuid").cloned().unwrap_or_default();
        path_svm(&self.state, &svm_uuid)?;
        let policy = new_policy(&svm_uuid, &body, true)?;
        let name = policy["name"].as_str().unwrap_or_default().to_string();
        let data_svms = self.state.data_svm_uuids();
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &self.state.admin_svm().0);
        let outcome = insert_policy(&mut txn, &snapshot, &data_svms, policy.clone())?;
        txn.commit().await?;
        match outcome {
            Inserted::Saved => Ok(Created {
                record: policy,
                work: Work::Done,
            }),
            // ONTAP keeps the policy and reports that enabling it failed.
            Inserted::SavedDisabled { enabled_policy } => Err(ApiError::new(
                Code::VscanPolicySavedNotToggled,
                format!("On-Access policy \"{name}\" was created but could not be enabled: policy \"{enabled_policy}\" is already enabled on this SVM. Disable it, then enable \"{name}\"."),
            )
            .with_target("enabled")),
        }
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &self.state.admin_svm().0);
        let policy = snapshot
            .policy(svm_uuid, name)
            .ok_or_else(|| ApiError::not_found("name"))?;
        let settings: Vec<&str> = ["mandatory", "protocol", "scope", "remediation"]
            .into_iter()
            .filter(|f| body.get(*f).is_some())
            .collect();
        if policy.inherited && !settings.is_empty() {
            return Err(ApiError::new(
                Code::VscanClusterPolicyModify,
                format!("On-Access policy \"{name}\" belongs to the cluster: from this SVM it can only be enabled or disabled."),
            )
            .with_target(settings[0]));
        }
        let id = object_id(svm_uuid, name);
        let mut doc = policy.record.clone();
        if !settings.is_empty() {
            if let Some(v) = body.get("mandatory").and_then(Value::as_bool) {
                doc["mandatory"] = json!(v);
            }
            if let Some(p) = body.get("protocol").filter(|v| !v.is_null()) {
                doc["protocol"] = json!(check_protocol(p)?);
            }
            if let Some(scope) = body.get("scope") {
                doc["scope"] = merge_scope(Some(scope), Some(&doc["scope"]), PathStyle::Cifs)?;
            }
            if let Some(v) = body.get("remediation") {
                doc["remediation"] = json!(if v.is_null() {
                    "report".to_string()
                } else {
                    check_remediation(v)?
                });
            }
            txn.put(ON_ACCESS_KIND, &id, doc.clone());
        }
        let wanted = body.get("enabled").and_then(Value::as_bool);
        let refusal = match wanted {
            Some(true) if doc["enabled"] != true => snapshot
                .enabled_policy(svm_uuid)
                .map(|other| format!("policy \"{other}\" is already enabled on this SVM; disable it first")),
            Some(false) if doc["enabled"] == true && snapshot.enabled(svm_uuid) => Some(
                "Vscan is enabled on this SVM and needs an enabled On-Access policy; disable Vscan or enable another policy first"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(reason) = refusal {
            // ONTAP applies the other settings and reports the failed toggle.
            let (code, what) = if settings.is_empty() {
                (Code::VscanPolicyToggleFailed, String::new())
            } else {
                txn.commit().await?;
                (
                    Code::VscanPolicySavedNotToggled,
                    " The other settings were saved.".to_string(),
                )
            };
            let verb = if wanted == Some(true) {
                "enable"
            } else {
                "disable"
            };
            return Err(ApiError::new(
                code,
                format!("Failed to {verb} On-Access policy \"{name}\": {reason}.{what}"),
            )
            .with_target("enabled"));
        }
        if let Some(enabled) = wanted {
            if policy.inherited {
                put_inherited(
                    &mut txn,
                    svm_uuid,
                    ON_ACCESS_KIND,
                    name,
                    json!({"enabled": enabled}),
                );
            } else {
                doc["enabled"] = json!(enabled);
                txn.put(ON_ACCESS_KIND, &id, doc);
            }
        }
        txn.commit().await?;
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        let admin = self.state.admin_svm().0;
        let data_svms = self.state.data_svm_uuids();
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &admin);
        let policy = snapshot
            .policy(svm_uuid, name)
            .ok_or_else(|| ApiError::not_found("name"))?;
        if policy.inherited {
            return Err(ApiError::new(
                Code::VscanClusterPolicyDelete,
                format!(
                    "On-Access policy \"{name}\" belongs to the cluster and cannot be deleted from this SVM."
                ),
            ));
        }
        if let Some(svm) = enabled_in(&snapshot, svm_uuid, name, &data_svms) {
            let svm_name = path_svm(&self.state, &svm)
                .map(|s| s["name"].as_str().unwrap_or_default().to_string())
                .unwrap_or(svm);
            return Err(ApiError::new(
                Code::VscanEnabledPolicyDelete,
                format!(
                    "On-Access policy \"{name}\" is enabled on SVM \"{svm_name}\": disable it before deleting it."
                ),
            ));
        }
        txn.delete(ON_ACCESS_KIND, &object_id(svm_uuid, name));
        if svm_uuid == admin {
            drop_inherited(&mut txn, ON_ACCESS_KIND, name);
        }
        txn.commit().await?;
        Ok(Work::Done)
    }
}
