//! Vigil's scan engine and clamd-compatible scan server.
//!
//! - [`Engine`]: YARA-X rules plus ClamAV `.hdb`/`.hsb` hash lists, applied to files,
//!   descriptors and byte streams and to the members of zip/gzip/tar archives within
//!   [`Limits`]; returns a typed [`Verdict`]. This is the in-process API.
//! - [`Pool`]: the scanning threads, shared by the server and in-process callers.
//! - [`server`]: `vigil scanner`, speaking clamd's protocol on TCP and a unix socket.
//! - [`remote`]: the scan servers that scanner pools name: health checks and status.

pub mod cache;
pub mod dispatch;
pub mod engine;
pub mod fairness;
pub mod filemap;
pub mod hashdb;
pub mod load;
pub mod local;
pub mod pool;
pub mod remote;
pub mod ruleset;
pub mod scan_event;
pub mod server;
pub mod verdict;
pub mod worker;

pub use engine::{Engine, Limits, Mode, Scanning};
pub use pool::{Pool, PoolClosed};
pub use ruleset::{RuleSources, RulesError, Ruleset};
pub use server::{ScannerArgs, Server, run, termination_signal};
pub use verdict::{Limit, Scanned, Verdict};
