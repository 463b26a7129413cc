//! `/api/protocols/s3/services/{svm.uuid}/policies`: named policies of an SVM's S3
//! server, attached to groups (`groups.rs`) and evaluated for every S3 request of the
//! groups' users (`crate::s3::authorize`). ONTAP's built-in `FullAccess`,
//! `NoS3Access` and `ReadOnlyAccess` are listed on every server with `read-only: true`
//! and cannot be changed or deleted.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, array_of, boolean, enumeration, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Params, Record, Resource, ResourceDef, Schema,
    VsadminAccess, Work,
};
use s3model::policy::{
    Effect, POLICY_KIND, Policy, Statement, check_action, check_resource, number_sids, policy_id,
};
use serde_json::{Value, json};

use super::{check_comment, member, opt_str, path_svm, path_svm_with_service};
use crate::s3::policies::{groups_of, is_builtin, policies_of};
use crate::state::{State, svm_ref};

const PATH: &str = "/api/protocols/s3/services/{svm.uuid}/policies";
const INSTANCE: &str = "/api/protocols/s3/services/{svm.uuid}/policies/{name}";

pub struct S3Policies {
    state: Arc<State>,
    def: ResourceDef,
}

impl S3Policies {
    pub fn new(state: &Arc<State>) -> S3Policies {
        let fields = vec![
            reference("svm").read_only().identity(),
            string("name").create().identity(),
            string("comment").read_write(),
            array_of(
                "statements",
                vec![
                    enumeration("effect", &["allow", "deny"]),
                    array("actions", Ty::String),
                    array("resources", Ty::String),
                    string("sid"),
                ],
            )
            .read_write(),
            boolean("read-only").read_only(),
        ];
        let mut def = ResourceDef::new(Schema::new(fields));
        def.collection = Some(PATH);
        def.instance = Some(INSTANCE);
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        S3Policies {
            state: Arc::clone(state),
            def,
        }
    }
}

fn render(policy: &Policy, svm: &Value) -> Value {
    let statements: Vec<Value> = policy
        .statements
        .iter()
        .map(|s| {
            json!({
                "effect": s.effect.as_str(),
                "actions": s.actions,
                "resources": s.resources,
                "sid": s.sid,
            })
        })
        .collect();
    json!({
        "svm": svm_ref(svm),
        "name": policy.name,
        "comment": policy.comment,
        "statements": statements,
        "read-only": is_builtin(&policy.name),
    })
}

fn bad(target: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidFieldValue, message).with_target(target)
}

fn strings(v: Option<&Value>, target: &str) -> ApiResult<Vec<String>> {
    let items = v
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad(target, format!("\"{target}\" needs at least one entry.")))?;
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(String::from)
                .ok_or_else(|| ApiError::invalid_value(target, &i.to_string()))
        })
        .collect()
}

/// The statements of a named policy. The same checks as a bucket policy's, less
/// principals (a group's users are the principals).
pub fn parse_statements(body: &Value) -> ApiResult<Vec<Statement>> {
    let Some(list) = member(body, "statements") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| ApiError::invalid_value("statements", &list.to_string()))?;
    let mut out = list
        .iter()
        .map(|s| {
            let effect = match member(s, "effect").and_then(Value::as_str) {
                Some("allow") => Effect::Allow,
                Some("deny") => Effect::Deny,
                Some(other) => return Err(ApiError::invalid_value("statements.effect", other)),
                None => return Err(ApiError::required("statements.effect")),
            };
            let actions = strings(member(s, "actions"), "statements.actions")?;
            for a in &actions {
                check_action(a).map_err(|why| bad("statements.actions", why))?;
            }
            let resources = strings(member(s, "resources"), "statements.resources")?;
            for r in &resources {
                check_resource(r).map_err(|why| bad("statements.resources", why))?;
            }
            let sid = opt_str(s, "sid", "statements.sid")?;
            if let Some(sid) = &sid
                && !(1..=256).contains(&sid.chars().count())
            {
                return Err(bad("statements.sid", "\"sid\" is 1 to 256 characters."));
            }
            Ok(Statement {
                effect,
                actions,
                principals: Vec::new(),
                resources,
                sid,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    number_sids(&mut out);
    Ok(out)
}

fn refuse_builtin(name: &str) -> ApiResult<()> {
    if is_builtin(name) {
        return Err(ApiError::new(
            Code::InvalidField,
            format!("\"{name}\" is a built-in, read-only policy: it cannot be changed or deleted."),
        )
        .with_target("name"));
    }
    Ok(())
}

#[async_trait]
impl Resource for S3Policies {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let uuid = keys.get("svm.uuid").cloned().unwrap_or_default();
        let svm = path_svm(&self.state, &uuid)?;
        if super::service_of(&self.state, &uuid).is_none() {
            return Ok(Vec::new());
        }
        Ok(policies_of(&self.state.store, &uuid)
            .iter()
            .map(|p| render(p, &svm).into())
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
        s3model::names::check_policy_name(&name).map_err(|why| bad("name", format!("{why}.")))?;
        let comment = opt_str(&body, "comment", "comment")?.unwrap_or_default();
        check_comment(&comment, "comment")?;
        let policy = Policy {
            svm_uuid: uuid.clone(),
            name: name.clone(),
            comment,
            statements: parse_statements(&body)?,
        };
        let duplicate = || {
            ApiError::new(
                Code::Duplicate,
                format!("S3 policy \"{name}\" already exists on the SVM."),
            )
            .with_target("name")
        };
        if is_builtin(&name) {
            return Err(duplicate());
        }
        let mut txn = self.state.store.begin().await;
        let id = policy_id(&uuid, &name);
        if txn.get(POLICY_KIND, &id).is_some() {
            return Err(duplicate());
        }
        let doc = serde_json::to_value(&policy).map_err(|e| ApiError::internal(e.to_string()))?;
        txn.put(POLICY_KIND, &id, doc);
        txn.commit().await?;
        Ok(Created {
            record: json!({"svm": {"uuid": uuid}, "name": name}),
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
        let name = record["name"].as_str().unwrap_or_default();
        refuse_builtin(name)?;
        let id = policy_id(uuid, name);
        let mut txn = self.state.store.begin().await;
        let mut policy: Policy = txn
            .get(POLICY_KIND, &id)
            .and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| ApiError::not_found("name"))?;
        if let Some(comment) = opt_str(&body, "comment", "comment")? {
            check_comment(&comment, "comment")?;
            policy.comment = comment;
        }
        if body.get("statements").is_some() {
            policy.statements = parse_statements(&body)?;
        }
        let doc = serde_json::to_value(&policy).map_err(|e| ApiError::internal(e.to_string()))?;
        txn.put(POLICY_KIND, &id, doc);
        txn.commit().await?;
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        refuse_builtin(name)?;
        // A policy a group names by name stays until the group lets go of it, so that
        // the group's users do not silently lose (or, with a deny, gain) access.
        if let Some(group) = groups_of(&self.state.store, uuid)
            .iter()
            .find(|g| g.policies.iter().any(|p| p == name))
        {
            return Err(ApiError::new(
                Code::InUse,
                format!(
                    "S3 policy \"{name}\" is attached to group \"{}\": detach it first.",
                    group.name
                ),
            )
            .with_target("name"));
        }
        let mut txn = self.state.store.begin().await;
        txn.delete(POLICY_KIND, &policy_id(uuid, name));
        txn.commit().await?;
        Ok(Work::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        let ok = parse_statements(&json!({"statements": [
            {"effect": "allow", "actions": ["GetObject", "s3:List*"], "resources": ["b", "b/*"], "sid": "s1"}
        ]}))
        .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].effect, Effect::Allow);
        let code = |body: Value| parse_statements(&body).unwrap_err().code;
        assert_eq!(
            code(json!({"statements": [{"actions": ["*"], "resources": ["*"]}]})),
            Code::RequiredValueMissing
        );
        assert_eq!(
            code(json!({"statements": [{"effect": "allow", "actions": [], "resources": ["*"]}]})),
            Code::InvalidFieldValue
        );
        assert_eq!(
            code(
                json!({"statements": [{"effect": "allow", "actions": ["Fly"], "resources": ["*"]}]})
            ),
            Code::InvalidFieldValue
        );
        assert_eq!(
            code(json!({"statements": [{"effect": "allow", "actions": ["*"]}]})),
            Code::InvalidFieldValue
        );
    }
}
