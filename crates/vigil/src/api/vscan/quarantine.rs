//! `/api/protocols/vscan/{svm.uuid}/quarantine[/{id}]` (Vigil extension): the files an
//! on-demand run moved into the SVM's quarantine. `PATCH ...?action=restore` puts one
//! back, byte-identical, where it was; `DELETE` discards it for good.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{datetime, integer, reference, string};
use rest::{
    ApiError, ApiResult, Code, Ctx, Keys, Method, Params, Record, Resource, ResourceDef, Schema,
    VsadminAccess, Work,
};
use serde_json::Value;

use super::{listed_svms, path_svm};
use crate::namespace::Symlinks;
use crate::quarantine;
use crate::state::{State, svm_ref};

pub struct Quarantine {
    state: Arc<State>,
    def: ResourceDef,
}

impl Quarantine {
    pub fn new(state: &Arc<State>) -> Quarantine {
        let mut def = ResourceDef::new(Schema::new(vec![
            reference("svm").identity(),
            string("id").identity(),
            string("path").doc("Where the file was, from the SVM root."),
            string("threat"),
            integer("size"),
            datetime("quarantine_time"),
        ]));
        def.collection = Some("/api/protocols/vscan/{svm.uuid}/quarantine");
        def.instance = Some("/api/protocols/vscan/{svm.uuid}/quarantine/{id}");
        def.patch = true;
        def.delete = true;
        def.params = &[(Method::Patch, "action")];
        def.patch_actions = &["action"];
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::All;
        Quarantine {
            state: Arc::clone(state),
            def,
        }
    }
}

fn failure(what: &str, e: std::io::Error) -> ApiError {
    let code = match e.kind() {
        std::io::ErrorKind::AlreadyExists => Code::InUse,
        std::io::ErrorKind::NotFound => Code::NotFound,
        _ => Code::Internal,
    };
    ApiError::new(code, format!("{what}: {e}"))
}

#[async_trait]
impl Resource for Quarantine {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let mut out = Vec::new();
        for svm in listed_svms(&self.state, keys.get("svm.uuid"))? {
            let uuid = svm["uuid"].as_str().unwrap_or_default();
            for mut item in quarantine::list(&self.state.config.data_dir, uuid) {
                item["svm"] = svm_ref(&svm);
                out.push(item.into());
            }
        }
        Ok(out)
    }

    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        params: &Params,
    ) -> ApiResult<Work> {
        if params.get("action").map(String::as_str) != Some("restore") {
            return Err(ApiError::invalid_value(
                "action",
                params.get("action").map(String::as_str).unwrap_or_default(),
            ));
        }
        if body
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k != "_links"))
        {
            return Err(ApiError::new(
                Code::InvalidCombination,
                "\"action=restore\" takes no body.",
            ));
        }
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let svm = path_svm(&self.state, svm_uuid)?;
        let ns = self.state.namespace(&svm)?;
        let path = record["path"].as_str().unwrap_or_default();
        // The original place must still be inside the namespace, through no link.
        let target = ns.resolve(path, Symlinks::Refuse).map_err(|e| {
            ApiError::new(
                Code::InvalidFieldValue,
                format!("The original path {path} cannot be restored to: {e}."),
            )
        })?;
        let id = record["id"].as_str().unwrap_or_default();
        quarantine::restore(&self.state.config.data_dir, svm_uuid, id, &target)
            .map_err(|e| failure(&format!("Restoring {path}"), e))?;
        crate::scanning::records::note_quarantine_item(&self.state.store, svm_uuid, id, "released")
            .await;
        Ok(Work::Done)
    }

    async fn remove(&self, _ctx: &Ctx, record: &Value, _params: &Params) -> ApiResult<Work> {
        let svm_uuid = record["svm"]["uuid"].as_str().unwrap_or_default();
        let id = record["id"].as_str().unwrap_or_default();
        let dir = quarantine::dir(&self.state.config.data_dir, svm_uuid);
        for ext in ["json", "data"] {
            std::fs::remove_file(dir.join(format!("{id}.{ext}")))
                .map_err(|e| failure("Discarding the quarantined file", e))?;
        }
        crate::scanning::records::note_quarantine_item(&self.state.store, svm_uuid, id, "purged")
            .await;
        Ok(Work::Done)
    }
}
