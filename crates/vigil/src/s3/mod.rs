//! The S3 server of each SVM (issue #15).
//!
//! Layers, top-down: [`endpoints`] (orchestration: reads the node's `State` and makes
//! the listeners match the service records) → [`listeners`] (one HTTP/HTTPS listener
//! per enabled service) → [`authorize`] (who may do what, before the handler) and
//! [`door`] (the S3 protocol front door over `s3s`, with [`bucket_policy`] and
//! [`versioning`]) → [`policies`] (groups and named policies as stored),
//! [`buckets`] (create/delete whoever asks), [`storage`] (objects on disk),
//! [`secrets`] (user keys and how their secrets are kept), [`hooks`] (the operation
//! record and the pre-commit hook for the audit feed and upload scanning). The domain
//! model (documents, names, key paths) is the `s3model` crate.

pub mod authorize;
pub mod bucket_policy;
pub mod buckets;
pub mod door;
pub mod endpoints;
pub mod hooks;
pub mod listeners;
pub mod policies;
pub mod runtime;
pub mod secrets;
pub mod storage;
pub mod versioning;
