//! Buckets: `/api/protocols/s3/services/{svm.uuid}/buckets` (one SVM) and the
//! cluster-wide `/api/protocols/s3/buckets` (instances `/{svm.uuid}/{uuid}`, POST with
//! `svm` in the body), one implementation. Creates, changes and deletes run as jobs,
//! like ONTAP's; everything checkable is checked before the job starts.
//!
//! Supported so far: `s3` buckets (objects in a Vigil-managed directory), `comment`,
//! `size` (recorded; not enforced yet), `versioning_state` (`disabled` and
//! `suspended`: objects keep one version), `audit_event_selector`,
//! `policy.statements` (the bucket policy S3's Get/PutBucketPolicy also read and
//! write). Refused with an error rather than stored: `nas` buckets, `enabled`
//! versioning, policy conditions, encryption, object locking, QoS policies.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, array_of, boolean, enumeration, integer, object, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Method, Params, Record, Resource, ResourceDef,
    Schema, VsadminAccess, Work,
};
use s3model::model::{BUCKET_KIND, Bucket, BucketType, DEFAULT_BUCKET_SIZE, Versioning};
use s3model::policy::{Effect, Statement};
use s3model::policy_json::check_bucket_statement;
use serde_json::{Value, json};

use super::{bucket_name_error, check_comment, member, opt_str, path_svm, require_service};
use crate::s3::buckets::{self, BucketError};
use crate::s3::storage::BucketDir;
use crate::state::{State, svm_ref};

const SVM_PATH: &str = "/api/protocols/s3/services/{svm.uuid}/buckets";
const SVM_INSTANCE: &str = "/api/protocols/s3/services/{svm.uuid}/buckets/{uuid}";
const CLUSTER_PATH: &str = "/api/protocols/s3/buckets";
const CLUSTER_INSTANCE: &str = "/api/protocols/s3/buckets/{svm.uuid}/{uuid}";

pub struct S3Buckets {
    state: Arc<State>,
    def: ResourceDef,
    /// The cluster-wide collection, whose POST names the SVM in the body.
    cluster_wide: bool,
}

/// The fields of a bucket, also those of the service's inline `buckets`.
pub fn bucket_fields() -> Vec<rest::schema::Field> {
    vec![
        string("uuid").read_only().identity(),
        string("name").create().identity(),
        string("comment").read_write(),
        integer("size").read_write(),
        integer("logical_used_size").read_only(),
        enumeration("type", &["s3", "nas"]).create(),
        string("nas_path").create(),
        enumeration("versioning_state", &["disabled", "enabled", "suspended"]).read_write(),
        object(
            "audit_event_selector",
            vec![
                enumeration("access", &["read", "write", "all"]),
                enumeration("permission", &["allow", "deny", "all"]),
            ],
        )
        .read_write(),
        object(
            "policy",
            vec![array_of(
                "statements",
                vec![
                    enumeration("effect", &["allow", "deny"]),
                    array("actions", Ty::String),
                    array("principals", Ty::String),
                    array("resources", Ty::String),
                    string("sid"),
                    array_of(
                        "conditions",
                        vec![
                            string("operator"),
                            array("source_ips", Ty::String),
                            array("prefixes", Ty::String),
                            array("usernames", Ty::String),
                            array("delimiters", Ty::String),
                            array("max_keys", Ty::Integer),
                        ],
                    ),
                ],
            )],
        )
        .read_write(),
        object("encryption", vec![boolean("enabled")]).read_write(),
        object(
            "retention",
            vec![
                enumeration("mode", &["no_lock", "governance", "compliance"]),
                string("default_period"),
            ],
        )
        .read_write(),
        reference("qos_policy").read_write(),
        reference("snapshot_policy").read_write(),
        // ONTAP's FlexGroup behind the bucket. Vigil has none, so records never carry
        // it; declared so that `fields=volume.uuid` (Ansible's na_ontap_s3_buckets
        // asks for it) is a valid query.
        reference("volume").read_only(),
    ]
}

impl S3Buckets {
    pub fn per_svm(state: &Arc<State>) -> S3Buckets {
        S3Buckets::new(state, false)
    }

    pub fn cluster_wide(state: &Arc<State>) -> S3Buckets {
        S3Buckets::new(state, true)
    }

    fn new(state: &Arc<State>, cluster_wide: bool) -> S3Buckets {
        let svm = if cluster_wide {
            reference("svm").create().identity()
        } else {
            reference("svm").read_only().identity()
        };
        let mut fields = vec![svm];
        fields.extend(bucket_fields());
        let mut def = ResourceDef::new(Schema::new(fields));
        if cluster_wide {
            def.collection = Some(CLUSTER_PATH);
            def.instance = Some(CLUSTER_INSTANCE);
        } else {
            def.collection = Some(SVM_PATH);
            def.instance = Some(SVM_INSTANCE);
        }
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.async_ops = &[Method::Post, Method::Patch, Method::Delete];
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        S3Buckets {
            state: Arc::clone(state),
            def,
            cluster_wide,
        }
    }
}

pub fn render(bucket: &Bucket, svm: &Value, used: u64) -> Value {
    let mut r = json!({
        "svm": svm_ref(svm),
        "uuid": bucket.uuid,
        "name": bucket.name,
        "comment": bucket.comment,
        "size": bucket.size,
        "logical_used_size": used,
        "type": bucket.kind.as_str(),
        "versioning_state": bucket.versioning_state.as_str(),
        "policy": {"statements": render_policy(&bucket.policy)},
        "encryption": {"enabled": false},
        "retention": {"mode": "no_lock"},
    });
    if let Some(path) = &bucket.nas_path {
        r["nas_path"] = json!(path);
    }
    if let Some(selector) = &bucket.audit_event_selector {
        r["audit_event_selector"] = selector.clone();
    }
    r
}

fn render_policy(statements: &[Statement]) -> Vec<Value> {
    statements
        .iter()
        .map(|s| {
            json!({
                "effect": s.effect.as_str(),
                "actions": s.actions,
                "principals": s.principals,
                "resources": s.resources,
                "sid": s.sid,
                "conditions": [],
            })
        })
        .collect()
}

fn string_list(s: &Value, field: &str) -> ApiResult<Vec<String>> {
    let target = format!("policy.statements.{field}");
    match member(s, field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| ApiError::invalid_value(&target, &i.to_string()))
            })
            .collect(),
        Some(other) => Err(ApiError::invalid_value(&target, &other.to_string())),
    }
}

/// `policy.statements` of a body for the bucket `name`; `None` when not given. The
/// checks are those of an S3 PutBucketPolicy (`s3model::policy_json`).
fn parse_policy(body: &Value, name: &str) -> ApiResult<Option<Vec<Statement>>> {
    let Some(list) = member(body, "policy").and_then(|p| member(p, "statements")) else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or_else(|| ApiError::invalid_value("policy.statements", &list.to_string()))?;
    let mut out = Vec::new();
    for s in list {
        if member(s, "conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty())
        {
            return Err(ApiError::new(
                Code::InvalidField,
                "Bucket policy conditions are not supported by this Vigil release.",
            )
            .with_target("policy.statements.conditions"));
        }
        let effect = match member(s, "effect").and_then(Value::as_str) {
            Some("allow") => Effect::Allow,
            Some("deny") => Effect::Deny,
            Some(other) => return Err(ApiError::invalid_value("policy.statements.effect", other)),
            None => return Err(ApiError::required("policy.statements.effect")),
        };
        let statement = Statement {
            effect,
            actions: string_list(s, "actions")?,
            principals: string_list(s, "principals")?,
            resources: string_list(s, "resources")?,
            sid: opt_str(s, "sid", "policy.statements.sid")?,
        };
        check_bucket_statement(name, &statement).map_err(|why| {
            ApiError::new(
                Code::InvalidFieldValue,
                format!("The bucket policy is not valid: {why}."),
            )
            .with_target("policy.statements")
        })?;
        out.push(statement);
    }
    s3model::policy::number_sids(&mut out);
    Ok(Some(out))
}

/// Refuses what a body asks for that Vigil does not do yet, rather than storing it.
fn refuse_unsupported(body: &Value, target: &str) -> ApiResult<()> {
    let unsupported = |field: &str, what: &str| {
        ApiError::new(
            Code::InvalidField,
            format!("{what} is not supported by this Vigil release."),
        )
        .with_target(format!("{target}{field}"))
    };
    if member(body, "encryption")
        .and_then(|e| member(e, "enabled"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Err(unsupported("encryption.enabled", "Bucket encryption"));
    }
    if let Some(mode) = member(body, "retention")
        .and_then(|r| member(r, "mode"))
        .and_then(Value::as_str)
        && mode != "no_lock"
    {
        return Err(unsupported("retention.mode", "Object locking"));
    }
    if member(body, "qos_policy").is_some() {
        return Err(unsupported("qos_policy", "A QoS policy on a bucket"));
    }
    if member(body, "snapshot_policy").is_some() {
        return Err(unsupported(
            "snapshot_policy",
            "A snapshot policy on a bucket",
        ));
    }
    Ok(())
}

/// The bounds netapp-ontap's schemas give `size`: 190 MB (S3BucketSvm) to 60 PB
/// (S3Bucket); the per-SVM and cluster-wide resources disagree, so the union.
const MIN_SIZE: u64 = 199_229_440;
const MAX_SIZE: u64 = 67_553_994_410_557_440;

fn parse_size(body: &Value, target: &str) -> ApiResult<Option<u64>> {
    match member(body, "size") {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (MIN_SIZE..=MAX_SIZE).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    Code::InvalidFieldValue,
                    format!("\"{v}\" is an invalid value for field \"{target}size\": use {MIN_SIZE} to {MAX_SIZE} bytes."),
                )
                .with_target(format!("{target}size"))
            }),
    }
}

fn parse_versioning(body: &Value) -> ApiResult<Option<Versioning>> {
    let Some(text) = opt_str(body, "versioning_state", "versioning_state")? else {
        return Ok(None);
    };
    match Versioning::parse(&text) {
        None => Err(ApiError::invalid_value("versioning_state", &text)),
        Some(Versioning::Enabled) => Err(ApiError::new(
            Code::InvalidField,
            crate::s3::versioning::NOT_VERSIONED,
        )
        .with_target("versioning_state")),
        Some(v) => Ok(Some(v)),
    }
}

fn parse_selector(body: &Value) -> Option<Value> {
    member(body, "audit_event_selector").map(|s| {
        json!({
            "access": member(s, "access").cloned().unwrap_or(json!("all")),
            "permission": member(s, "permission").cloned().unwrap_or(json!("all")),
        })
    })
}

/// A new bucket of `svm_uuid` from a POST body (or one inline `buckets` entry).
pub fn make_bucket(svm_uuid: &str, body: &Value, target: &str) -> ApiResult<Bucket> {
    let name = ApiError::required_str(body, "name")
        .map_err(|_| ApiError::required(&format!("{target}name")))?
        .to_string();
    s3model::names::check_bucket_name(&name).map_err(|reason| bucket_name_error(&name, reason))?;
    let comment = opt_str(body, "comment", "comment")?.unwrap_or_default();
    check_comment(&comment, &format!("{target}comment"))?;
    let kind = match opt_str(body, "type", "type")?.as_deref() {
        None | Some("s3") => BucketType::S3,
        Some("nas") => {
            return Err(ApiError::new(
                Code::InvalidField,
                "Multiprotocol (nas) buckets are not supported by this Vigil release: use type \"s3\".",
            )
            .with_target(format!("{target}type")));
        }
        Some(other) => return Err(ApiError::invalid_value("type", other)),
    };
    if member(body, "nas_path").is_some() {
        return Err(ApiError::new(
            Code::InvalidCombination,
            "\"nas_path\" is only valid for buckets of type \"nas\".",
        )
        .with_target(format!("{target}nas_path")));
    }
    refuse_unsupported(body, target)?;
    let policy = parse_policy(body, &name)?.unwrap_or_default();
    Ok(Bucket {
        uuid: uuid::Uuid::new_v4().to_string(),
        svm_uuid: svm_uuid.to_string(),
        name,
        comment,
        size: parse_size(body, target)?.unwrap_or(DEFAULT_BUCKET_SIZE),
        kind,
        nas_path: None,
        versioning_state: parse_versioning(body)?.unwrap_or(Versioning::Disabled),
        audit_event_selector: parse_selector(body),
        create_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        policy,
        owner: None,
    })
}

fn apply_patch(current: &Bucket, body: &Value) -> ApiResult<Bucket> {
    refuse_unsupported(body, "")?;
    let mut next = current.clone();
    if let Some(comment) = opt_str(body, "comment", "comment")? {
        check_comment(&comment, "comment")?;
        next.comment = comment;
    }
    if let Some(size) = parse_size(body, "")? {
        next.size = size;
    }
    if let Some(policy) = parse_policy(body, &current.name)? {
        next.policy = policy;
    }
    if let Some(v) = parse_versioning(body)? {
        if !current.versioning_state.may_become(v) {
            return Err(ApiError::new(
                Code::InvalidFieldValue,
                "Versioning cannot be disabled once it has been enabled: suspend it instead.",
            )
            .with_target("versioning_state"));
        }
        next.versioning_state = v;
    }
    if let Some(selector) = body.get("audit_event_selector") {
        next.audit_event_selector = if selector.is_null() {
            None
        } else {
            parse_selector(body)
        };
    }
    Ok(next)
}

pub fn svm_root(svm: &Value) -> PathBuf {
    PathBuf::from(svm["root_path"].as_str().unwrap_or_default())
}

pub fn bucket_failure(e: BucketError) -> ApiError {
    match e {
        BucketError::Exists(name) => ApiError::new(
            Code::Duplicate,
            format!("A bucket named \"{name}\" already exists on the SVM."),
        )
        .with_target("name"),
        BucketError::NotEmpty(name) => ApiError::new(
            Code::InUse,
            format!("Bucket \"{name}\" is not empty: delete its objects first."),
        ),
        other => ApiError::internal(other.to_string()),
    }
}

fn stored(state: &State, uuid: &str) -> ApiResult<Bucket> {
    state
        .store
        .get(BUCKET_KIND, uuid)
        .and_then(|d| buckets::from_doc(&d))
        .ok_or_else(|| ApiError::not_found("uuid"))
}

#[async_trait]
impl Resource for S3Buckets {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let list: Vec<Bucket> = match keys.get("svm.uuid").filter(|k| *k != "*") {
            Some(uuid) => {
                path_svm(&self.state, uuid)?;
                super::buckets_of(&self.state, uuid)
            }
            None => super::stored_buckets(&self.state),
        };
        let with_svm: Vec<(Bucket, Arc<Value>)> = list
            .into_iter()
            .filter_map(|b| {
                let svm = self.state.svm(&b.svm_uuid)?;
                Some((b, svm))
            })
            .collect();
        let used = {
            let dirs: Vec<(PathBuf, String, BucketType)> = with_svm
                .iter()
                .map(|(b, svm)| (svm_root(svm), b.uuid.clone(), b.kind))
                .collect();
            tokio::task::spawn_blocking(move || {
                dirs.iter()
                    .map(|(root, uuid, kind)| match kind {
                        BucketType::S3 => BucketDir::new(root, uuid).used(),
                        BucketType::Nas => 0,
                    })
                    .collect::<Vec<u64>>()
            })
            .await
            .map_err(|e| ApiError::internal(format!("measuring buckets: {e}")))?
        };
        Ok(with_svm
            .iter()
            .zip(used)
            .map(|((b, svm), used)| render(b, svm, used).into())
            .collect())
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let svm = if self.cluster_wide {
            let reference = body.get("svm").cloned().unwrap_or(Value::Null);
            self.state.resolve_svm_ref(&reference, "svm")?
        } else {
            let uuid = keys.get("svm.uuid").cloned().unwrap_or_default();
            let svm = path_svm(&self.state, &uuid)?;
            if let Some(given) = body
                .get("svm")
                .and_then(|s| s.get("uuid"))
                .and_then(Value::as_str)
                && given != uuid
            {
                return Err(ApiError::invalid_value("svm.uuid", given));
            }
            svm
        };
        require_service(&self.state, &svm)?;
        let svm_uuid = svm["uuid"].as_str().unwrap_or_default().to_string();
        let bucket = make_bucket(&svm_uuid, &body, "")?;
        if buckets::by_name(&self.state.store, &svm_uuid, &bucket.name).is_some() {
            return Err(bucket_failure(BucketError::Exists(bucket.name)));
        }
        let record = json!({"svm": {"uuid": svm_uuid}, "uuid": bucket.uuid, "name": bucket.name});
        let state = Arc::clone(&self.state);
        let root = svm_root(&svm);
        let work = Work::Job(Box::pin(async move {
            buckets::create(&state.store, &root, bucket)
                .await
                .map_err(bucket_failure)?;
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
        let uuid = record["uuid"].as_str().unwrap_or_default().to_string();
        let current = stored(&self.state, &uuid)?;
        apply_patch(&current, &body)?;
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            let mut txn = state.store.begin().await;
            // Applied again to what is stored now, in case another PATCH ran first.
            let current = txn
                .get(BUCKET_KIND, &uuid)
                .and_then(|d| buckets::from_doc(&d))
                .ok_or_else(|| ApiError::not_found("uuid"))?;
            let next = apply_patch(&current, &body)?;
            let doc = serde_json::to_value(&next).map_err(|e| ApiError::internal(e.to_string()))?;
            txn.put(BUCKET_KIND, &uuid, doc);
            txn.commit().await?;
            Ok("success".to_string())
        })))
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let uuid = record["uuid"].as_str().unwrap_or_default().to_string();
        let bucket = stored(&self.state, &uuid)?;
        let svm = path_svm(&self.state, &bucket.svm_uuid)?;
        let root = svm_root(&svm);
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            buckets::delete(&state.store, &root, &bucket)
                .await
                .map_err(bucket_failure)?;
            Ok("success".to_string())
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_rules() {
        let b = make_bucket("u", &json!({"name": "bkt-1"}), "").unwrap();
        assert_eq!(b.kind, BucketType::S3);
        assert_eq!(b.size, DEFAULT_BUCKET_SIZE);
        assert_eq!(b.versioning_state, Versioning::Disabled);
        let code = |body: Value| make_bucket("u", &body, "").unwrap_err().code;
        assert_eq!(code(json!({})), Code::RequiredValueMissing);
        assert_eq!(code(json!({"name": "Bad_Name"})), Code::S3BucketNameChars);
        assert_eq!(code(json!({"name": "ab"})), Code::S3BucketNameLength);
        assert_eq!(
            code(json!({"name": "bkt", "type": "nas", "nas_path": "/x"})),
            Code::InvalidField
        );
        assert_eq!(
            code(json!({"name": "bkt", "policy": {"statements": [{"effect": "allow"}]}})),
            Code::InvalidFieldValue
        );
        assert_eq!(
            code(
                json!({"name": "bkt", "policy": {"statements": [{"effect": "allow",
                "actions": ["*"], "principals": ["*"], "resources": ["bkt/*"],
                "conditions": [{"operator": "ip_address", "source_ips": ["1.2.3.4"]}]}]}})
            ),
            Code::InvalidField
        );
        assert_eq!(
            code(
                json!({"name": "bkt", "policy": {"statements": [{"effect": "allow",
                "actions": ["GetObject"], "principals": ["*"], "resources": ["other/*"]}]}})
            ),
            Code::InvalidFieldValue
        );
        let with_policy = make_bucket("u", &json!({"name": "bkt", "policy": {"statements": [
            {"effect": "deny", "actions": ["DeleteObject"], "principals": ["group/g"], "resources": ["bkt/*"], "sid": "s"}
        ]}}), "").unwrap();
        assert_eq!(with_policy.policy.len(), 1);
        assert_eq!(with_policy.policy[0].principals, ["group/g"]);
        assert_eq!(
            code(json!({"name": "bkt", "versioning_state": "enabled"})),
            Code::InvalidField
        );
        assert_eq!(
            code(json!({"name": "bkt", "encryption": {"enabled": true}})),
            Code::InvalidField
        );
        assert_eq!(
            code(json!({"name": "bkt", "size": 0})),
            Code::InvalidFieldValue
        );
    }

    #[test]
    fn patch_rules() {
        let b = make_bucket("u", &json!({"name": "bkt"}), "").unwrap();
        let on = apply_patch(&b, &json!({"versioning_state": "suspended"})).unwrap();
        assert_eq!(on.versioning_state, Versioning::Suspended);
        assert_eq!(
            apply_patch(&on, &json!({"versioning_state": "disabled"}))
                .unwrap_err()
                .code,
            Code::InvalidFieldValue
        );
        let sel = apply_patch(&b, &json!({"audit_event_selector": {"access": "write"}})).unwrap();
        assert_eq!(
            sel.audit_event_selector,
            Some(json!({"access": "write", "permission": "all"}))
        );
        let off = apply_patch(&sel, &json!({"audit_event_selector": null})).unwrap();
        assert_eq!(off.audit_event_selector, None);
    }
}
