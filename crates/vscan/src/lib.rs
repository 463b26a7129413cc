//! Vigil's Vscan domain model, shared by the REST API, the scanning service, the
//! on-demand runner and the scheduler. It holds no HTTP types.
//!
//! * [`config`]: every SVM's pools and policies at one moment ([`config::Snapshot`]),
//!   inheritance from the admin SVM, enable rules, names and scope defaults.
//! * [`scope`]: whether a file is scanned under a policy's scope (extensions, exclude
//!   paths, size, access and volume filters), and validation of the REST `scope` object.
//! * [`address`]: the syntax of a scanner pool's `servers` entries, parsed into the
//!   typed [`address::ServerAddress`] the scanners connect to.
//!
//! Each module's documentation lists the decisions taken where ONTAP's documentation is
//! silent; `docs/vscan.md` repeats them for operators.

pub mod address;
pub mod config;
pub mod scope;
