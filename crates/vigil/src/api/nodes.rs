//! `/api/cluster/nodes`: this node (a cluster of several arrives with PostgreSQL).

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{enumeration, integer, object, string};
use rest::{ApiResult, Ctx, Keys, Record, Resource, ResourceDef, Schema};
use serde_json::json;

use crate::state::State;

pub struct Nodes {
    state: Arc<State>,
    def: ResourceDef,
}

impl Nodes {
    pub fn new(state: &Arc<State>) -> Nodes {
        let mut def = ResourceDef::new(Schema::new(vec![
            string("uuid").identity(),
            string("name").identity(),
            enumeration(
                "state",
                &[
                    "up",
                    "booting",
                    "down",
                    "taken_over",
                    "waiting_for_giveback",
                    "degraded",
                    "unknown",
                ],
            ),
            enumeration("membership", &["available", "joining", "member"]),
            string("model"),
            string("serial_number"),
            string("system_id"),
            string("location"),
            integer("uptime"),
            object(
                "version",
                vec![
                    string("full"),
                    integer("generation"),
                    integer("major"),
                    integer("minor"),
                ],
            ),
        ]));
        def.collection = Some("/api/cluster/nodes");
        def.instance = Some("/api/cluster/nodes/{uuid}");
        Nodes {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for Nodes {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, _keys: &Keys) -> ApiResult<Vec<Record>> {
        let s = &self.state;
        Ok(vec![
            json!({
                "uuid": s.node_uuid,
                "name": s.config.node_name,
                "state": "up",
                "membership": "member",
                "model": "Vigil",
                "serial_number": s.node_uuid.split('-').next().unwrap_or_default(),
                "system_id": s.node_uuid.split('-').next().unwrap_or_default(),
                "location": "",
                "uptime": s.started.elapsed().as_secs(),
                "version": crate::api::cluster::version(),
            })
            .into(),
        ])
    }
}
