//! The S3 server of each SVM (issue #15).
//!
//! Layers, top-down: [`endpoints`] (orchestration: reads the node's `State` and makes
//! the listeners match the service records) → [`listeners`] (one HTTP/HTTPS listener
//! per enabled service) → [`authorize`] (who may do what, before the handler) and
//! [`door`] (the S3 protocol front door over `s3s`, with [`bucket_policy`] and
//! [`versioning`]; the operations beyond the basic ones are in [`multipart`], [`copy`],
//! [`delete_many`], [`list_v1`] and [`tagging`], using [`conditional`], [`upload`]
//! (bodies into temporary files) and [`checksums`]) → [`policies`] (groups and named
//! policies as stored), [`buckets`] (create/delete whoever asks), [`storage`] (objects
//! on disk), [`staging`] (multipart uploads in progress),
//! [`secrets`] (user keys and how their secrets are kept), [`hooks`] (the operation
//! record and the pre-commit hook for the audit feed and upload scanning), [`trail`]
//! (each request's id and record, gathered for the hooks) and [`audit_feed`] (the
//! hooks that write the S3 audit log, guaranteed). The domain
//! model (documents, names, key paths) is the `s3model` crate.

pub mod audit_feed;
pub mod authorize;
pub mod bucket_policy;
pub mod buckets;
pub mod checksums;
pub mod conditional;
pub mod copy;
pub mod delete_many;
pub mod door;
pub mod endpoints;
pub mod hooks;
pub mod list_v1;
pub mod listeners;
pub mod multipart;
pub mod policies;
pub mod runtime;
pub mod scan_hooks;
pub mod secrets;
pub mod staging;
pub mod storage;
pub mod tagging;
pub mod trail;
pub mod upload;
pub mod versioning;
