//! `/api/protocols/vscan/{svm.uuid}/on-demand-policies`: scan tasks over paths of the
//! SVM namespace, optionally on a job schedule, with a report directory.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, boolean, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Method, Params, Record, Resource, ResourceDef,
    Schema, VsadminAccess, Work,
};
use serde_json::{Value, json};
use store::Txn;
use vscan::scope::PathStyle;

use super::{
    MAX_POLICIES, ON_DEMAND_KIND, Snapshot, check_name, listed_svms, merge_scope, object_id,
    path_svm, scope_field, shown_scope, strings, with_svm,
};
use crate::api::schedules;
use crate::namespace::{NamespaceError, Symlinks};
use crate::state::State;

pub struct OnDemandPolicies {
    state: Arc<State>,
    def: ResourceDef,
}

pub fn policy_fields() -> Vec<rest::schema::Field> {
    vec![
        string("name").create().identity(),
        string("log_path").read_write(),
        array("scan_paths", Ty::String).read_write(),
        reference("schedule").read_write(),
        scope_field(false).read_write(),
        // An extension: asked for by name or `fields=**`, so ONTAP's shapes stay exact.
        string("remediation")
            .read_write()
            .expensive()
            .doc("Vigil extension: report (default), quarantine, rename or delete infected files."),
        boolean("incremental")
            .read_write()
            .expensive()
            .doc("Vigil extension: runs scan only files changed since the last complete run over the same scan paths and scope (QUICK scans); default false."),
    ]
}

/// `incremental`: a boolean.
fn check_incremental(value: &Value) -> ApiResult<bool> {
    value.as_bool().ok_or_else(|| {
        ApiError::new(
            Code::InvalidFieldValue,
            format!(
                "\"{value}\" is an invalid value for field \"incremental\": use true or false."
            ),
        )
        .with_target("incremental")
    })
}

/// `remediation`: what a run does with an infected file.
pub(super) fn check_remediation(value: &Value) -> ApiResult<String> {
    match value.as_str() {
        Some(a) if crate::quarantine::ACTIONS.contains(&a) => Ok(a.to_string()),
        _ => Err(ApiError::new(
            Code::InvalidFieldValue,
            format!(
                "\"{}\" is an invalid value for field \"remediation\": use report, quarantine, rename or delete.",
                value.as_str().unwrap_or_default()
            ),
        )
        .with_target("remediation")),
    }
}

impl OnDemandPolicies {
    pub fn new(state: &Arc<State>) -> OnDemandPolicies {
        let mut fields = vec![reference("svm").read_only().identity()];
        fields.extend(policy_fields());
        let mut def = ResourceDef::new(Schema::new(fields));
        def.collection = Some("/api/protocols/vscan/{svm.uuid}/on-demand-policies");
        def.instance = Some("/api/protocols/vscan/{svm.uuid}/on-demand-policies/{name}");
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        // Vigil extensions: `PATCH ...?action=run[&incremental=true|false]` runs the
        // policy now (ONTAP's CLI `vserver vscan on-demand-task run`), as a job whose
        // message sums up the run; `?action=cancel` stops the running one.
        def.params = &[(Method::Patch, "action"), (Method::Patch, "incremental")];
        def.patch_actions = &["action"];
        OnDemandPolicies {
            state: Arc::clone(state),
            def,
        }
    }
}

impl OnDemandPolicies {
    /// `?action=run`: the run as a job whose message sums it up.
    fn run(&self, svm_uuid: &str, name: &str, incremental: Option<bool>) -> ApiResult<Work> {
        let ticket = crate::ondemand::prepare(&self.state, svm_uuid, name)?;
        let state = Arc::clone(&self.state);
        let (svm_uuid, name) = (svm_uuid.to_string(), name.to_string());
        let trigger = crate::ondemand::Trigger {
            by: "request",
            incremental,
        };
        Ok(Work::Job(Box::pin(async move {
            let run = crate::ondemand::run(state, svm_uuid, name, trigger, ticket).await?;
            Ok(format!(
                "On-Demand run {} ({}) {}: {} files scanned, {} infected, {} errors; report {}",
                run["uuid"].as_str().unwrap_or_default(),
                run["type"].as_str().unwrap_or_default(),
                run["status"].as_str().unwrap_or_default().to_lowercase(),
                run["files_scanned"],
                run["infected_count"],
                run["error_count"],
                run["report"].as_str().unwrap_or("not written"),
            ))
        })))
    }
}

/// The API form of a policy, with its schedule's current name.
pub fn shown(state: &State, policy: &Value, svm: &Value) -> Value {
    let mut r = with_svm(policy.clone(), svm);
    r["scope"] = shown_scope(&r["scope"]);
    let schedule = r["schedule"]["uuid"]
        .as_str()
        .and_then(|u| state.store.get(schedules::KIND, u));
    match (r.as_object_mut(), schedule) {
        (Some(map), Some(s)) => {
            map.insert(
                "schedule".into(),
                json!({
                    "uuid": s["uuid"],
                    "name": s["name"],
                    "_links": {"self": {"href": format!("/api/cluster/schedules/{}", s["uuid"].as_str().unwrap_or_default())}}
                }),
            );
        }
        (Some(map), None) => {
            map.remove("schedule");
        }
        _ => {}
    }
    r
}

/// `log_path`: an existing directory of the namespace, where reports are written.
fn check_log_path(state: &State, svm: &Value, value: &Value) -> ApiResult<String> {
    let path = value.as_str().unwrap_or_default();
    let ns = state
        .namespace(svm)
        .map_err(|e| ApiError::new(Code::VscanBadLogPath, e.message).with_target("log_path"))?;
    match ns.existing_dir(path, Symlinks::Contain) {
        Ok(_) => Ok(path.to_string()),
        Err(e) => {
            let code = match e {
                NamespaceError::NotDirectory | NamespaceError::Io(_) => {
                    Code::VscanUnsupportedLogPath
                }
                _ => Code::VscanBadLogPath,
            };
            Err(ApiError::new(
                code,
                format!("Log path \"{path}\" is not usable: {e}. Give an existing directory as a path from the SVM root, e.g. /vol1/reports."),
            )
            .with_target("log_path"))
        }
    }
}

/// `scan_paths`: existing directories or regular files of the namespace.
fn check_scan_paths(state: &State, svm: &Value, value: &Value) -> ApiResult<Vec<String>> {
    let given = strings(value);
    if given.is_empty() {
        return Err(ApiError::new(
            Code::VscanBadScanPath,
            "At least one scan path is required.",
        )
        .with_target("scan_paths"));
    }
    let ns = state
        .namespace(svm)
        .map_err(|e| ApiError::new(Code::VscanBadScanPath, e.message).with_target("scan_paths"))?;
    let mut out: Vec<String> = Vec::new();
    for path in given {
        let resolved = ns.resolve(&path, Symlinks::Contain).map_err(|e| {
            ApiError::new(
                Code::VscanBadScanPath,
                format!("Scan path \"{path}\" is not valid: {e}."),
            )
            .with_target("scan_paths")
        })?;
        match std::fs::metadata(&resolved) {
            Ok(m) if m.is_dir() || m.is_file() => {}
            Ok(_) => {
                return Err(ApiError::new(
                    Code::VscanUnsupportedScanPath,
                    format!("Scan path \"{path}\" is not supported: only directories and regular files can be scanned."),
                )
                .with_target("scan_paths"));
            }
            Err(_) => {
                return Err(ApiError::new(
                    Code::VscanBadScanPath,
                    format!("Scan path \"{path}\" does not exist in the SVM namespace."),
                )
                .with_target("scan_paths"));
            }
        }
        if !out.contains(&path) {
            out.push(path);
        }
    }
    Ok(out)
}

/// The schedule a body names, by uuid and/or name (`null` or `{}` unschedules).
fn find_schedule(txn: &Txn<'_>, svm_uuid: &str, reference: &Value) -> ApiResult<Option<String>> {
    let uuid = reference.get("uuid").and_then(Value::as_str);
    let name = reference.get("name").and_then(Value::as_str);
    if uuid.is_none() && name.is_none() {
        return Ok(None);
    }
    let found = txn.list(schedules::KIND).into_iter().find(|(_, s)| {
        uuid.is_none_or(|u| s["uuid"] == u)
            && name.is_none_or(|n| s["name"] == n)
            && s["svm"]["uuid"]
                .as_str()
                .is_none_or(|owner| owner == svm_uuid)
    });
    match found {
        Some((id, _)) => Ok(Some(id)),
        None => Err(ApiError::new(
            Code::VscanScheduleNotFound,
            format!(
                "Schedule \"{}\" does not exist.",
                name.or(uuid).unwrap_or_default()
            ),
        )
        .with_target(if name.is_some() {
            "schedule.name"
        } else {
            "schedule.uuid"
        })),
    }
}

/// The checks a scheduled policy needs: Vscan enabled, SVM running, no other
/// scheduled policy on the SVM.
fn check_scheduling(
    snapshot: &Snapshot,
    svm: &Value,
    name: &str,
    others: &[Value],
) -> ApiResult<()> {
    let svm_uuid = svm["uuid"].as_str().unwrap_or_default();
    if !snapshot.enabled(svm_uuid) {
        return Err(ApiError::new(
            Code::VscanScheduleNeedsVscan,
            "An On-Demand policy can be scheduled only while Vscan is enabled on the SVM.",
        )
        .with_target("schedule"));
    }
    if svm.get("state").is_some_and(|s| s != "running") {
        return Err(ApiError::new(
            Code::VscanSvmNotOperational,
            format!(
                "SVM \"{}\" is not running, so the policy cannot be scheduled.",
                svm["name"].as_str().unwrap_or_default()
            ),
        )
        .with_target("schedule"));
    }
    if let Some(other) = others
        .iter()
        .find(|p| p["name"] != name && p.get("schedule").is_some_and(|s| !s.is_null()))
    {
        return Err(ApiError::new(
            Code::VscanAlreadyScheduled,
            format!(
                "On-Demand policy \"{}\" is already scheduled on this SVM; only one may be. Unschedule it first.",
                other["name"].as_str().unwrap_or_default()
            ),
        )
        .with_target("schedule"));
    }
    Ok(())
}

/// Validates a new policy's fields that need no transaction (paths, scope).
pub fn new_policy(state: &State, svm: &Value, body: &Value) -> ApiResult<Value> {
    let name = ApiError::required_str(body, "name")?;
    check_name(name, "name")?;
    if svm.get("root_path").is_none() {
        return Err(ApiError::new(
            Code::VscanAdminSvm,
            "On-Demand policies scan a data SVM's namespace; the admin SVM has none.",
        ));
    }
    let log_path = body
        .get("log_path")
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::required("log_path"))?;
    let scan_paths = body
        .get("scan_paths")
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::required("scan_paths"))?;
    let mut policy = json!({
        "svm": {"uuid": svm["uuid"]},
        "name": name,
        "log_path": check_log_path(state, svm, log_path)?,
        "scan_paths": check_scan_paths(state, svm, scan_paths)?,
        "scope": merge_scope(body.get("scope"), None, PathStyle::Unix)?,
        "remediation": match body.get("remediation").filter(|v| !v.is_null()) {
            Some(v) => check_remediation(v)?,
            None => "report".to_string(),
        },
        "incremental": match body.get("incremental").filter(|v| !v.is_null()) {
            Some(v) => check_incremental(v)?,
            None => false,
        },
    });
    if let Some(s) = body.get("schedule").filter(|v| !v.is_null()) {
        // Resolved to a uuid by `insert_policy`, inside the transaction.
        policy["schedule"] = s.clone();
    }
    Ok(policy)
}

/// Inserts a validated policy: name free, under the limit, schedule resolved and
/// allowed.
pub fn insert_policy(
    txn: &mut Txn<'_>,
    snapshot: &Snapshot,
    svm: &Value,
    mut policy: Value,
) -> ApiResult<()> {
    let svm_uuid = svm["uuid"].as_str().unwrap_or_default();
    let name = policy["name"].as_str().unwrap_or_default().to_string();
    let existing = snapshot.on_demand(svm_uuid);
    if existing.iter().any(|p| p["name"] == name.as_str()) {
        return Err(ApiError::new(
            Code::Duplicate,
            format!("On-Demand policy \"{name}\" already exists."),
        )
        .with_target("name"));
    }
    if existing.len() >= MAX_POLICIES {
        return Err(ApiError::new(
            Code::VscanTooManyOnDemand,
            format!("The SVM already has the maximum of {MAX_POLICIES} On-Demand policies."),
        ));
    }
    if let Some(reference) = policy.get("schedule").cloned() {
        match find_schedule(txn, svm_uuid, &reference)? {
            Some(uuid) => {
                check_scheduling(snapshot, svm, &name, &existing)?;
                policy["schedule"] = json!({"uuid": uuid});
            }
            None => {
                if let Some(m) = policy.as_object_mut() {
                    m.remove("schedule");
                }
            }
        }
    }
    txn.put(ON_DEMAND_KIND, &object_id(svm_uuid, &name), policy);
    Ok(())
}

#[async_trait]
impl Resource for OnDemandPolicies {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let snapshot = self.state.vscan();
        let mut out = Vec::new();
        for svm in listed_svms(&self.state, keys.get("svm.uuid"))? {
            let uuid = svm["uuid"].as_str().unwrap_or_default();
            for policy in snapshot.on_demand(uuid) {
                out.push(shown(&self.state, &policy, &svm).into());
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
        let svm = path_svm(&self.state, &svm_uuid)?;
        let policy = new_policy(&self.state, &svm, &body)?;
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &self.state.admin_svm().0);
        insert_policy(&mut txn, &snapshot, &svm, policy.clone())?;
        txn.commit().await?;
        Ok(Created {
            record: policy,
            work: Work::Done,
        })
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        params: &Params,
    ) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        if let Some(action) = params.get("action") {
            if body
                .as_object()
                .is_some_and(|m| m.keys().any(|k| k != "_links"))
            {
                return Err(ApiError::new(
                    Code::InvalidCombination,
                    format!(
                        "\"action={action}\" takes no body: change the policy and act on it in two requests."
                    ),
                ));
            }
            let incremental = match params.get("incremental").map(String::as_str) {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(other) => return Err(ApiError::invalid_value("incremental", other)),
            };
            return match action.as_str() {
                "run" => self.run(svm_uuid, name, incremental),
                "cancel" if incremental.is_none() => {
                    crate::ondemand::cancel(&self.state, svm_uuid, name)?;
                    Ok(Work::Done)
                }
                "cancel" => Err(ApiError::new(
                    Code::InvalidCombination,
                    "\"incremental\" applies to \"action=run\" only.",
                )),
                other => Err(ApiError::invalid_value("action", other)),
            };
        }
        if params.contains_key("incremental") {
            return Err(ApiError::new(
                Code::InvalidCombination,
                "\"incremental\" applies to \"action=run\" only.",
            ));
        }
        let svm = path_svm(&self.state, svm_uuid)?;
        let log_path = match body.get("log_path").filter(|v| !v.is_null()) {
            Some(v) => Some(check_log_path(&self.state, &svm, v)?),
            None => None,
        };
        let scan_paths = match body.get("scan_paths").filter(|v| !v.is_null()) {
            Some(v) => Some(check_scan_paths(&self.state, &svm, v)?),
            None => None,
        };
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &self.state.admin_svm().0);
        let existing = snapshot.on_demand(svm_uuid);
        let mut doc = existing
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("name"))?;
        if let Some(p) = log_path {
            doc["log_path"] = json!(p);
        }
        if let Some(p) = scan_paths {
            doc["scan_paths"] = json!(p);
        }
        if let Some(scope) = body.get("scope") {
            doc["scope"] = merge_scope(Some(scope), Some(&doc["scope"]), PathStyle::Unix)?;
        }
        if let Some(v) = body.get("remediation") {
            doc["remediation"] = json!(if v.is_null() {
                "report".to_string()
            } else {
                check_remediation(v)?
            });
        }
        if let Some(v) = body.get("incremental") {
            doc["incremental"] = json!(!v.is_null() && check_incremental(v)?);
        }
        if let Some(reference) = body.get("schedule") {
            match find_schedule(&txn, svm_uuid, reference)? {
                Some(uuid) => {
                    check_scheduling(&snapshot, &svm, name, &existing)?;
                    doc["schedule"] = json!({"uuid": uuid});
                }
                None => {
                    if let Some(m) = doc.as_object_mut() {
                        m.remove("schedule");
                    }
                }
            }
        }
        txn.put(ON_DEMAND_KIND, &object_id(svm_uuid, name), doc);
        txn.commit().await?;
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        let mut txn = self.state.store.begin().await;
        let id = object_id(svm_uuid, name);
        if txn.get(ON_DEMAND_KIND, &id).is_none() {
            return Err(ApiError::not_found("name"));
        }
        txn.delete(ON_DEMAND_KIND, &id);
        txn.commit().await?;
        Ok(Work::Done)
    }
}
