//! The Vigil server, top-down (docs/architecture.md):
//! - the binary: [`server`] (startup), [`config`], [`exporter`] (the metrics recorder);
//! - front doors: [`http`] (the listener's route table and lenient request lines), [`api`] (ONTAP REST
//!   resources), [`mav_service`] (the RMM reporting service);
//! - services: [`scanning`] (the one scanning pipeline, its events, records, monitors
//!   and running-run registry), [`ondemand`] (runs and schedules, its first caller),
//!   [`quarantine`], [`s3`] (each SVM's S3 server: listeners, the S3 door, object
//!   storage, user keys), [`fanotify`] (the on-access door for NFS exports and local access),
//!   [`samba`] (the on-access door for Samba's vfs_virusfilter);
//! - shared context: [`state`], [`auth`], [`namespace`], [`files`];
//! - in crates below: the domain models (`vscan`, `s3model`), the store (`store`), engines and
//!   protocols (`scan`, `clamd`, `icap`, `mav`, `audit`) and the REST core (`rest`).

pub mod api;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod console;
pub mod exporter;
pub mod fanotify;
pub mod files;
pub mod http;
pub mod live;
pub mod mav_service;
pub mod namespace;
pub mod ondemand;
pub mod quarantine;
pub mod s3;
pub mod samba;
pub mod scanning;
pub mod server;
pub mod state;
pub mod tenancy;
