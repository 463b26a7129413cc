//! `/api/cluster/nodes`: the cluster's members ([`crate::cluster`]).

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
        let nodes: Vec<Record> = crate::cluster::members(&self.state)
            .into_iter()
            .map(|m| {
                let short = m.uuid.split('-').next().unwrap_or_default().to_string();
                let mut node = json!({
                    "uuid": m.uuid,
                    "name": m.name,
                    "state": if m.up { "up" } else { "down" },
                    "membership": "member",
                    "model": "Vigil",
                    "serial_number": short,
                    "system_id": short,
                    "location": "",
                    "version": m.version,
                });
                if let Some(uptime) = m.uptime {
                    node["uptime"] = json!(uptime);
                }
                node.into()
            })
            .collect();
        Ok(nodes)
    }
}
