//! `/api/security/mav-keys` (Vigil extension): the API keys of the managed-antivirus
//! reporting service (`/api/?service=list_mav_scans…`). The administrator chooses the
//! key (at least 24 characters, e.g. `openssl rand -hex 32`); only its SHA-256 digest is
//! kept, and it is never returned. A key reaches every SVM, or only those in `svms`.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{array_of, datetime, string};
use rest::{
    ApiError, ApiResult, Code, Created, Ctx, Keys, Params, Record, Resource, ResourceDef, Schema,
    Work,
};
use serde_json::{Value, json};

use crate::mav_service::{KEY_KIND, digest};
use crate::state::{State, svm_ref};

const MIN_KEY: usize = 24;

pub struct MavKeys {
    state: Arc<State>,
    def: ResourceDef,
}

impl MavKeys {
    pub fn new(state: &Arc<State>) -> MavKeys {
        let mut def = ResourceDef::new(Schema::new(vec![
            string("uuid").read_only().identity(),
            string("name").create().identity(),
            string("key").create_write_only(),
            array_of("svms", vec![string("uuid"), string("name")]).create(),
            datetime("create_time").read_only(),
        ]));
        def.collection = Some("/api/security/mav-keys");
        def.instance = Some("/api/security/mav-keys/{uuid}");
        def.post = true;
        def.delete = true;
        MavKeys {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for MavKeys {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, _keys: &Keys) -> ApiResult<Vec<Record>> {
        Ok(self
            .state
            .store
            .list(KEY_KIND)
            .iter()
            .map(|k| {
                let svms: Vec<Value> = k["svms"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["uuid"].as_str().and_then(|u| self.state.svm(u)))
                    .map(|svm| svm_ref(&svm))
                    .collect();
                json!({"uuid": k["uuid"], "name": k["name"], "svms": svms, "create_time": k["create_time"]})
                    .into()
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
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::invalid_value("name", &name));
        }
        let key = ApiError::required_str(&body, "key")?;
        if key.chars().count() < MIN_KEY || key.chars().any(char::is_whitespace) {
            return Err(ApiError::new(
                Code::InvalidFieldValue,
                format!("\"key\" must be at least {MIN_KEY} characters without spaces (e.g. openssl rand -hex 32)."),
            )
            .with_target("key"));
        }
        let mut svms = Vec::new();
        for s in body["svms"].as_array().into_iter().flatten() {
            let svm = self.state.resolve_svm_ref(s, "svms")?;
            svms.push(json!({"uuid": svm["uuid"]}));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let record = json!({
            "uuid": uuid,
            "name": name,
            "digest": digest(key),
            "svms": svms,
            "create_time": crate::scanning::events::event_time(chrono::Utc::now()),
        });
        let mut txn = self.state.store.begin().await;
        for (_, k) in txn.list(KEY_KIND) {
            if k["name"] == name.as_str() || k["digest"] == record["digest"] {
                return Err(ApiError::new(
                    Code::Duplicate,
                    "A MAV key with that name or that key already exists.",
                )
                .with_target("name"));
            }
        }
        txn.put(KEY_KIND, &uuid, record);
        txn.commit().await?;
        Ok(Created {
            record: json!({"uuid": uuid, "name": name}),
            work: Work::Done,
        })
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let mut txn = self.state.store.begin().await;
        txn.delete(KEY_KIND, record["uuid"].as_str().unwrap_or_default());
        txn.commit().await?;
        Ok(Work::Done)
    }
}
