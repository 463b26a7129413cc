//! The RMM "Data Extraction API" as far as managed antivirus goes: `list_mav_scans`
//! and the discovery services (`list_clients`, `list_sites`, `list_servers`,
//! `list_devices_at_client`) a caller uses to find a `deviceid`.
//!
//! The crate is pure: it parses the query, asks the caller's [`KeyCheck`] about the
//! key and the caller's [`Source`] for devices and scans, and returns the XML body.
//! HTTP, key storage and scan history live elsewhere. Contract and decisions:
//! `docs/mav.md`.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use mav::*;
//!
//! struct History; // the server's SVM table and scan history
//! impl Source for History {
//!     fn client(&self) -> Result<Client, SourceError> {
//!         Ok(Client { id: 1, name: "cluster1".into(), timezone: "UTC".into(), created: None })
//!     }
//!     fn site(&self) -> Result<Site, SourceError> {
//!         Ok(Site { id: 1, name: "cluster1".into(), created: None })
//!     }
//!     fn devices(&self) -> Result<Vec<Device>, SourceError> {
//!         Ok(vec![Device { id: 1001, name: "vs1".into(), uuid: "…".into(), description: None, online: true }])
//!     }
//!     fn scans(&self, _device: u64, _since: DateTime<Utc>) -> Result<Vec<Scan>, SourceError> {
//!         Ok(vec![])
//!     }
//! }
//!
//! // The key store: any `Fn(&str) -> KeyDecision` will do.
//! let keys = |key: &str| match key {
//!     "k1" => KeyDecision::Allowed(KeyScope::All),
//!     _ => KeyDecision::Denied,
//! };
//! let query: Vec<(String, String)> = [
//!     ("apikey", "k1"), ("service", "list_mav_scans"), ("deviceid", "1001"), ("details", "NO"),
//! ]
//! .iter()
//! .map(|(k, v)| (k.to_string(), v.to_string()))
//! .collect();
//! let ctx = Context::new("vigil1", Utc::now());
//! // HTTP 200, Content-Type: mav::CONTENT_TYPE, whatever the outcome.
//! let body = respond(&query, &keys, &History, &ctx);
//! assert!(body.contains("status=\"OK\""));
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
pub use render::{CONTENT_TYPE, Context, handle, history_cutoff, render, render_error, respond};
pub use request::{
    Authorized, Call, Details, KeyCheck, KeyDecision, KeyScope, Request, Service, Version,
    authorize, parse_request,
};
