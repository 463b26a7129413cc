//! `GET /api/protocols/vscan/server-status`: the live connection state of every scan
//! server that the pools of SVMs with Vscan enabled name, as this node sees it.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{Ty, array, datetime, enumeration, reference, string};
use rest::{ApiResult, Ctx, Keys, Record, Resource, ResourceDef, Schema, VsadminAccess};
use serde_json::json;

use super::path_svm;
use crate::scanning::events::event_time;
use crate::state::{State, svm_ref};

pub struct ServerStatuses {
    state: Arc<State>,
    def: ResourceDef,
}

impl ServerStatuses {
    pub fn new(state: &Arc<State>) -> ServerStatuses {
        let mut def = ResourceDef::new(Schema::new(vec![
            reference("svm").identity(),
            reference("node").identity(),
            string("ip").identity(),
            enumeration("type", &["primary", "backup"]),
            enumeration("state", &["connected", "disconnected"]),
            string("disconnected_reason"),
            datetime("update_time"),
            string("vendor"),
            string("version"),
            array("extended_stats", Ty::String),
            string("privileged_user"),
            rest::schema::object(
                "interface",
                vec![
                    string("name"),
                    string("uuid"),
                    rest::schema::object("ip", vec![string("address")]),
                ],
            ),
            string("server").doc("Vigil extension: the pool's servers entry as configured."),
        ]));
        def.collection = Some("/api/protocols/vscan/server-status");
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::Read;
        ServerStatuses {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for ServerStatuses {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, _keys: &Keys) -> ApiResult<Vec<Record>> {
        let node = self.state.node_ref();
        let mut out = Vec::new();
        for s in self.state.scanners.statuses() {
            // An SVM deleted since its monitors ran is not shown.
            let Ok(svm) = path_svm(&self.state, &s.svm) else {
                continue;
            };
            let mut r = json!({
                "svm": svm_ref(&svm),
                "node": node,
                "ip": s.ip,
                "server": s.server,
                "type": s.role.server_type(),
                "state": if s.connected { "connected" } else { "disconnected" },
                "update_time": event_time(s.since),
                "extended_stats": s.extended_stats,
            });
            if let Some(reason) = s.reason {
                r["disconnected_reason"] = json!(reason.as_str());
            }
            if let Some(v) = &s.vendor {
                r["vendor"] = json!(v);
            }
            if let Some(v) = &s.version {
                r["version"] = json!(v);
            }
            out.push(r.into());
        }
        Ok(out)
    }
}
