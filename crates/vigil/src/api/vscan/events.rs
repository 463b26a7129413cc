//! `GET /api/protocols/vscan/{svm.uuid}/events`: what happened to scan servers and
//! scanned files, newest first, from the events table.

use std::sync::Arc;

use async_trait::async_trait;
use rest::schema::{datetime, enumeration, integer, object, reference, string};
use rest::{ApiResult, Ctx, Keys, ListHints, Record, Resource, ResourceDef, Schema, VsadminAccess};
use serde_json::Value;
use store::events::EventQuery;

use super::listed_svms;
use crate::scanning::events::event_time;
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
        // Events have no key: newest first, paged by offset.
        def.default_order = Some("event_time desc");
        def.svm_field = Some("svm.uuid");
        def.vsadmin = VsadminAccess::Read;
        Events {
            state: Arc::clone(state),
            def,
        }
    }
}

/// A filter's date-time bound in the table's fixed-width UTC form.
fn bound(value: &str) -> Option<String> {
    rest::query::parse_time(value).map(|t| event_time(t.with_timezone(&chrono::Utc)))
}

/// The part of a query the events table can answer with its indexes: the types, the
/// time range and the order. `exact` says whether the table's answer is the whole
/// answer (every filter taken, order by `event_time` only), so it may stop early.
fn table_query(hints: &ListHints<'_>) -> (EventQuery, bool) {
    let mut q = EventQuery::default();
    let mut exact = true;
    for f in hints.filters {
        match f.path.as_str() {
            "type" => match f.exact_values() {
                // Stored types are lowercase and filters ignore case.
                Some(kinds) if q.kinds.is_empty() => {
                    q.kinds = kinds.iter().map(|k| k.to_ascii_lowercase()).collect()
                }
                _ => exact = false,
            },
            "event_time" => match f.range() {
                Some((lo, hi)) if q.since.is_none() && q.until.is_none() => {
                    // Inclusive bounds select a superset of exclusive ones; the core
                    // applies the exact operator afterwards.
                    q.since = lo.and_then(|(v, _)| bound(&v));
                    q.until = hi.and_then(|(v, _)| bound(&v));
                    exact &= f.range().is_some_and(|(lo, hi)| {
                        lo.is_none_or(|(_, inclusive)| inclusive)
                            && hi.is_none_or(|(_, inclusive)| inclusive)
                    });
                }
                _ => exact = false,
            },
            _ => exact = false,
        }
    }
    match hints.order {
        [key] if key.path == "event_time" => q.oldest_first = !key.descending,
        _ => exact = false,
    }
    (q, exact)
}

/// Events read per step when the filters the table cannot answer are applied here.
const STREAM_CHUNK: u64 = 4096;

impl Events {
    /// One SVM's page in the table's own order when some filter has no index (`server`,
    /// `file_path`, ...): reads the table in chunks, keyset-paged so events arriving
    /// meanwhile neither repeat nor shift, applies every filter here, and stops once
    /// the page is full, instead of loading the SVM's whole table.
    async fn stream(
        &self,
        svm: &Value,
        query: EventQuery,
        hints: &ListHints<'_>,
        window: usize,
    ) -> ApiResult<Vec<Record>> {
        let uuid = svm["uuid"].as_str().unwrap_or_default().to_string();
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let chunk = self
                .state
                .store
                .query_events(&EventQuery {
                    svm: Some(uuid.clone()),
                    limit: Some(STREAM_CHUNK),
                    after: after.take(),
                    ..query.clone()
                })
                .await?;
            let read = chunk.len() as u64;
            for e in chunk {
                after = Some((e.time, e.seq));
                let mut body = e.body;
                body["svm"] = svm_ref(svm);
                if hints.filters.iter().all(|f| f.matches(&body)) {
                    out.push(body.into());
                }
            }
            if out.len() >= window || read < STREAM_CHUNK {
                return Ok(out);
            }
        }
    }
}

#[async_trait]
impl Resource for Events {
    fn def(&self) -> &ResourceDef {
        &self.def
    }

    async fn list(&self, ctx: &Ctx, keys: &Keys) -> ApiResult<Vec<Record>> {
        self.list_hinted(ctx, keys, &ListHints::ALL).await
    }

    async fn list_hinted(
        &self,
        _ctx: &Ctx,
        keys: &Keys,
        hints: &ListHints<'_>,
    ) -> ApiResult<Vec<Record>> {
        let (query, exact) = table_query(hints);
        let svms = listed_svms(&self.state, keys.get("svm.uuid"))?;
        let in_table_order = matches!(hints.order, [key] if key.path == "event_time");
        if let ([svm], Some(window), true, false) =
            (svms.as_slice(), hints.window, in_table_order, exact)
        {
            return self.stream(svm, query, hints, window).await;
        }
        // Stopping early is right only for one SVM's events answered entirely by SQL.
        let limit = hints
            .window
            .filter(|_| exact && svms.len() == 1)
            .map(|w| w as u64);
        let mut out = Vec::new();
        for svm in svms {
            let uuid = svm["uuid"].as_str().unwrap_or_default().to_string();
            let events = self
                .state
                .store
                .query_events(&EventQuery {
                    svm: Some(uuid),
                    limit,
                    ..query.clone()
                })
                .await?;
            for e in events {
                let mut body = e.body;
                body["svm"] = svm_ref(&svm);
                out.push(body.into());
            }
        }
        Ok(out)
    }
}
