//! `/api/protocols/s3/services/{svm.uuid}/users`: the S3 users of an SVM's server and
//! their keys. POST (and the service POST's inline `users`) makes a key pair and
//! answers it once, as `{num_records, records: [{name, access_key, secret_key}]}`;
//! `PATCH ?regenerate_keys=true` makes a new pair and answers it the same way;
//! `?delete_keys=true` removes the pair. GET never shows `secret_key`. Secrets are kept
//! sealed (`crate::s3::secrets`).

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{datetime, integer, reference, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Method, Params, Record, Resource, ResourceDef,
    Schema, VsadminAccess, Work,
};
use s3model::model::{USER_KIND, User, user_id};
use serde_json::{Value, json};

use super::{check_comment, member, opt_str, path_svm, path_svm_with_service, users_of};
use crate::s3::secrets::{binding, generate_keys};
use crate::state::{State, svm_ref};

const PATH: &str = "/api/protocols/s3/services/{svm.uuid}/users";
const INSTANCE: &str = "/api/protocols/s3/services/{svm.uuid}/users/{name}";

pub struct S3Users {
    state: Arc<State>,
    def: ResourceDef,
}

/// The fields of a user, also those of the service's inline `users`.
pub fn user_fields() -> Vec<rest::schema::Field> {
    vec![
        string("name").create().identity(),
        string("comment").read_write(),
        string("access_key").create(),
        string("secret_key").create_write_only(),
        string("key_time_to_live").read_write(),
        datetime("key_expiry_time").read_only(),
        integer("key_id").write_only(),
    ]
}

impl S3Users {
    pub fn new(state: &Arc<State>) -> S3Users {
        let mut fields = vec![reference("svm").read_only().identity()];
        fields.extend(user_fields());
        let mut def = ResourceDef::new(Schema::new(fields));
        def.collection = Some(PATH);
        def.instance = Some(INSTANCE);
        def.post = true;
        def.patch = true;
        def.delete = true;
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        def.params = &[
            (Method::Patch, "regenerate_keys"),
            (Method::Patch, "delete_keys"),
        ];
        def.patch_actions = &["regenerate_keys", "delete_keys"];
        S3Users {
            state: Arc::clone(state),
            def,
        }
    }
}

pub fn render(user: &User, svm: &Value) -> Value {
    let mut r = json!({"svm": svm_ref(svm), "name": user.name, "comment": user.comment});
    if !user.access_key.is_empty() {
        r["access_key"] = json!(user.access_key);
    }
    if let Some(ttl) = &user.key_time_to_live {
        r["key_time_to_live"] = json!(ttl);
    }
    if let Some(expiry) = &user.key_expiry_time {
        r["key_expiry_time"] = json!(expiry);
    }
    r
}

/// The once-only answer carrying a new key pair.
fn key_record(user: &User, secret: &str) -> Value {
    let mut r = json!({"name": user.name, "access_key": user.access_key, "secret_key": secret});
    if let Some(expiry) = &user.key_expiry_time {
        r["key_expiry_time"] = json!(expiry);
    }
    r
}

pub fn keys_reply(records: Vec<Value>) -> Value {
    json!({"num_records": records.len(), "records": records})
}

/// When keys made now expire under `ttl` (`None` or zero: never).
fn expiry(ttl: Option<&str>) -> ApiResult<Option<String>> {
    let Some(ttl) = ttl else {
        return Ok(None);
    };
    let secs = if ttl == "0" {
        0
    } else {
        rest::duration::parse(ttl).ok_or_else(|| {
            ApiError::new(
                Code::InvalidFieldValue,
                format!("\"{ttl}\" is an invalid value for field \"key_time_to_live\": use an ISO-8601 duration such as P6DT1H5M."),
            )
            .with_target("key_time_to_live")
        })?
    };
    if secs == 0 {
        return Ok(None);
    }
    let secs = i64::try_from(secs).map_err(|_| ApiError::invalid_value("key_time_to_live", ttl))?;
    let at = chrono::Utc::now()
        .checked_add_signed(chrono::Duration::seconds(secs))
        .ok_or_else(|| ApiError::invalid_value("key_time_to_live", ttl))?;
    Ok(Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)))
}

fn check_key(value: &str, field: &str) -> ApiResult<()> {
    let ok = (16..=128).contains(&value.len()) && value.chars().all(|c| c.is_ascii_graphic());
    if !ok {
        return Err(ApiError::new(
            Code::InvalidFieldValue,
            format!("\"{field}\" must be 16 to 128 printable characters without spaces."),
        )
        .with_target(field));
    }
    Ok(())
}

fn access_key_taken(state: &State, access_key: &str) -> bool {
    state
        .store
        .list(USER_KIND)
        .iter()
        .any(|d| d["access_key"] == access_key)
}

/// A new user of `svm_uuid` from a POST body (or one inline `users` entry), with its
/// key pair, and the record that shows the secret once. `target` prefixes error targets.
pub fn make_user(
    state: &State,
    svm_uuid: &str,
    body: &Value,
    target: &str,
) -> ApiResult<(User, Value)> {
    let name = ApiError::required_str(body, "name")
        .map_err(|_| ApiError::required(&format!("{target}name")))?
        .to_string();
    s3model::names::check_user_name(&name).map_err(|reason| {
        ApiError::new(
            Code::InvalidFieldValue,
            format!("User name \"{name}\" is not valid: {reason}."),
        )
        .with_target(format!("{target}name"))
    })?;
    let comment = opt_str(body, "comment", "comment")?.unwrap_or_default();
    check_comment(&comment, &format!("{target}comment"))?;
    let ttl = opt_str(body, "key_time_to_live", "key_time_to_live")?;
    let (access_key, secret) = match (
        opt_str(body, "access_key", "access_key")?,
        opt_str(body, "secret_key", "secret_key")?,
    ) {
        (None, None) => generate_keys(),
        (Some(a), Some(s)) => {
            check_key(&a, "access_key")?;
            check_key(&s, "secret_key")?;
            (a, s)
        }
        _ => {
            return Err(ApiError::new(
                Code::InvalidCombination,
                "\"access_key\" and \"secret_key\" are given together or not at all.",
            )
            .with_target(format!("{target}secret_key")));
        }
    };
    if access_key_taken(state, &access_key) {
        return Err(
            ApiError::new(Code::Duplicate, "That access key is already in use.")
                .with_target(format!("{target}access_key")),
        );
    }
    let user = User {
        svm_uuid: svm_uuid.to_string(),
        sealed_secret: state
            .s3
            .sealer
            .seal(&binding(svm_uuid, &name, &access_key), &secret),
        name,
        comment,
        access_key,
        key_expiry_time: expiry(ttl.as_deref())?,
        key_time_to_live: ttl,
    };
    let record = key_record(&user, &secret);
    Ok((user, record))
}

pub fn user_doc(user: &User) -> Value {
    serde_json::to_value(user).unwrap_or(Value::Null)
}

fn flag(params: &Params, name: &str) -> ApiResult<bool> {
    match params.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ApiError::invalid_value(name, &v)),
    }
}

#[async_trait]
impl Resource for S3Users {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let uuid = keys.get("svm.uuid").cloned().unwrap_or_default();
        let svm = path_svm(&self.state, &uuid)?;
        Ok(users_of(&self.state, &uuid)
            .iter()
            .map(|u| render(u, &svm).into())
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
        let (user, record) = make_user(&self.state, &uuid, &body, "")?;
        let mut txn = self.state.store.begin().await;
        let id = user_id(&uuid, &user.name);
        if txn.get(USER_KIND, &id).is_some() {
            return Err(ApiError::new(
                Code::Duplicate,
                format!("S3 user \"{}\" already exists on the SVM.", user.name),
            )
            .with_target("name"));
        }
        txn.put(USER_KIND, &id, user_doc(&user));
        txn.commit().await?;
        Ok(Created {
            record: json!({"svm": {"uuid": uuid}, "name": user.name}),
            work: Work::Reply(keys_reply(vec![record])),
        })
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        params: &Params,
    ) -> ApiResult<Work> {
        let uuid = record["svm"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = record["name"].as_str().unwrap_or_default().to_string();
        let regenerate = flag(params, "regenerate_keys")?;
        let delete_keys = flag(params, "delete_keys")?;
        if regenerate && delete_keys {
            return Err(ApiError::new(
                Code::InvalidCombination,
                "\"regenerate_keys\" and \"delete_keys\" cannot be used together.",
            )
            .with_target("delete_keys"));
        }
        let id = user_id(&uuid, &name);
        let mut txn = self.state.store.begin().await;
        let mut user: User = txn
            .get(USER_KIND, &id)
            .and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| ApiError::not_found("name"))?;
        if let Some(comment) = opt_str(&body, "comment", "comment")? {
            check_comment(&comment, "comment")?;
            user.comment = comment;
        }
        let ttl_given = body.get("key_time_to_live").is_some();
        if ttl_given {
            user.key_time_to_live = opt_str(&body, "key_time_to_live", "key_time_to_live")?;
            user.key_expiry_time = expiry(user.key_time_to_live.as_deref())?;
        }
        if member(&body, "key_id").is_some() && !(regenerate || delete_keys) {
            return Err(ApiError::new(
                Code::InvalidCombination,
                "\"key_id\" is used with regenerate_keys or delete_keys.",
            )
            .with_target("key_id"));
        }
        let mut reply = None;
        if regenerate {
            let (access_key, secret) = generate_keys();
            user.sealed_secret = self
                .state
                .s3
                .sealer
                .seal(&binding(&uuid, &name, &access_key), &secret);
            user.access_key = access_key;
            user.key_expiry_time = expiry(user.key_time_to_live.as_deref())?;
            reply = Some(keys_reply(vec![key_record(&user, &secret)]));
        } else if delete_keys {
            user.access_key = String::new();
            user.sealed_secret = String::new();
            user.key_expiry_time = None;
        }
        txn.put(USER_KIND, &id, user_doc(&user));
        txn.commit().await?;
        Ok(reply.map_or(Work::Done, Work::Reply))
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let name = record["name"].as_str().unwrap_or_default();
        let mut txn = self.state.store.begin().await;
        txn.delete(USER_KIND, &user_id(uuid, name));
        super::groups::forget_user(&mut txn, uuid, name);
        txn.commit().await?;
        Ok(Work::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_makes_an_expiry() {
        assert_eq!(expiry(None).unwrap(), None);
        assert_eq!(expiry(Some("0")).unwrap(), None);
        let at = expiry(Some("P6DT1H5M")).unwrap().unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(&at).unwrap();
        let secs = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
        assert!(
            (6 * 86400 + 3900 - 60..=6 * 86400 + 3900).contains(&secs),
            "{secs}"
        );
        assert_eq!(
            expiry(Some("6 days")).unwrap_err().code,
            Code::InvalidFieldValue
        );
    }
}
