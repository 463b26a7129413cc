//! `/api/svm/svms`: storage VMs (tenants), each with a namespace root on the host.
//!
//! Vigil extension: `root_path` (create-only) names an existing absolute directory to
//! use as the namespace root; by default it is `<data-dir>/svms/<name>/`, created on
//! POST. Deleting an SVM never deletes files under its root.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{boolean, enumeration, integer, object, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, ListHints, Method, Params, Record, Resource,
    ResourceDef, Schema, VsadminAccess, Work,
};
use serde_json::{Value, json};

use crate::state::{SVM_KIND, State};

const MAX_NAME: usize = 47;
const STATES: &[&str] = &[
    "starting",
    "running",
    "stopping",
    "stopped",
    "deleting",
    "initializing",
];
const SUBTYPES: &[&str] = &[
    "default",
    "dp_destination",
    "sync_source",
    "sync_destination",
    "data_engine",
];

/// `state`: an administrator can ask for `running` or `stopped`; the other values are
/// transitions Vigil never shows.
fn check_state(body: &Value) -> ApiResult<()> {
    match body.get("state").and_then(Value::as_str) {
        None | Some("running" | "stopped") => Ok(()),
        Some(s) => Err(ApiError::new(
            Code::InvalidFieldValue,
            format!(
                "\"{s}\" is an invalid value for field \"state\": set \"running\" or \"stopped\"."
            ),
        )
        .with_target("state")),
    }
}

pub struct Svms {
    state: Arc<State>,
    def: ResourceDef,
}

/// SVM and cluster names become directory names, so only a safe alphabet is allowed.
pub fn check_name(name: &str, target: &str) -> ApiResult<()> {
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::new(
            Code::SvmNameTooLong,
            format!("The name \"{name}\" is longer than {MAX_NAME} characters."),
        )
        .with_target(target));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(ApiError::new(
            Code::InvalidFieldValue,
            format!("\"{name}\" is an invalid value for field \"{target}\": use letters, digits, \"_\", \"-\" and \".\", starting with a letter or \"_\"."),
        )
        .with_target(target));
    }
    Ok(())
}

fn check_language(language: &str) -> ApiResult<()> {
    let l = language.to_ascii_lowercase();
    if l == "c.utf_8" || l.ends_with(".utf_8") || l == "utf8mb4" {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::SvmLanguageNotUtf8,
            format!("Language \"{language}\" is not supported: only UTF-8 languages are."),
        )
        .with_target("language"))
    }
}

fn name_in_use(
    txn_svms: &[(String, Value)],
    name: &str,
    except: Option<&str>,
    cluster_name: &str,
) -> bool {
    name.eq_ignore_ascii_case(cluster_name)
        || txn_svms.iter().any(|(id, s)| {
            Some(id.as_str()) != except
                && s["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
}

fn duplicate(name: &str) -> ApiError {
    ApiError::new(
        Code::SvmNameInUse,
        format!("The name \"{name}\" is already used by an SVM or the cluster."),
    )
    .with_target("name")
}

impl Svms {
    pub fn new(state: &Arc<State>) -> Svms {
        let mut fields = vec![
            string("uuid").read_only().identity(),
            string("name").read_write().identity(),
            // ONTAP creates SVMs running; `state` changes by PATCH only (the client never
            // sends it in a POST).
            enumeration("state", STATES).read_modify(),
            enumeration("subtype", SUBTYPES).create(),
            string("language").read_write(),
            string("comment").read_write(),
            object("ipspace", vec![string("name"), string("uuid")]).create(),
            string("root_path")
                .create()
                .doc("Vigil extension: absolute host directory that is the SVM's namespace root."),
            object(
                "snapmirror",
                vec![boolean("is_protected"), integer("protected_volumes_count")],
            )
            .read_only()
            .expensive(),
            integer("mav_device_id").read_only().expensive().doc(
                "Vigil extension: the SVM's device id in the managed-antivirus reporting service.",
            ),
        ];
        fields.extend(super::svm_fields::schema());
        let mut def = ResourceDef::new(Schema::new(fields));
        def.collection = Some("/api/svm/svms");
        def.instance = Some("/api/svm/svms/{uuid}");
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.async_ops = &[Method::Post, Method::Patch, Method::Delete];
        def.svm_field = Some("uuid");
        def.vsadmin = VsadminAccess::Read;
        Svms {
            state: Arc::clone(state),
            def,
        }
    }

    fn ipspace(&self) -> Value {
        json!({"name": "Default", "uuid": self.state.cluster()["ipspace_uuid"]})
    }
}

#[async_trait]
impl Resource for Svms {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        self.list_hinted(ctx, keys, &ListHints::ALL).await
    }

    /// The stored documents themselves (shared, not copied), with the computed
    /// members laid over them when the request reads them: both are expensive fields,
    /// which a plain listing (the common case) does not return.
    async fn list_hinted(
        &self,
        _ctx: &Ctx,
        keys: &Keys,
        hints: &ListHints<'_>,
    ) -> ApiResult<Vec<Record>> {
        let uuid = keys.get("uuid").filter(|k| *k != "*").map(String::as_str);
        let svms: Vec<(Arc<Value>, Option<u64>)> = if hints.wants("mav_device_id") {
            crate::mav_service::svms_with_device_ids(&self.state, uuid)
        } else {
            let docs = match uuid {
                Some(uuid) => self.state.svm(uuid).into_iter().collect(),
                None => self.state.store.list(SVM_KIND),
            };
            docs.into_iter().map(|doc| (doc, None)).collect()
        };
        // Vigil has no SnapMirror: one value serves every record.
        let snapmirror = hints
            .wants("snapmirror")
            .then(|| Arc::new(json!({"is_protected": false, "protected_volumes_count": 0})));
        let neutral = super::svm_fields::neutral();
        let storage = if hints.wants("storage") {
            let roots: Vec<String> = svms
                .iter()
                .map(|(doc, _)| doc["root_path"].as_str().unwrap_or_default().to_string())
                .collect();
            tokio::task::spawn_blocking(move || {
                roots
                    .iter()
                    .map(|r| super::svm_fields::storage(Path::new(r)))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| ApiError::internal(format!("measuring SVM storage: {e}")))?
        } else {
            Vec::new()
        };
        let mut storage = storage.into_iter();
        Ok(svms
            .into_iter()
            .map(|(doc, device_id)| {
                let s3 = hints
                    .wants("s3")
                    .then(|| {
                        doc["uuid"]
                            .as_str()
                            .and_then(|u| super::s3::service_of(&self.state, u))
                    })
                    .flatten();
                let mut record = Record::new(doc);
                if let Some(snapmirror) = &snapmirror {
                    record = record.with_shared("snapmirror", Arc::clone(snapmirror));
                }
                if let Some(id) = device_id {
                    record = record.with("mav_device_id", json!(id));
                }
                record = super::svm_fields::overlay(record, &neutral, |m| hints.wants(m));
                if let Some(s3) = &s3 {
                    record = record.with("s3", super::svm_fields::s3_member(s3));
                }
                if let Some(storage) = storage.next() {
                    record = record.with("storage", storage);
                }
                record
            })
            .collect())
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        _keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let name = ApiError::required_str(&body, "name")?.to_string();
        check_name(&name, "name")?;
        if let Some(l) = body.get("language").and_then(Value::as_str) {
            check_language(l)?;
        }
        let subtype = body
            .get("subtype")
            .and_then(Value::as_str)
            .unwrap_or("default");
        if matches!(subtype, "sync_destination" | "data_engine") {
            return Err(ApiError::invalid_value("subtype", subtype));
        }
        if let Some(ipspace) = body.get("ipspace") {
            let ours = self.ipspace();
            let name_ok = ipspace
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(|n| n == "Default");
            let uuid_ok = ipspace.get("uuid").is_none_or(|u| *u == ours["uuid"]);
            if !name_ok || !uuid_ok {
                return Err(ApiError::new(
                    Code::SvmIpspaceNotFound,
                    "The IPspace does not exist; Vigil has only \"Default\".",
                )
                .with_target("ipspace"));
            }
        }
        let cluster_name = self.state.cluster_name();
        if name_in_use(
            &self
                .state
                .store
                .list(SVM_KIND)
                .iter()
                .map(|s| {
                    (
                        s["uuid"].as_str().unwrap_or_default().to_string(),
                        (**s).clone(),
                    )
                })
                .collect::<Vec<_>>(),
            &name,
            None,
            &cluster_name,
        ) {
            return Err(duplicate(&name));
        }
        let root = match body.get("root_path").and_then(Value::as_str) {
            Some(p) => {
                let path = Path::new(p);
                if !path.is_absolute() || !path.is_dir() {
                    return Err(ApiError::new(
                        Code::SvmNamespaceUnusable,
                        format!(
                            "\"root_path\" must be an existing absolute directory; \"{p}\" is not."
                        ),
                    )
                    .with_target("root_path"));
                }
                std::fs::canonicalize(path).map_err(|e| {
                    ApiError::new(Code::SvmNamespaceUnusable, format!("\"{p}\": {e}"))
                        .with_target("root_path")
                })?
            }
            None => self.state.config.data_dir.join("svms").join(&name),
        };
        let uuid = uuid::Uuid::new_v4().to_string();
        let record = json!({
            "uuid": uuid,
            "name": name,
            "state": "running",
            "subtype": subtype,
            "language": body.get("language").cloned().unwrap_or(json!("c.utf_8")),
            "comment": body.get("comment").cloned().unwrap_or(json!("")),
            "ipspace": self.ipspace(),
            "root_path": root.to_string_lossy(),
        });
        let state = Arc::clone(&self.state);
        let stored = record.clone();
        let work = Work::Job(Box::pin(async move {
            std::fs::create_dir_all(&root).map_err(|e| {
                ApiError::new(
                    Code::SvmNamespaceUnusable,
                    format!("Cannot create the namespace root {}: {e}", root.display()),
                )
            })?;
            let mut txn = state.store.begin().await;
            // Checked again under the writer lock: another POST may have won the name.
            let cluster_name = state.cluster_name();
            if name_in_use(
                &txn.list(SVM_KIND),
                stored["name"].as_str().unwrap_or_default(),
                None,
                &cluster_name,
            ) {
                return Err(duplicate(stored["name"].as_str().unwrap_or_default()));
            }
            txn.put(SVM_KIND, &uuid, stored);
            txn.commit().await?;
            crate::mav_service::assign_device_ids(&state).await?;
            Ok("success".to_string())
        }));
        Ok(Created { record, work })
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        if let Some(name) = body.get("name").and_then(Value::as_str) {
            check_name(name, "name")?;
        }
        if let Some(l) = body.get("language").and_then(Value::as_str) {
            check_language(l)?;
        }
        check_state(&body)?;
        let uuid = record["uuid"].as_str().unwrap_or_default().to_string();
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            let mut txn = state.store.begin().await;
            let mut svm = txn
                .get(SVM_KIND, &uuid)
                .ok_or_else(|| ApiError::not_found("uuid"))?;
            if let Some(name) = body.get("name").and_then(Value::as_str) {
                let cluster_name = state.cluster_name();
                if name_in_use(&txn.list(SVM_KIND), name, Some(&uuid), &cluster_name) {
                    return Err(duplicate(name));
                }
            }
            for field in ["name", "state", "language", "comment"] {
                if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
                    svm[field] = v.clone();
                }
            }
            let name = svm["name"].as_str().unwrap_or_default().to_string();
            let stopped = svm["state"] == "stopped";
            txn.put(SVM_KIND, &uuid, svm);
            txn.commit().await?;
            state.audit.rename(&uuid, &name);
            if stopped {
                // A stopped SVM serves no data: its runs end and its scanners disconnect.
                crate::ondemand::cancel_svm(&state, &uuid);
            }
            crate::scanning::monitors::reconcile(&state);
            Ok("success".to_string())
        })))
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let uuid = record["uuid"].as_str().unwrap_or_default().to_string();
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            let mut txn = state.store.begin().await;
            txn.delete(SVM_KIND, &uuid);
            crate::api::vscan::forget_svm(&mut txn, &uuid);
            // Accounts owned by the SVM go with it; files under its root stay.
            txn.delete_where(crate::auth::ACCOUNT_KIND, |_, d| {
                d["owner"]["uuid"] == uuid.as_str()
            });
            // So does its S3 audit configuration (the log files stay, like ONTAP's).
            txn.delete(crate::api::s3_audit::KIND, &uuid);
            // And its S3 server with its users, groups, policies and bucket records (objects stay under
            // the root, like every other file there).
            txn.delete(s3model::model::SERVICE_KIND, &uuid);
            for kind in [
                s3model::model::BUCKET_KIND,
                s3model::model::USER_KIND,
                s3model::policy::GROUP_KIND,
                s3model::policy::POLICY_KIND,
            ] {
                txn.delete_where(kind, |_, d| d["svm_uuid"] == uuid.as_str());
            }
            // And the job schedules scoped to it (its on-demand policies, the only users
            // of such schedules, are gone above).
            txn.delete_where(crate::api::schedules::KIND, |_, d| {
                d["svm"]["uuid"] == uuid.as_str()
            });
            // And its scan history. Its MAV device id stays reserved (never reused, so an
            // RMM never mixes two SVMs' histories under one id).
            txn.delete_where(crate::scanning::records::RUN_KIND, |_, d| {
                d["svm"]["uuid"] == uuid.as_str()
            });
            crate::ondemand::cancel_svm(&state, &uuid);
            txn.commit().await?;
            state.s3.listeners.stop_svm(&uuid);
            state.audit.remove(&uuid);
            // Quarantined copies cannot be restored without the SVM: they go with it.
            let quarantine = crate::quarantine::dir(&state.config.data_dir, &uuid);
            if let Err(e) = std::fs::remove_dir_all(&quarantine)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(svm = uuid, error = %e, path = %quarantine.display(), "cannot remove the deleted SVM's quarantine");
            }
            crate::scanning::monitors::reconcile(&state);
            Ok("success".to_string())
        })))
    }
}
