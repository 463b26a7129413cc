//! `GET /api/protocols/vscan/{svm.uuid}/on-demand-runs[/{uuid}]` (Vigil extension): the
//! record of each on-demand run, newest first: what ran, when, how it ended, what it
//! found and did. The scan history the managed-antivirus reporting reads.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{
    Ty, array, array_of, boolean, datetime, enumeration, integer, reference, string,
};
use rest::{ApiResult, Ctx, Keys, Record, Resource, ResourceDef, Schema, VsadminAccess};

use super::listed_svms;
use crate::scanning::records::RUN_KIND;
use crate::state::{State, svm_ref};

pub struct Runs {
    state: Arc<State>,
    def: ResourceDef,
}

impl Runs {
    pub fn new(state: &Arc<State>) -> Runs {
        let mut def = ResourceDef::new(Schema::new(vec![
            reference("svm").identity(),
            string("uuid").identity(),
            string("policy"),
            enumeration("type", &["CUSTOM", "DEEP", "QUICK", "ACTIVE"]),
            enumeration("trigger", &["request", "schedule", "on_access"]),
            enumeration(
                "status",
                &[
                    "RUNNING",
                    "COMPLETED",
                    "COMPLETED_WITH_ERRORS",
                    "CANCELED",
                    "FAILED",
                ],
            ),
            datetime("start_time"),
            datetime("end_time"),
            array("scan_paths", Ty::String),
            // QUICK runs: files whose status changed at or after this time.
            datetime("changed_since"),
            integer("files_scanned"),
            integer("files_from_cache"),
            integer("files_skipped"),
            integer("files_unchanged"),
            integer("folders_scanned"),
            integer("infected_count"),
            integer("error_count"),
            array_of(
                "infected",
                vec![
                    string("path"),
                    string("threat"),
                    string("action"),
                    string("quarantine_id"),
                    // Since restored from quarantine / discarded from it.
                    boolean("released"),
                    boolean("purged"),
                ],
            ),
            array_of(
                "errors",
                vec![
                    string("path"),
                    string("reason"),
                    enumeration(
                        "kind",
                        &[
                            "list_folder",
                            "open_file",
                            "scan",
                            "quarantine",
                            "remediation",
                            "other",
                        ],
                    ),
                ],
            ),
            string("report"),
            string("report_error"),
        ]));
        def.collection = Some("/api/protocols/vscan/{svm.uuid}/on-demand-runs");
        def.instance = Some("/api/protocols/vscan/{svm.uuid}/on-demand-runs/{uuid}");
        def.default_order = Some("start_time desc");
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::Read;
        Runs {
            state: Arc::clone(state),
            def,
        }
    }
}

#[async_trait]
impl Resource for Runs {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, _ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        let runs = self.state.store.list(RUN_KIND);
        let mut out = Vec::new();
        for svm in listed_svms(&self.state, keys.get("svm.uuid"))? {
            let svm_ref = Arc::new(svm_ref(&svm));
            for run in runs.iter().filter(|r| r["svm"]["uuid"] == svm["uuid"]) {
                out.push(Record::new(Arc::clone(run)).with_shared("svm", Arc::clone(&svm_ref)));
            }
        }
        Ok(out)
    }
}
