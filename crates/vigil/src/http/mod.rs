//! The HTTP listener's route table: each front door is mounted here, in one place.
//!
//! | Front door | Routes | Module |
//! |---|---|---|
//! | RMM managed-antivirus reporting | `GET /api?service=…` (and `/api/`) | [`rmm`] |
//! | Prometheus metrics | `GET /metrics` (allow-list or bearer token, [`access`]) | [`metrics`] |
//! | Web console | `/console/…` (session cookie, CSRF tokens) | [`crate::console`] |
//! | Live stream (SSE) | `GET /api/vigil/stream` (session or Basic) | [`stream`] |
//! | ONTAP REST | everything else (ONTAP's own 404 for unknown paths) | [`ontap`] |
//!
//! Before any of them, [`lenient`] mends HTTP/1 request lines that curl and some
//! libraries send with raw `<`, `>`, `"` or spaces in the query, which hyper refuses.
//!
//! The RMM service shares ONTAP's `/api` path, told apart by its `service` query term;
//! a GET of `/api` without one is ONTAP's. New doors (the S3 endpoint's listener, the
//! console) add their routes here beside these.

pub mod access;
pub mod lenient;
pub mod metrics;
mod ontap;
mod rmm;
pub mod stream;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use rest::Api;

use crate::state::State;

/// What every handler of the listener gets.
#[derive(Clone)]
pub struct App {
    pub api: Arc<Api>,
    pub state: Arc<State>,
    /// The metrics recorder and who may read it; `None` when metrics are off.
    pub exporter: Option<metrics::Exporter>,
    /// The console's sessions, which the live stream also accepts.
    pub console: Arc<crate::console::Console>,
}

pub fn router(state: &Arc<State>) -> Router {
    let exporter = state.config.metrics.clone().and_then(|access| {
        crate::exporter::install().map(|handle| metrics::Exporter { handle, access })
    });
    let api = Arc::new(crate::api::build(state));
    let console = Arc::new(crate::console::Console::new(state));
    let console_routes = crate::console::routes(crate::console::App {
        api: Arc::clone(&api),
        state: Arc::clone(state),
        console: Arc::clone(&console),
    });
    let app = App {
        api,
        state: Arc::clone(state),
        exporter,
        console,
    };
    Router::new()
        .route("/metrics", get(metrics::handle))
        .route("/api/vigil/stream", get(stream::handle))
        .route("/api", get(rmm::handle))
        .route("/api/", get(rmm::handle))
        .fallback(ontap::handle)
        .with_state(app)
        .merge(console_routes)
}
