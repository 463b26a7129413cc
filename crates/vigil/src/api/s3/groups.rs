//! `/api/protocols/s3/services/{svm.uuid}/groups`: groups of an SVM's S3 users, each
//! with the named policies (`policies.rs`) its users are granted. `id` is an integer
//! Vigil assigns: one more than the highest id of the SVM's groups.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{array_of, integer, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Params, Record, Resource, ResourceDef, Schema,
    VsadminAccess, Work,
};
use s3model::policy::{GROUP_KIND, Group, group_id};
use serde_json::{Value, json};

use super::{check_comment, member, opt_str, path_svm, path_svm_with_service, users_of};
use crate::s3::policies::{groups_of, policies_of};
use crate::state::{State, svm_ref};

const PATH: &str = "/api/protocols/s3/services/{svm.uuid}/groups";
const INSTANCE: &str = "/api/protocols/s3/services/{svm.uuid}/groups/{id}";

pub struct S3Groups {
    state: Arc<State>,
    def: ResourceDef,
}

impl S3Groups {
    pub fn new(state: &Arc<State>) -> S3Groups {
        let fields = vec![
            reference("svm").read_only().identity(),
            integer("id").read_only().identity(),
            string("name").read_write().identity(),
            string("comment").read_write(),
            array_of("users", vec![string("name")]).read_write(),
            array_of("policies", vec![string("name")]).read_write(),
        ];
        let mut def = ResourceDef::new(Schema::new(fields));
        def.collection = Some(PATH);
        def.instance = Some(INSTANCE);
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        S3Groups {
            state: Arc::clone(state),
            def,
        }
    }
}

fn render(group: &Group, svm: &Value) -> Value {
    let names =
        |list: &[String]| -> Vec<Value> { list.iter().map(|n| json!({"name": n})).collect() };
    json!({
        "svm": svm_ref(svm),
        "id": group.id,
        "name": group.name,
        "comment": group.comment,
        "users": names(&group.users),
        "policies": names(&group.policies),
    })
}

/// The names a body gives for `users` or `policies`; `None`: not given.
type Names = Option<Vec<String>>;

/// The names in `[{name}, ...]`, each checked by `known`, duplicates dropped.
fn names(body: &Value, field: &str, known: impl Fn(&str) -> bool, what: &str) -> ApiResult<Names> {
    let Some(list) = member(body, field) else {
        return Ok(None);
    };
    let target = format!("{field}.name");
    let list = list
        .as_array()
        .ok_or_else(|| ApiError::invalid_value(field, &list.to_string()))?;
    let mut out: Vec<String> = Vec::new();
    for entry in list {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::required(&target))?;
        if !known(name) {
            return Err(ApiError::new(
                Code::InvalidFieldValue,
                format!("{what} \"{name}\" does not exist on the SVM's S3 server."),
            )
            .with_target(target));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Ok(Some(out))
}

impl S3Groups {
    /// The users and policies a body names, each required to exist.
    fn members(&self, svm_uuid: &str, body: &Value) -> ApiResult<(Names, Names)> {
        let users = users_of(&self.state, svm_uuid);
        let policies = policies_of(&self.state.store, svm_uuid);
        let users = names(
            body,
            "users",
            |n| users.iter().any(|u| u.name == n),
            "S3 user",
        )?;
        let policies = names(
            body,
            "policies",
            |n| n == "*" || policies.iter().any(|p| p.name == n),
            "S3 policy",
        )?;
        Ok((users, policies))
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    s3model::names::check_group_name(name).map_err(|why| {
        ApiError::new(Code::InvalidFieldValue, format!("{why}.")).with_target("name")
    })
}

fn name_taken(groups: &[Group], name: &str, except: Option<u64>) -> ApiResult<()> {
    if groups
        .iter()
        .any(|g| g.name == name && Some(g.id) != except)
    {
        return Err(ApiError::new(
            Code::Duplicate,
            format!("S3 group \"{name}\" already exists on the SVM."),
        )
        .with_target("name"));
    }
    Ok(())
}

fn stored_groups(txn: &store::Txn<'_>, svm_uuid: &str) -> Vec<Group> {
    txn.list(GROUP_KIND)
        .into_iter()
        .filter(|(_, d)| d["svm_uuid"] == svm_uuid)
        .filter_map(|(_, d)| serde_json::from_value(d).ok())
        .collect()
}

fn doc(group: &Group) -> ApiResult<Value> {
    serde_json::to_value(group).map_err(|e| ApiError::internal(e.to_string()))
}

#[async_trait]
impl Resource for S3Groups {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let uuid = keys.get("svm.uuid").cloned().unwrap_or_default();
        let svm = path_svm(&self.state, &uuid)?;
        Ok(groups_of(&self.state.store, &uuid)
            .iter()
            .map(|g| render(g, &svm).into())
            .collect())
    }

    async fn create(
        &self,
        _ctx: &Ctx,
        keys: &Keys,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Created> {
        let uuid = path_svm_with_service(&self.state, keys)?;
        let name = ApiError::required_str(&body, "name")?.to_string();
        check_name(&name)?;
        let comment = opt_str(&body, "comment", "comment")?.unwrap_or_default();
        check_comment(&comment, "comment")?;
        let (users, policies) = self.members(&uuid, &body)?;
        let users = users.ok_or_else(|| ApiError::required("users"))?;
        let policies = policies.ok_or_else(|| ApiError::required("policies"))?;
        let mut txn = self.state.store.begin().await;
        let groups = stored_groups(&txn, &uuid);
        name_taken(&groups, &name, None)?;
        let id = groups.iter().map(|g| g.id).max().unwrap_or(0) + 1;
        let group = Group {
            svm_uuid: uuid.clone(),
            id,
            name,
            comment,
            users,
            policies,
        };
        txn.put(GROUP_KIND, &group_id(&uuid, id), doc(&group)?);
        txn.commit().await?;
        Ok(Created {
            record: json!({"svm": {"uuid": uuid}, "id": id, "name": group.name}),
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
        let uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let id = record["id"].as_u64().unwrap_or_default();
        let (users, policies) = self.members(uuid, &body)?;
        let mut txn = self.state.store.begin().await;
        let groups = stored_groups(&txn, uuid);
        let mut group = groups
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("id"))?;
        if let Some(name) = opt_str(&body, "name", "name")? {
            check_name(&name)?;
            name_taken(&groups, &name, Some(id))?;
            group.name = name;
        }
        if let Some(comment) = opt_str(&body, "comment", "comment")? {
            check_comment(&comment, "comment")?;
            group.comment = comment;
        }
        if let Some(users) = users {
            group.users = users;
        }
        if let Some(policies) = policies {
            group.policies = policies;
        }
        txn.put(GROUP_KIND, &group_id(uuid, id), doc(&group)?);
        txn.commit().await?;
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let id = record["id"].as_u64().unwrap_or_default();
        let mut txn = self.state.store.begin().await;
        txn.delete(GROUP_KIND, &group_id(uuid, id));
        txn.commit().await?;
        Ok(Work::Done)
    }
}

/// Takes a deleted user out of every group of its SVM, in the deleting transaction, so
/// that a new user of the same name does not inherit the old one's groups.
pub fn forget_user(txn: &mut store::Txn<'_>, svm_uuid: &str, user: &str) {
    for mut group in stored_groups(txn, svm_uuid) {
        if group.users.iter().any(|u| u == user) {
            group.users.retain(|u| u != user);
            if let Ok(d) = serde_json::to_value(&group) {
                txn.put(GROUP_KIND, &group_id(svm_uuid, group.id), d);
            }
        }
    }
}
