//! The RMM "Data Extraction API" as far as managed antivirus goes: `list_mav_scans`
//! and the discovery services (`list_clients`, `list_sites`, `list_servers`,
//! `list_devices_at_client`) a caller uses to find a `deviceid`.
//!
//! The crate is pure: it parses the query, asks the caller's [`KeyCheck`] about the
//! key and the caller's [`Source`] for devices and scans, and returns the XML body.
//! HTTP, key storage and scan history live elsewhere. Contract and decisions:
//! `docs/mav.md`.
//!
//! ```ignore
//! let body = mav::respond(&query_pairs, &keys, &history, &mav::Context::new("vigil1", now));
//! // HTTP 200, Content-Type: mav::CONTENT_TYPE, whatever the outcome.
//! ```

mod describe;
pub mod error;
pub mod model;
pub mod render;
pub mod request;
mod xml;

pub use error::{MavError, SourceError};
pub use model::{
    Client, Device, DeviceType, Engine, ErrorReason, Guid, QuarantineItem, Scan, ScanError,
    ScanStatus, ScanType, Site, Source, Threat, ThreatStatus, Trace, TraceType,
};
pub use render::{CONTENT_TYPE, Context, handle, render, render_error, respond};
pub use request::{
    Authorized, Call, Details, KeyCheck, KeyDecision, KeyScope, Request, Service, Version,
    authorize, parse_request,
};
