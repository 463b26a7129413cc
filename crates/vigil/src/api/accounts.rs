//! `/api/security/accounts`: login accounts and their roles.
//!
//! Vigil serves the `http` application with password authentication. `ontapi` and
//! `ssh` entries are accepted, stored and listed (automation creates accounts with
//! them), but Vigil serves neither. Account names are unique across owners so that
//! HTTP Basic's user name identifies one account.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, array_of, boolean, enumeration, object, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Params, Record, Resource, ResourceDef, Schema,
    Work,
};
use serde_json::{Value, json};

use crate::auth::{ACCOUNT_KIND as KIND, hash_password, verify_password};
use crate::state::State;

const MIN_PASSWORD: usize = 8;
/// `http` is served; `ontapi` and `ssh` are only recorded.
const APPLICATIONS: &[&str] = &["http", "ontapi", "ssh"];

pub struct AccountsResource {
    state: Arc<State>,
    def: ResourceDef,
}

fn key(owner_uuid: &str, name: &str) -> String {
    format!("{owner_uuid}/{name}")
}

fn check_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < MIN_PASSWORD || password.chars().count() > 128 {
        return Err(ApiError::new(
            Code::AccountPasswordTooShort,
            format!("The password must be {MIN_PASSWORD} to 128 characters long."),
        )
        .with_target("password"));
    }
    Ok(())
}

fn check_applications(apps: &Value) -> ApiResult<Value> {
    let Some(list) = apps.as_array() else {
        return Err(ApiError::invalid_value("applications", &apps.to_string()));
    };
    let mut out = Vec::new();
    for app in list {
        let name = app
            .get("application")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::required("applications.application"))?;
        if !APPLICATIONS.contains(&name) {
            return Err(ApiError::new(
                Code::InvalidFieldValue,
                format!(
                    "Application \"{name}\" is not accepted by Vigil; use \"http\", \"ontapi\" or \"ssh\"."
                ),
            )
            .with_target("applications.application"));
        }
        let methods = app
            .get("authentication_methods")
            .cloned()
            .unwrap_or(json!(["password"]));
        if methods != json!(["password"]) {
            return Err(ApiError::invalid_value(
                "applications.authentication_methods",
                &methods.to_string(),
            ));
        }
        let second = app
            .get("second_authentication_method")
            .cloned()
            .unwrap_or(json!("none"));
        if second != "none" {
            return Err(ApiError::invalid_value(
                "applications.second_authentication_method",
                &second.to_string(),
            ));
        }
        out.push(json!({"application": name, "authentication_methods": ["password"], "second_authentication_method": "none"}));
    }
    Ok(Value::Array(out))
}

fn hash(password: &str) -> ApiResult<String> {
    hash_password(password).map_err(|e| ApiError::internal(e.to_string()))
}

impl AccountsResource {
    pub fn new(state: &Arc<State>) -> AccountsResource {
        let mut def = ResourceDef::new(Schema::new(vec![
            string("name").create().identity(),
            object("owner", vec![string("uuid"), string("name")])
                .create()
                .identity(),
            object("role", vec![string("name")]).read_write(),
            array_of(
                "applications",
                vec![
                    string("application"),
                    array("authentication_methods", Ty::String),
                    string("second_authentication_method"),
                ],
            )
            .read_write(),
            string("password").write_only(),
            boolean("locked").read_write(),
            string("comment").read_write(),
            enumeration("scope", &["cluster", "svm"]).read_only(),
        ]));
        def.collection = Some("/api/security/accounts");
        def.instance = Some("/api/security/accounts/{owner.uuid}/{name}");
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.self_patch = &["password"];
        AccountsResource {
            state: Arc::clone(state),
            def,
        }
    }

    fn check_role(&self, scope: &str, role: &str) -> ApiResult<()> {
        let ok = match scope {
            "cluster" => matches!(role, "admin" | "readonly"),
            _ => role == "vsadmin",
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::AccountInvalidRole,
                format!("Role \"{role}\" is not valid for a {scope}-scoped account: cluster accounts take \"admin\" or \"readonly\", SVM accounts \"vsadmin\"."),
            )
            .with_target("role.name"))
        }
    }
}

/// Creates the `admin` account on first start.
pub async fn ensure_admin(state: &State, password: &str) -> anyhow::Result<()> {
    let (owner_uuid, owner_name) = state.admin_svm();
    let mut txn = state.store.begin().await;
    if txn.list(KIND).iter().any(|(_, a)| a["name"] == "admin") {
        return Ok(());
    }
    let record = json!({
        "name": "admin",
        "owner": {"uuid": owner_uuid, "name": owner_name},
        "role": {"name": "admin"},
        "applications": [{"application": "http", "authentication_methods": ["password"], "second_authentication_method": "none"}],
        "locked": false,
        "comment": "",
        "scope": "cluster",
        "password_hash": hash_password(password)?,
    });
    txn.put(KIND, &key(&owner_uuid, "admin"), record);
    txn.commit().await?;
    Ok(())
}

#[async_trait]
impl Resource for AccountsResource {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, _keys: &Keys) -> ApiResult<Vec<Record>> {
        let (_, admin_name) = self.state.admin_svm();
        Ok(self
            .state
            .store
            .list(KIND)
            .iter()
            .map(|a| {
                let mut r = (**a).clone();
                // owner.name follows renames of the cluster (admin SVM) and of SVMs.
                let current = if r["scope"] == "svm" {
                    r["owner"]["uuid"]
                        .as_str()
                        .and_then(|u| self.state.svm(u))
                        .map(|svm| svm["name"].clone())
                } else {
                    Some(json!(admin_name))
                };
                if let Some(name) = current {
                    r["owner"]["name"] = name;
                }
                if let Value::Object(m) = &mut r {
                    m.remove("password_hash");
                }
                r.into()
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
        if !(3..=64).contains(&name.chars().count())
            || name.contains(':')
            || name.chars().any(char::is_control)
        {
            return Err(ApiError::invalid_value("name", &name));
        }
        let password = ApiError::required_str(&body, "password")?;
        check_password(password)?;
        let (admin_uuid, admin_name) = self.state.admin_svm();
        let (owner, scope) = match body.get("owner") {
            Some(o)
                if o.get("uuid").is_some_and(|u| *u == admin_uuid.as_str())
                    || o.get("name").is_some_and(|n| *n == admin_name.as_str()) =>
            {
                (json!({"uuid": admin_uuid, "name": admin_name}), "cluster")
            }
            Some(o) => {
                let svm = self.state.resolve_svm_ref(o, "owner").map_err(|_| {
                    ApiError::new(Code::AccountOwnerNotFound, "The owner SVM does not exist.")
                        .with_target("owner")
                })?;
                (json!({"uuid": svm["uuid"], "name": svm["name"]}), "svm")
            }
            None => (json!({"uuid": admin_uuid, "name": admin_name}), "cluster"),
        };
        let role = body["role"]["name"]
            .as_str()
            .unwrap_or(if scope == "cluster" {
                "admin"
            } else {
                "vsadmin"
            })
            .to_string();
        self.check_role(scope, &role)?;
        let applications = match body.get("applications") {
            Some(a) => check_applications(a)?,
            None => check_applications(&json!([{"application": "http"}]))?,
        };
        let owner_uuid = owner["uuid"].as_str().unwrap_or_default().to_string();
        let record = json!({
            "name": name,
            "owner": owner,
            "role": {"name": role},
            "applications": applications,
            "locked": body.get("locked").cloned().unwrap_or(json!(false)),
            "comment": body.get("comment").cloned().unwrap_or(json!("")),
            "scope": scope,
            "password_hash": hash(password)?,
        });
        let mut txn = self.state.store.begin().await;
        if txn
            .list(KIND)
            .iter()
            .any(|(_, a)| a["name"] == name.as_str())
        {
            return Err(ApiError::new(
                Code::Duplicate,
                format!("An account named \"{name}\" already exists."),
            )
            .with_target("name"));
        }
        txn.put(KIND, &key(&owner_uuid, &name), record.clone());
        txn.commit().await?;
        Ok(Created {
            record,
            work: Work::Done,
        })
    }

    async fn modify(
        &self,
        ctx: &Ctx,
        record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        let id = key(
            record["owner"]["uuid"].as_str().unwrap_or_default(),
            record["name"].as_str().unwrap_or_default(),
        );
        let new_hash = match body.get("password").and_then(Value::as_str) {
            Some(p) => {
                check_password(p)?;
                let current = self
                    .state
                    .store
                    .get(KIND, &id)
                    .and_then(|a| a["password_hash"].as_str().map(str::to_string));
                if let Some(current) = current
                    && verify_password(&current, p).await
                {
                    // ONTAP refuses a password equal to a recent one; automation
                    // (na_ontap_user) reads this refusal as "nothing to change".
                    return Err(ApiError::new(
                        Code::AccountPasswordReused,
                        "New password must be different than the old password.",
                    )
                    .with_target("password"));
                }
                Some(hash(p)?)
            }
            None => None,
        };
        let applications = body
            .get("applications")
            .map(check_applications)
            .transpose()?;
        if let Some(role) = body["role"]["name"].as_str() {
            self.check_role(record["scope"].as_str().unwrap_or("cluster"), role)?;
        }
        if record["name"] == ctx.principal.name.as_str()
            && (body["locked"] == true
                || body["role"]["name"].as_str().is_some_and(|r| r != "admin"))
        {
            return Err(ApiError::new(
                Code::AccountSelfDelete,
                "An administrator cannot lock or demote the account it is logged in with.",
            ));
        }
        let mut txn = self.state.store.begin().await;
        let mut account = txn
            .get(KIND, &id)
            .ok_or_else(|| ApiError::not_found("name"))?;
        if let Some(h) = new_hash {
            account["password_hash"] = json!(h);
        }
        if let Some(a) = applications {
            account["applications"] = a;
        }
        if let Some(role) = body["role"]["name"].as_str() {
            account["role"] = json!({"name": role});
        }
        for field in ["locked", "comment"] {
            if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
                account[field] = v.clone();
            }
        }
        txn.put(KIND, &id, account);
        txn.commit().await?;
        Ok(Work::Done)
    }

    async fn remove(&self, ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        if record["name"] == ctx.principal.name.as_str() {
            return Err(ApiError::new(
                Code::AccountSelfDelete,
                "An account cannot delete itself.",
            ));
        }
        let id = key(
            record["owner"]["uuid"].as_str().unwrap_or_default(),
            record["name"].as_str().unwrap_or_default(),
        );
        let mut txn = self.state.store.begin().await;
        txn.delete(KIND, &id);
        txn.commit().await?;
        Ok(Work::Done)
    }
}
