//! Vigil's Vscan policy model, shared by the REST API and the scanners.
//!
//! * [`scope`]: whether a file is scanned under a policy's scope (extensions, exclude
//!   paths, size, access and volume filters), and validation of the REST `scope` object.
//! * [`address`]: the syntax of a scanner pool's `servers` entries, parsed into the
//!   typed [`address::ServerAddress`] the scanners connect to.
//!
//! Each module's documentation lists the decisions taken where ONTAP's documentation is
//! silent; `docs/vscan.md` repeats them for operators.

pub mod address;
pub mod scope;
