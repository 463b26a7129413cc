//! `/api/protocols/vscan/{svm.uuid}/scanner-pools`: the scan servers an SVM may use,
//! the users they connect as, and the pool's role (primary, secondary, idle).

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Params, Record, Resource, ResourceDef, Schema,
    VsadminAccess, Work,
};
use serde_json::{Value, json};
use store::Txn;
use vscan::address::ServerAddress;

use super::{
    POOL_KIND, ROLES, Seen, Snapshot, check_name, drop_inherited, is_active_role, listed_svms,
    object_id, path_svm, put_inherited, strings, with_svm,
};
use crate::state::State;

const MAX_USER: usize = 256;

pub struct ScannerPools {
    state: Arc<State>,
    def: ResourceDef,
}

pub fn pool_fields() -> Vec<rest::schema::Field> {
    vec![
        string("name").create().identity(),
        array("servers", Ty::String).read_write(),
        array("privileged_users", Ty::String).read_write(),
        string("role").read_write(),
        reference("cluster").read_write(),
    ]
}

impl ScannerPools {
    pub fn new(state: &Arc<State>) -> ScannerPools {
        let mut fields = vec![reference("svm").read_only().identity()];
        fields.extend(pool_fields());
        let mut def = ResourceDef::new(Schema::new(fields));
        def.collection = Some("/api/protocols/vscan/{svm.uuid}/scanner-pools");
        def.instance = Some("/api/protocols/vscan/{svm.uuid}/scanner-pools/{name}");
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        ScannerPools {
            state: Arc::clone(state),
            def,
        }
    }
}

/// The API form of a pool as `svm` sees it.
pub fn shown(state: &State, pool: &Seen, svm: &Value) -> Value {
    let (cluster_uuid, cluster_name) = state.admin_svm();
    let mut r = with_svm(pool.record.clone(), svm);
    r["cluster"] = json!({
        "uuid": cluster_uuid,
        "name": cluster_name,
        "_links": {"self": {"href": "/api/cluster"}}
    });
    r
}

/// `servers`: what scanning will connect to, parsed once here so that a bad entry is
/// refused now rather than found at connection time. Duplicates are dropped.
fn check_servers(value: &Value) -> ApiResult<Vec<String>> {
    let given = strings(value);
    if given.is_empty() {
        return Err(ApiError::new(
            Code::VscanEmptyList,
            "The list of Vscan servers cannot be empty.",
        )
        .with_target("servers"));
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<ServerAddress> = Vec::new();
    for s in given {
        let address = s.parse::<ServerAddress>().map_err(|e| {
            ApiError::new(
                Code::VscanBadServer,
                format!("Vscan server entry rejected: {e}."),
            )
            .with_target("servers")
        })?;
        // `AV1.example.com.` and `av1.example.com:3310` are the same server.
        if !seen.contains(&address) {
            seen.push(address);
            out.push(s);
        }
    }
    Ok(out)
}

/// `privileged_users`: `domain\user`, kept as given, duplicates compared
/// case-insensitively (Windows account names are).
fn check_users(value: &Value) -> ApiResult<Vec<String>> {
    let given = strings(value);
    if given.is_empty() {
        return Err(ApiError::new(
            Code::VscanEmptyList,
            "The list of privileged users cannot be empty.",
        )
        .with_target("privileged_users"));
    }
    let mut out: Vec<String> = Vec::new();
    for u in given {
        let valid = u.chars().count() <= MAX_USER
            && u.split_once('\\').is_some_and(|(domain, user)| {
                let part_ok = |p: &str| {
                    !p.is_empty()
                        && !p.trim().is_empty()
                        && !p.contains('\\')
                        && !p
                            .chars()
                            .any(|c| c.is_control() || "/[]:;|=,+*?<>\"@".contains(c))
                };
                part_ok(domain) && part_ok(user)
            });
        if !valid {
            return Err(ApiError::new(
                Code::VscanBadPrivilegedUser,
                format!("Privileged user \"{u}\" is not valid: use the form \"domain\\user\" (at most {MAX_USER} characters)."),
            )
            .with_target("privileged_users"));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&u)) {
            out.push(u);
        }
    }
    Ok(out)
}

fn check_role(value: &Value) -> ApiResult<String> {
    let role = value.as_str().unwrap_or_default().to_ascii_lowercase();
    if ROLES.contains(&role.as_str()) {
        Ok(role)
    } else {
        Err(ApiError::new(
            Code::InvalidFieldValue,
            format!(
                "\"{}\" is an invalid value for field \"role\": use primary, secondary or idle.",
                value.as_str().unwrap_or_default()
            ),
        )
        .with_target("role"))
    }
}

/// `cluster`: Vigil is one cluster. Given both, the uuid is checked first and the
/// name must then be that cluster's (10027257).
fn check_cluster(state: &State, value: &Value) -> ApiResult<()> {
    let (uuid, name) = state.admin_svm();
    let given_uuid = value.get("uuid").and_then(Value::as_str);
    let given_name = value.get("name").and_then(Value::as_str);
    if let Some(u) = given_uuid
        && u != uuid
    {
        return Err(ApiError::new(
            Code::VscanClusterUuid,
            format!("Cluster with UUID \"{u}\" does not exist."),
        )
        .with_target("cluster.uuid"));
    }
    match (given_uuid, given_name) {
        (Some(u), Some(n)) if n != name => Err(ApiError::new(
            Code::VscanClusterMismatch,
            format!("Cluster name \"{n}\" and UUID \"{u}\" refer to different clusters."),
        )
        .with_target("cluster.name")),
        (None, Some(n)) if n != name => Err(ApiError::new(
            Code::VscanClusterName,
            format!("Cluster \"{n}\" does not exist."),
        )
        .with_target("cluster.name")),
        _ => Ok(()),
    }
}

/// Validates a new pool for `svm_uuid` and returns the document to store.
pub fn new_pool(state: &State, svm_uuid: &str, body: &Value) -> ApiResult<Value> {
    let name = ApiError::required_str(body, "name")?;
    check_name(name, "name")?;
    let servers = check_servers(
        body.get("servers")
            .ok_or_else(|| ApiError::required("servers"))?,
    )?;
    let users = check_users(
        body.get("privileged_users")
            .ok_or_else(|| ApiError::required("privileged_users"))?,
    )?;
    let role = match body.get("role").filter(|v| !v.is_null()) {
        Some(r) => check_role(r)?,
        None => "primary".to_string(),
    };
    if let Some(c) = body.get("cluster").filter(|v| !v.is_null()) {
        check_cluster(state, c)?;
    }
    Ok(json!({
        "svm": {"uuid": svm_uuid},
        "name": name,
        "servers": servers,
        "privileged_users": users,
        "role": role,
    }))
}

/// Inserts a validated pool, refusing a taken name.
pub fn insert_pool(
    txn: &mut Txn<'_>,
    snapshot: &Snapshot,
    data_svms: &[String],
    pool: Value,
) -> ApiResult<()> {
    let svm_uuid = pool["svm"]["uuid"].as_str().unwrap_or_default().to_string();
    let name = pool["name"].as_str().unwrap_or_default().to_string();
    if snapshot.name_taken(&svm_uuid, data_svms, |snap, s| {
        snap.pool(s, &name).is_some()
    }) {
        return Err(ApiError::new(
            Code::Duplicate,
            format!("Scanner pool \"{name}\" already exists."),
        )
        .with_target("name"));
    }
    txn.put(POOL_KIND, &object_id(&svm_uuid, &name), pool);
    Ok(())
}

#[async_trait]
impl Resource for ScannerPools {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let snapshot = self.state.vscan();
        let mut out = Vec::new();
        for svm in listed_svms(&self.state, keys.get("svm.uuid"))? {
            let uuid = svm["uuid"].as_str().unwrap_or_default();
            for pool in snapshot.pools(uuid) {
                out.push(shown(&self.state, &pool, &svm).into());
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
        let pool = new_pool(&self.state, &svm_uuid, &body)?;
        let data_svms = self.state.data_svm_uuids();
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &self.state.admin_svm().0);
        insert_pool(&mut txn, &snapshot, &data_svms, pool.clone())?;
        txn.commit().await?;
        crate::scanning::monitors::reconcile(&self.state);
        Ok(Created {
            record: pool,
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
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        let admin = self.state.admin_svm().0;
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &admin);
        let pool = snapshot
            .pool(svm_uuid, name)
            .ok_or_else(|| ApiError::not_found("name"))?;
        if let Some(c) = body.get("cluster").filter(|v| !v.is_null()) {
            check_cluster(&self.state, c)?;
        }
        let role = match body.get("role").filter(|v| !v.is_null()) {
            Some(r) => Some(check_role(r)?),
            None => None,
        };
        if pool.inherited {
            if let Some(field) = ["servers", "privileged_users"]
                .into_iter()
                .find(|f| body.get(*f).is_some())
            {
                return Err(ApiError::new(
                    Code::VscanClusterPoolModify,
                    format!("Scanner pool \"{name}\" belongs to the cluster: from this SVM only its role can be set, not \"{field}\"."),
                )
                .with_target(field));
            }
            if let Some(role) = role {
                put_inherited(&mut txn, svm_uuid, POOL_KIND, name, json!({"role": role}));
            }
        } else {
            let mut doc = pool.record.clone();
            if let Some(v) = body.get("servers") {
                doc["servers"] = json!(check_servers(v)?);
            }
            if let Some(v) = body.get("privileged_users") {
                doc["privileged_users"] = json!(check_users(v)?);
            }
            if let Some(role) = role {
                doc["role"] = json!(role);
            }
            txn.put(POOL_KIND, &object_id(svm_uuid, name), doc);
        }
        txn.commit().await?;
        crate::scanning::monitors::reconcile(&self.state);
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        let admin = self.state.admin_svm().0;
        let data_svms = self.state.data_svm_uuids();
        let mut txn = self.state.store.begin().await;
        let snapshot = Snapshot::load(&txn, &admin);
        let pool = snapshot
            .pool(svm_uuid, name)
            .ok_or_else(|| ApiError::not_found("name"))?;
        if pool.inherited {
            return Err(ApiError::new(
                Code::VscanClusterPoolDelete,
                format!(
                    "Scanner pool \"{name}\" belongs to the cluster and cannot be deleted from this SVM."
                ),
            ));
        }
        // Every SVM that sees the pool and has Vscan enabled must keep an active pool.
        for viewer in snapshot.viewers(svm_uuid, &data_svms) {
            let seen = snapshot.pool(&viewer, name);
            if !snapshot.enabled(&viewer)
                || !seen.is_some_and(|p| is_active_role(&p.record["role"]))
            {
                continue;
            }
            if snapshot.active_pools(&viewer).len() == 1 {
                return Err(ApiError::new(
                    Code::VscanLastActivePool,
                    format!(
                        "Scanner pool \"{name}\" is the only active pool of an SVM with Vscan enabled. Disable Vscan first, or make another pool active."
                    ),
                ));
            }
        }
        txn.delete(POOL_KIND, &object_id(svm_uuid, name));
        if svm_uuid == admin {
            drop_inherited(&mut txn, POOL_KIND, name);
        }
        txn.commit().await?;
        crate::scanning::monitors::reconcile(&self.state);
        Ok(Work::Done)
    }
}
