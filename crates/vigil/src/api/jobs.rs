//! `/api/cluster/jobs`: the jobs of asynchronous operations.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{datetime, enumeration, integer, object, reference, string};
use rest::{
    ApiError, ApiResult, Code, Ctx, Keys, Method, Params, Record, Resource, ResourceDef, Schema,
    VsadminAccess, Work,
};
use serde_json::Value;

use crate::state::State;

pub struct JobsResource {
    state: Arc<State>,
    def: ResourceDef,
}

impl JobsResource {
    pub fn new(state: &Arc<State>) -> JobsResource {
        let mut def = ResourceDef::new(Schema::new(vec![
            string("uuid").identity(),
            string("description"),
            enumeration(
                "state",
                &["queued", "running", "paused", "success", "failure"],
            ),
            string("message"),
            integer("code"),
            datetime("start_time"),
            datetime("end_time"),
            object("error", vec![string("code"), string("message")]),
            reference("svm"),
            object("node", vec![string("name"), string("uuid")]),
        ]));
        def.collection = Some("/api/cluster/jobs");
        def.instance = Some("/api/cluster/jobs/{uuid}");
        def.patch = true;
        def.params = &[(Method::Patch, "action")];
        def.patch_actions = &["action"];
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::Read;
        JobsResource {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for JobsResource {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let jobs = match keys.get("uuid") {
            Some(uuid) => self.state.jobs.get(uuid).into_iter().collect(),
            None => self.state.jobs.list(),
        };
        Ok(jobs.into_iter().map(Record::from).collect())
    }

    /// Vigil's jobs are short configuration changes that cannot stop half-way, so
    /// pause and cancel are refused with ONTAP's codes for jobs that do not support them.
    async fn modify(
        &self,
        _ctx: &Ctx,
        record: &Value,
        body: Value,
        params: &Params,
    ) -> ApiResult<Work> {
        if body
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k != "_links"))
        {
            let field = body
                .as_object()
                .and_then(|m| m.keys().next().cloned())
                .unwrap_or_default();
            return Err(ApiError::read_only(&field));
        }
        let action = params.get("action").map(String::as_str).unwrap_or_default();
        let terminal = rest::jobs::is_terminal(record);
        match action {
            "cancel" | "pause" | "resume" if terminal => Err(ApiError::new(
                Code::JobAlreadyTerminal,
                "The job has already ended.",
            )),
            "cancel" => Err(ApiError::new(
                Code::JobCancelUnsupported,
                "This job does not support cancellation.",
            )),
            "pause" => Err(ApiError::new(
                Code::JobPauseUnsupported,
                "This job does not support pausing.",
            )),
            "resume" => Err(ApiError::new(Code::JobNotRunning, "The job is not paused.")),
            other => Err(ApiError::invalid_value("action", other)),
        }
    }
}
