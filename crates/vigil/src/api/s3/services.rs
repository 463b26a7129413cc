//! `/api/protocols/s3/services` and `/{svm.uuid}`: the S3 server of each SVM. A POST
//! may carry inline `buckets[]` and `users[]`; its reply then lists the created users
//! with their keys. The listeners follow each change before it is committed, so a port
//! that cannot be bound is an error now and the record never claims a listener that
//! does not run. DELETE takes `delete_all` (default true: the SVM's users and empty
//! buckets go too; a bucket holding objects stops it).

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{array_of, boolean, integer, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Method, Params, Record, Resource, ResourceDef,
    Schema, VsadminAccess, Work,
};
use s3model::model::{BUCKET_KIND, SERVICE_KIND, Service, USER_KIND, user_id};
use serde_json::{Value, json};

use super::buckets::{bucket_failure, bucket_fields, make_bucket, svm_root};
use super::users::{keys_reply, make_user, user_doc, user_fields};
use super::{buckets_of, check_comment, member, opt_bool, opt_str, path_svm, service_of, users_of};
use crate::s3::buckets::{self, BucketError};
use crate::state::{State, svm_ref};

const PATH: &str = "/api/protocols/s3/services";
const INSTANCE: &str = "/api/protocols/s3/services/{svm.uuid}";

pub struct S3Services {
    state: Arc<State>,
    def: ResourceDef,
}

impl S3Services {
    pub fn new(state: &Arc<State>) -> S3Services {
        let mut def = ResourceDef::new(Schema::new(vec![
            reference("svm").create().identity(),
            string("name").read_write().identity(),
            boolean("enabled").read_write(),
            string("comment").read_write(),
            boolean("is_http_enabled").read_write(),
            boolean("is_https_enabled").read_write(),
            integer("port").read_write(),
            integer("secure_port").read_write(),
            reference("certificate").read_write(),
            array_of("buckets", bucket_fields()).create(),
            array_of("users", user_fields()).create(),
        ]));
        def.collection = Some(PATH);
        def.instance = Some(INSTANCE);
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        def.params = &[(Method::Delete, "delete_all")];
        S3Services {
            state: Arc::clone(state),
            def,
        }
    }
}

fn render(state: &State, service: &Service, svm: &Value) -> Value {
    let buckets: Vec<Value> = buckets_of(state, &service.svm_uuid)
        .iter()
        .map(|b| json!({"name": b.name, "uuid": b.uuid}))
        .collect();
    let users: Vec<Value> = users_of(state, &service.svm_uuid)
        .iter()
        .map(|u| {
            let mut r = json!({"name": u.name, "comment": u.comment});
            if !u.access_key.is_empty() {
                r["access_key"] = json!(u.access_key);
            }
            r
        })
        .collect();
    json!({
        "svm": svm_ref(svm),
        "name": service.name,
        "enabled": service.enabled,
        "comment": service.comment,
        "is_http_enabled": service.is_http_enabled,
        "is_https_enabled": service.is_https_enabled,
        "port": service.port,
        "secure_port": service.secure_port,
        "buckets": buckets,
        "users": users,
    })
}

fn check_name(name: &str) -> ApiResult<()> {
    s3model::names::check_server_name(name).map_err(|reason| {
        let code = if (3..=253).contains(&name.chars().count()) {
            Code::S3ServerNameChars
        } else {
            Code::S3ServerNameLength
        };
        ApiError::new(
            code,
            format!("The S3 server name \"{name}\" is not valid: {reason}."),
        )
        .with_target("name")
    })
}

fn port(body: &Value, name: &str) -> ApiResult<Option<u16>> {
    match member(body, name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    Code::InvalidFieldValue,
                    format!("\"{v}\" is an invalid value for field \"{name}\": use 1 to 65535."),
                )
                .with_target(name)
            }),
    }
}

/// The body's settings applied to `service` (the same for POST and PATCH).
fn apply(service: &mut Service, body: &Value) -> ApiResult<()> {
    if member(body, "certificate").is_some() {
        return Err(ApiError::new(
            Code::InvalidField,
            "Vigil serves S3 over HTTPS with the node's certificate; naming another certificate is not supported by this release.",
        )
        .with_target("certificate"));
    }
    if let Some(name) = opt_str(body, "name", "name")? {
        check_name(&name)?;
        service.name = name;
    }
    if let Some(comment) = opt_str(body, "comment", "comment")? {
        check_comment(&comment, "comment")?;
        service.comment = comment;
    }
    if let Some(b) = opt_bool(body, "enabled")? {
        service.enabled = b;
    }
    if let Some(b) = opt_bool(body, "is_http_enabled")? {
        service.is_http_enabled = b;
    }
    if let Some(b) = opt_bool(body, "is_https_enabled")? {
        service.is_https_enabled = b;
    }
    if let Some(p) = port(body, "port")? {
        service.port = p;
    }
    if let Some(p) = port(body, "secure_port")? {
        service.secure_port = p;
    }
    Ok(())
}

fn listener_failure(message: String) -> ApiError {
    ApiError::new(
        Code::InvalidFieldValue,
        format!("The S3 server cannot start: {message}."),
    )
    .with_target("port")
}

fn entries<'a>(body: &'a Value, name: &str) -> &'a [Value] {
    member(body, name)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[async_trait]
impl Resource for S3Services {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let docs = match keys.get("svm.uuid").filter(|k| *k != "*") {
            Some(uuid) => self
                .state
                .store
                .get(SERVICE_KIND, uuid)
                .into_iter()
                .collect(),
            None => self.state.store.list(SERVICE_KIND),
        };
        let mut out = Vec::new();
        for doc in docs {
            let Ok(service) = serde_json::from_value::<Service>(doc.as_ref().clone()) else {
                continue;
            };
            let Some(svm) = self.state.svm(&service.svm_uuid) else {
                continue;
            };
            out.push(render(&self.state, &service, &svm).into());
        }
        Ok(out)
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        _keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let reference = body.get("svm").cloned().unwrap_or(Value::Null);
        let svm = self.state.resolve_svm_ref(&reference, "svm")?;
        let svm_uuid = svm["uuid"].as_str().unwrap_or_default().to_string();
        let name = ApiError::required_str(&body, "name")?.to_string();
        check_name(&name)?;
        if service_of(&self.state, &svm_uuid).is_some() {
            return Err(ApiError::new(
                Code::Duplicate,
                format!(
                    "SVM \"{}\" already has an S3 server.",
                    svm["name"].as_str().unwrap_or_default()
                ),
            )
            .with_target("svm.uuid"));
        }
        let mut service = Service::new(&svm_uuid, &name);
        apply(&mut service, &body)?;
        let mut new_buckets = Vec::new();
        for (i, entry) in entries(&body, "buckets").iter().enumerate() {
            let bucket = make_bucket(&svm_uuid, entry, &format!("buckets[{i}]."))?;
            if new_buckets
                .iter()
                .any(|b: &s3model::model::Bucket| b.name == bucket.name)
                || buckets::by_name(&self.state.store, &svm_uuid, &bucket.name).is_some()
            {
                return Err(bucket_failure(BucketError::Exists(bucket.name)));
            }
            new_buckets.push(bucket);
        }
        let mut new_users = Vec::new();
        let mut key_records = Vec::new();
        for (i, entry) in entries(&body, "users").iter().enumerate() {
            let (user, record) = make_user(&self.state, &svm_uuid, entry, &format!("users[{i}]."))?;
            if new_users
                .iter()
                .any(|u: &s3model::model::User| u.name == user.name)
            {
                return Err(ApiError::new(
                    Code::Duplicate,
                    format!("S3 user \"{}\" is listed twice.", user.name),
                )
                .with_target(format!("users[{i}].name")));
            }
            new_users.push(user);
            key_records.push(record);
        }
        crate::s3::endpoints::apply(&self.state, &svm_uuid, Some(&service))
            .map_err(listener_failure)?;
        let mut txn = self.state.store.begin().await;
        if txn.get(SERVICE_KIND, &svm_uuid).is_some() {
            return Err(
                ApiError::new(Code::Duplicate, "The SVM already has an S3 server.")
                    .with_target("svm.uuid"),
            );
        }
        txn.put(
            SERVICE_KIND,
            &svm_uuid,
            serde_json::to_value(&service).map_err(|e| ApiError::internal(e.to_string()))?,
        );
        for user in &new_users {
            txn.put(USER_KIND, &user_id(&svm_uuid, &user.name), user_doc(user));
        }
        if let Err(e) = txn.commit().await {
            let _ = crate::s3::endpoints::apply(&self.state, &svm_uuid, None);
            return Err(e.into());
        }
        let root = svm_root(&svm);
        for bucket in new_buckets {
            buckets::create(&self.state.store, &root, bucket)
                .await
                .map_err(bucket_failure)?;
        }
        let work = if key_records.is_empty() {
            Work::Done
        } else {
            Work::Reply(keys_reply(key_records))
        };
        Ok(Created {
            record: json!({"svm": {"uuid": svm_uuid, "name": svm["name"]}, "name": name}),
            work,
        })
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut txn = self.state.store.begin().await;
        let current: Service = txn
            .get(SERVICE_KIND, &svm_uuid)
            .and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| ApiError::not_found("svm.uuid"))?;
        let mut next = current.clone();
        apply(&mut next, &body)?;
        crate::s3::endpoints::apply(&self.state, &svm_uuid, Some(&next))
            .map_err(listener_failure)?;
        txn.put(
            SERVICE_KIND,
            &svm_uuid,
            serde_json::to_value(&next).map_err(|e| ApiError::internal(e.to_string()))?,
        );
        if let Err(e) = txn.commit().await {
            let _ = crate::s3::endpoints::apply(&self.state, &svm_uuid, Some(&current));
            return Err(e.into());
        }
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, params: &Params) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let delete_all = match params.get("delete_all").map(|v| v.to_ascii_lowercase()) {
            None => true,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => return Err(ApiError::invalid_value("delete_all", &v)),
        };
        let svm = path_svm(&self.state, &svm_uuid)?;
        let svm_buckets = buckets_of(&self.state, &svm_uuid);
        let svm_users = users_of(&self.state, &svm_uuid);
        if !delete_all && (!svm_buckets.is_empty() || !svm_users.is_empty()) {
            return Err(ApiError::new(
                Code::InUse,
                "The S3 server still has buckets or users: delete them first, or use delete_all=true.",
            ));
        }
        let root = svm_root(&svm);
        let mut txn = self.state.store.begin().await;
        for bucket in &svm_buckets {
            if bucket.kind == s3model::model::BucketType::S3 {
                let dir = crate::s3::storage::BucketDir::new(&root, &bucket.uuid);
                let empty = tokio::task::spawn_blocking(move || dir.is_empty())
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                if !empty {
                    return Err(bucket_failure(BucketError::NotEmpty(bucket.name.clone())));
                }
            }
            txn.delete(BUCKET_KIND, &bucket.uuid);
        }
        for user in &svm_users {
            txn.delete(USER_KIND, &user_id(&svm_uuid, &user.name));
        }
        for kind in [s3model::policy::GROUP_KIND, s3model::policy::POLICY_KIND] {
            txn.delete_where(kind, |_, d| d["svm_uuid"] == svm_uuid.as_str());
        }
        txn.delete(SERVICE_KIND, &svm_uuid);
        txn.commit().await?;
        let _ = crate::s3::endpoints::apply(&self.state, &svm_uuid, None);
        for bucket in &svm_buckets {
            let _ = crate::s3::storage::BucketDir::new(&root, &bucket.uuid).remove();
        }
        Ok(Work::Done)
    }
}
