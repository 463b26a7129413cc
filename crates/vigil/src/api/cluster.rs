//! `/api/cluster`: the cluster singleton.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{integer, object, string};
use rest::{
    ApiError, ApiResult, Code, Ctx, Keys, Method, Params, Record, Resource, ResourceDef, Schema,
    Work,
};
use serde_json::{Value, json};

use crate::state::{CLUSTER_KIND, State};

/// The ONTAP release whose REST API Vigil implements; clients pick features by it.
pub const ONTAP_GENERATION: u64 = 9;
pub const ONTAP_MAJOR: u64 = 18;
pub const ONTAP_MINOR: u64 = 1;

pub fn version() -> Value {
    json!({
        "full": format!("NetApp Release {ONTAP_GENERATION}.{ONTAP_MAJOR}.{ONTAP_MINOR}: Vigil {}", env!("CARGO_PKG_VERSION")),
        "generation": ONTAP_GENERATION,
        "major": ONTAP_MAJOR,
        "minor": ONTAP_MINOR,
    })
}

pub struct ClusterResource {
    state: Arc<State>,
    def: ResourceDef,
}

impl ClusterResource {
    pub fn new(state: &Arc<State>) -> ClusterResource {
        let mut def = ResourceDef::new(Schema::new(vec![
            string("uuid").read_only().identity(),
            string("name").read_write().identity(),
            string("location").read_write(),
            string("contact").read_write(),
            object(
                "version",
                vec![
                    string("full"),
                    integer("generation"),
                    integer("major"),
                    integer("minor"),
                ],
            )
            .read_only(),
        ]));
        def.instance = Some("/api/cluster");
        def.patch = true;
        def.async_ops = &[Method::Patch];
        ClusterResource {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for ClusterResource {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, _keys: &Keys) -> ApiResult<Vec<Record>> {
        let c = self.state.cluster();
        Ok(vec![
            json!({
                "uuid": c["uuid"],
                "name": c["name"],
                "location": c["location"],
                "contact": c["contact"],
                "version": version(),
            })
            .into(),
        ])
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        _record: &Value,
        body: Value,
        _params: &Params,
    ) -> ApiResult<Work> {
        if let Some(name) = body.get("name").and_then(Value::as_str) {
            crate::api::svms::check_name(name, "name")?;
            let taken = self
                .state
                .store
                .list(crate::state::SVM_KIND)
                .iter()
                .any(|s| {
                    s["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                });
            if taken {
                return Err(ApiError::new(
                    Code::Duplicate,
                    format!("The name \"{name}\" is already used by an SVM."),
                )
                .with_target("name"));
            }
        }
        let state = Arc::clone(&self.state);
        Ok(Work::Job(Box::pin(async move {
            let mut txn = state.store.begin().await;
            let mut cluster = txn
                .get(CLUSTER_KIND, CLUSTER_KIND)
                .unwrap_or_else(|| json!({}));
            for field in ["name", "location", "contact"] {
                if let Some(v) = body.get(field) {
                    cluster[field] = v.clone();
                }
            }
            txn.put(CLUSTER_KIND, CLUSTER_KIND, cluster);
            txn.commit().await?;
            Ok("success".to_string())
        })))
    }
}
