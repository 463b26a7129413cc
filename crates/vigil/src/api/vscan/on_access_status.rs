//! `GET /api/protocols/vscan/on-access-status` (a Vigil extension): this node's
//! on-access doors, whether they run and what they cover. One record per node; its
//! `fanotify` member is the fanotify door (`state` `active`, `off` or `unavailable`
//! with the `reason`, such as a missing CAP_SYS_ADMIN), the SVM roots it marks and
//! its answer counters.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, array_of, boolean, enumeration, integer, object, reference, string};
use rest::{ApiResult, Ctx, Keys, Record, Resource, ResourceDef, Schema};
use serde_json::json;

use crate::state::State;

pub struct OnAccessStatus {
    state: Arc<State>,
    def: ResourceDef,
}

impl OnAccessStatus {
    pub fn new(state: &Arc<State>) -> OnAccessStatus {
        let counters = [
            "allowed",
            "denied",
            "timed_out",
            "excluded",
            "background_scans",
            "background_dropped",
            "overflows",
            "pending",
        ]
        .into_iter()
        .map(integer)
        .collect();
        let mut def = ResourceDef::new(Schema::new(vec![
            reference("node").identity(),
            object(
                "fanotify",
                vec![
                    enumeration("state", &["active", "off", "unavailable"]),
                    string("reason"),
                    boolean("open_exec_perm"),
                    integer("deadline_ms"),
                    integer("max_pending"),
                    array_of(
                        "svms",
                        vec![
                            reference("svm"),
                            string("policy"),
                            boolean("mandatory"),
                            string("root"),
                            array("mount_marks", Ty::String),
                            integer("directory_marks"),
                            array("errors", Ty::String),
                        ],
                    ),
                    object("counters", counters),
                ],
            )
            .doc("Vigil extension: the fanotify on-access door of this node."),
        ]));
        def.collection = Some("/api/protocols/vscan/on-access-status");
        OnAccessStatus {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for OnAccessStatus {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, _keys: &Keys) -> ApiResult<Vec<Record>> {
        Ok(vec![
            json!({
                "node": self.state.node_ref(),
                "fanotify": self.state.fanotify.status(),
            })
            .into(),
        ])
    }
}
