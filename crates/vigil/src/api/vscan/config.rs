//! `/api/protocols/vscan[/{svm.uuid}]`: an SVM's whole Vscan configuration, its on/off
//! switch and `cache_clear`. POST creates pools and policies in one transaction.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Field, array_of, boolean, reference};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Method, Params, Record, Resource, ResourceDef,
    Schema, VsadminAccess, Work,
};
use serde_json::{Value, json};
use store::Txn;

use super::on_access::Inserted;
use super::{
    STATE_KIND, Snapshot, forget_svm, listed_svms, on_access, on_demand, scanner_pools, svm_link,
};
use crate::scanning::on_access::S3_SWITCH;
use crate::state::State;

pub struct VscanConfigs {
    state: Arc<State>,
    def: ResourceDef,
}

impl VscanConfigs {
    pub fn new(state: &Arc<State>) -> VscanConfigs {
        let mut def = ResourceDef::new(Schema::new(vec![
            reference("svm").create().identity(),
            boolean("enabled").read_write(),
            boolean("cache_clear").modify_only(),
            boolean(S3_SWITCH)
                .read_write()
                .expensive()
                .doc("Vigil extension: S3 uploads and reads are scanned under the enabled On-Access policy (default true)."),
            array_of("scanner_pools", nested(scanner_pools::pool_fields())).create(),
            array_of("on_access_policies", nested(on_access::policy_fields())).create(),
            array_of("on_demand_policies", nested(on_demand::policy_fields())).create(),
        ]));
        def.collection = Some("/api/protocols/vscan");
        def.instance = Some("/api/protocols/vscan/{svm.uuid}");
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.async_ops = &[Method::Delete];
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        VscanConfigs {
            state: Arc::clone(state),
            def,
        }
    }

    fn record(&self, snapshot: &Snapshot, svm: &Value) -> Value {
        let uuid = svm["uuid"].as_str().unwrap_or_default();
        let strip = |mut v: Value, fields: &[&str]| {
            if let Some(m) = v.as_object_mut() {
                for f in fields {
                    m.remove(*f);
                }
            }
            v
        };
        let pools: Vec<Value> = snapshot
            .pools(uuid)
            .iter()
            .map(|p| strip(scanner_pools::shown(&self.state, p, svm), &["svm"]))
            .collect();
        let on_access: Vec<Value> = snapshot
            .on_access(uuid)
            .iter()
            .map(|p| strip(on_access::shown(p, svm, &snapshot.admin), &["svm", "owner"]))
            .collect();
        let on_demand: Vec<Value> = snapshot
            .on_demand(uuid)
            .iter()
            .map(|p| strip(on_demand::shown(&self.state, p, svm), &["svm"]))
            .collect();
        let mut shown = json!({
            "svm": svm_link(svm),
            "enabled": snapshot.enabled(uuid),
            "scanner_pools": pools,
            "on_access_policies": on_access,
            "on_demand_policies": on_demand,
        });
        shown[S3_SWITCH] = json!(snapshot.state_doc(uuid)[S3_SWITCH] != false);
        shown
    }

    /// The SVM a POST body names: a data SVM, or the admin SVM by the cluster's name.
    fn body_svm(&self, body: &Value) -> ApiResult<Value> {
        let reference = body.get("svm").cloned().unwrap_or(Value::Null);
        let (admin_uuid, admin_name) = self.state.admin_svm();
        let uuid = reference.get("uuid").and_then(Value::as_str);
        let name = reference.get("name").and_then(Value::as_str);
        if uuid == Some(admin_uuid.as_str())
            || (uuid.is_none() && name == Some(admin_name.as_str()))
        {
            if let Some(n) = name.filter(|n| *n != admin_name) {
                return Err(ApiError::new(
                    Code::SvmRefMismatch,
                    format!(
                        "The SVM with uuid \"{admin_uuid}\" is named \"{admin_name}\", not \"{n}\"."
                    ),
                )
                .with_target("svm.name"));
            }
            return Ok(json!({"uuid": admin_uuid, "name": admin_name}));
        }
        Ok((*self.state.resolve_svm_ref(&reference, "svm")?).clone())
    }
}

/// Members of a nested array: their names identify them in their own collection, not
/// here, so a default GET does not return them.
fn nested(mut fields: Vec<Field>) -> Vec<Field> {
    for f in &mut fields {
        f.identity = false;
    }
    fields
}

/// Why Vscan cannot be enabled on an SVM as the snapshot stands, if it cannot.
fn enable_blocker(snapshot: &Snapshot, svm: &Value) -> Option<ApiError> {
    let uuid = svm["uuid"].as_str().unwrap_or_default();
    let name = svm["name"].as_str().unwrap_or_default();
    if uuid == snapshot.admin {
        return Some(
            ApiError::new(
                Code::VscanAdminSvm,
                format!(
                    "Vscan cannot be enabled on the admin SVM \"{name}\"; enable it on a data SVM."
                ),
            )
            .with_target("enabled"),
        );
    }
    if snapshot.active_pools(uuid).is_empty() {
        return Some(ApiError::new(
            Code::VscanNoActivePool,
            format!("Vscan cannot be enabled on SVM \"{name}\": it has no active scanner pool. Create a pool with role primary or secondary first."),
        ).with_target("enabled"));
    }
    if snapshot.enabled_policy(uuid).is_none() {
        return Some(ApiError::new(
            Code::VscanNoEnabledPolicy,
            format!("Vscan cannot be enabled on SVM \"{name}\": no On-Access policy is enabled. Enable one first."),
        ).with_target("enabled"));
    }
    None
}

fn nested_failure(kind: &str, name: &str, e: ApiError, target: &str) -> ApiError {
    if e.code == Code::Duplicate {
        return ApiError::new(
            Code::VscanNestedExists,
            format!("Failed to create {kind} \"{name}\" as the specified entry already exists. Delete the entry and retry the POST operation."),
        )
        .with_target(target);
    }
    ApiError::new(
        Code::VscanNestedFailed,
        format!(
            "Failed to create {kind} \"{name}\". Reason: \"{}\". Retry the operation.",
            e.message
        ),
    )
    .with_target(target)
}

fn items<'a>(body: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    body.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// What stops a Vscan DELETE: an enabled policy it would delete, or a cluster pool
/// whose removal leaves an SVM with Vscan enabled and no active pool.
fn delete_blocker(snapshot: &Snapshot, svm: &str, data_svms: &[String]) -> Option<ApiError> {
    // The stored owner, also for objects a data SVM sees as inherited.
    let owned = |p: &super::Seen| p.record["svm"]["uuid"] == svm;
    for viewer in snapshot.viewers(svm, data_svms) {
        if let Some(p) = snapshot
            .on_access(&viewer)
            .into_iter()
            .find(|p| owned(p) && p.record["enabled"] == true)
        {
            return Some(ApiError::new(
                Code::VscanNestedFailed,
                format!(
                    "Failed to delete On-Access policy \"{}\". Reason: \"Failed to delete policy. Reason: policy must be disabled before being deleted.\". Retry the operation.",
                    p.name()
                ),
            ));
        }
        if viewer != svm && snapshot.enabled(&viewer) {
            let pools = snapshot.pools(&viewer);
            let active: Vec<_> = pools
                .iter()
                .filter(|p| super::is_active_role(&p.record["role"]))
                .collect();
            if !active.is_empty() && active.iter().all(|p| owned(p)) {
                return Some(ApiError::new(
                    Code::VscanNestedFailed,
                    format!(
                        "Failed to delete scanner-pool \"{}\". Reason: \"it is the only active pool of an SVM with Vscan enabled\". Retry the operation.",
                        active[0].name()
                    ),
                ));
            }
        }
    }
    None
}

#[async_trait]
impl Resource for VscanConfigs {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let snapshot = self.state.vscan();
        Ok(listed_svms(&self.state, keys.get("svm.uuid"))?
            .iter()
            .map(|svm| self.record(&snapshot, svm).into())
            .collect())
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        _keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let svm = self.body_svm(&body)?;
        let svm_uuid = svm["uuid"].as_str().unwrap_or_default().to_string();
        let enabled = body.get("enabled").and_then(Value::as_bool).unwrap_or(true);

        // Everything that needs no lock first (including the file system checks).
        let mut pools = Vec::new();
        for p in items(&body, "scanner_pools") {
            pools.push(
                scanner_pools::new_pool(&self.state, &svm_uuid, p)
                    .map_err(|e| nested_failure("scanner-pool", name_of(p), e, "scanner_pools"))?,
            );
        }
        let mut on_access_policies = Vec::new();
        for p in items(&body, "on_access_policies") {
            on_access_policies.push(on_access::new_policy(&svm_uuid, p, false).map_err(|e| {
                nested_failure("On-Access policy", name_of(p), e, "on_access_policies")
            })?);
        }
        let mut on_demand_policies = Vec::new();
        for p in items(&body, "on_demand_policies") {
            on_demand_policies.push(on_demand::new_policy(&self.state, &svm, p).map_err(|e| {
                nested_failure("On-Demand policy", name_of(p), e, "on_demand_policies")
            })?);
        }

        let admin = self.state.admin_svm().0;
        let data_svms = self.state.data_svm_uuids();
        let mut txn = self.state.store.begin().await;
        for pool in pools {
            let snapshot = Snapshot::load(&txn, &admin);
            let name = name_of(&pool).to_string();
            scanner_pools::insert_pool(&mut txn, &snapshot, &data_svms, pool)
                .map_err(|e| nested_failure("scanner-pool", &name, e, "scanner_pools"))?;
        }
        for policy in on_access_policies {
            let snapshot = Snapshot::load(&txn, &admin);
            let name = name_of(&policy).to_string();
            match on_access::insert_policy(&mut txn, &snapshot, &data_svms, policy) {
                Ok(Inserted::Saved) => {}
                Ok(Inserted::SavedDisabled { enabled_policy }) => {
                    return Err(nested_failure(
                        "On-Access policy",
                        &name,
                        ApiError::new(
                            Code::VscanPolicySavedNotToggled,
                            format!("policy \"{enabled_policy}\" is already enabled"),
                        ),
                        "on_access_policies",
                    ));
                }
                Err(e) => {
                    return Err(nested_failure(
                        "On-Access policy",
                        &name,
                        e,
                        "on_access_policies",
                    ));
                }
            }
        }
        // The switch goes before on-demand policies: scheduling one needs Vscan on.
        let snapshot = Snapshot::load(&txn, &admin);
        if enabled && let Some(e) = enable_blocker(&snapshot, &svm) {
            return Err(e);
        }
        set_enabled(&mut txn, &snapshot, &svm_uuid, enabled);
        if let Some(s3) = body.get(S3_SWITCH).and_then(Value::as_bool) {
            let mut doc = Snapshot::load(&txn, &admin).state_doc(&svm_uuid);
            doc[S3_SWITCH] = json!(s3);
            txn.put(STATE_KIND, &svm_uuid, doc);
        }
        for policy in on_demand_policies {
            let snapshot = Snapshot::load(&txn, &admin);
            let name = name_of(&policy).to_string();
            on_demand::insert_policy(&mut txn, &snapshot, &svm, policy)
                .map_err(|e| nested_failure("On-Demand policy", &name, e, "on_demand_policies"))?;
        }
        txn.commit().await?;
        crate::scanning::monitors::reconcile(&self.state);
        Ok(Created {
            record: json!({"svm": {"uuid": svm_uuid, "name": svm["name"]}}),
            work: Work::Done,
        })
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        let svm = record["svm"].clone();
        let svm_uuid = svm["uuid"].as_str().unwrap_or_default();
        let name = svm["name"].as_str().unwrap_or_default();
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &self.state.admin_svm().0);
        let mut doc = snapshot.state_doc(svm_uuid);
        match body.get("enabled").and_then(Value::as_bool) {
            Some(true) if snapshot.enabled(svm_uuid) => {
                return Err(ApiError::new(
                    Code::VscanAlreadyEnabled,
                    format!("Vscan is already enabled on SVM \"{name}\"."),
                )
                .with_target("enabled"));
            }
            Some(false) if !snapshot.enabled(svm_uuid) => {
                return Err(ApiError::new(
                    Code::VscanAlreadyDisabled,
                    format!("Vscan is already disabled on SVM \"{name}\"."),
                )
                .with_target("enabled"));
            }
            Some(true) => {
                if let Some(e) = enable_blocker(&snapshot, &svm) {
                    return Err(e);
                }
                doc["enabled"] = json!(true);
            }
            Some(false) => doc["enabled"] = json!(false),
            None => {}
        }
        if let Some(s3) = body.get(S3_SWITCH).and_then(Value::as_bool) {
            doc[S3_SWITCH] = json!(s3);
        }
        if body.get("cache_clear").and_then(Value::as_bool) == Some(true) {
            // The scan cache compares generations: a new one invalidates every entry.
            let generation = doc["cache_generation"].as_u64().unwrap_or(0) + 1;
            doc["cache_generation"] = json!(generation);
        }
        txn.put(STATE_KIND, svm_uuid, doc);
        txn.commit().await?;
        crate::scanning::monitors::reconcile(&self.state);
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // Refuse at once when we can; the job checks again under the writer lock.
        let snapshot = self.state.vscan();
        if let Some(e) = delete_blocker(&snapshot, &svm_uuid, &self.state.data_svm_uuids()) {
            return Err(e);
        }
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            let admin = state.admin_svm().0;
            let mut txn = state.store.begin().await;
            let snapshot = Snapshot::load(&txn, &admin);
            if let Some(e) = delete_blocker(&snapshot, &svm_uuid, &state.data_svm_uuids()) {
                return Err(e);
            }
            forget_svm(&mut txn, &svm_uuid);
            txn.commit().await?;
            crate::scanning::monitors::reconcile(&state);
            Ok("success".to_string())
        })))
    }
}

fn set_enabled(txn: &mut Txn<'_>, snapshot: &Snapshot, svm_uuid: &str, enabled: bool) {
    let mut doc = snapshot.state_doc(svm_uuid);
    doc["enabled"] = json!(enabled);
    txn.put(STATE_KIND, svm_uuid, doc);
}
