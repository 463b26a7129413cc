//! `GET /api/protocols/vscan/{svm.uuid}/events`: what happened to scan servers and
//! scanned files, newest first, from the events table.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{datetime, enumeration, integer, object, reference, string};
use rest::{ApiResult, Ctx, Keys, Resource, ResourceDef, Schema, VsadminAccess};
use serde_json::Value;
use store::events::EventQuery;

use super::listed_svms;
use crate::state::{State, svm_ref};

pub const TYPES: &[&str] = &[
    "scanner_connected",
    "scanner_disconnected",
    "scanner_updated",
    "scan_internal_error",
    "scan_failed",
    "scan_timedout",
    "file_infected",
    "file_renamed",
    "file_quarantined",
    "file_deleted",
    "scanner_busy",
];

pub const DISCONNECT_REASONS: &[&str] = &[
    "na",
    "vscan_disabled",
    "no_data_lif",
    "session_uninitialized",
    "remote_closed",
    "invalid_protocol_msg",
    "invalid_session_id",
    "inactive_connection",
    "invalid_user",
    "server_removed",
];

pub struct Events {
    state: Arc<State>,
    def: ResourceDef,
}

impl Events {
    pub fn new(state: &Arc<State>) -> Events {
        let mut def = ResourceDef::new(Schema::new(vec![
            reference("svm").identity(),
            reference("node"),
            enumeration("type", TYPES).identity(),
            datetime("event_time").identity(),
            string("server"),
            string("vendor"),
            string("version"),
            string("file_path"),
            enumeration("disconnect_reason", DISCONNECT_REASONS),
            integer("scan_engine_status"),
            integer("consecutive_occurrence_count"),
            object(
                "interface",
                vec![
                    string("name"),
                    string("uuid"),
                    object("ip", vec![string("address")]),
                ],
            ),
        ]));
        def.collection = Some("/api/protocols/vscan/{svm.uuid}/events");
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::Read;
        Events {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for Events {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Value>> {
        let mut out = Vec::new();
        for svm in listed_svms(&self.state, keys.get("svm.uuid"))? {
            let uuid = svm["uuid"].as_str().unwrap_or_default().to_string();
            let events = self
                .state
                .store
                .query_events(&EventQuery {
                    svm: Some(uuid),
                    ..Default::default()
                })
                .await?;
            for mut e in events {
                e["svm"] = svm_ref(&svm);
                out.push(e);
            }
        }
        // Newest first unless the request orders otherwise.
        out.sort_by(|a, b| b["event_time"].as_str().cmp(&a["event_time"].as_str()));
        Ok(out)
    }
}
