//! The S3 server of each SVM (issue #15).
//!
//! Layers, top-down: [`endpoints`] (orchestration: reads the node's `State` and makes
//! the listeners match the service records) → [`listeners`] (one HTTP/HTTPS listener
//! per enabled service) → [`door`] (the S3 protocol front door over `s3s`; the
//! operations beyond the basic ones are in [`multipart`], [`copy`], [`delete_many`],
//! [`list_v1`] and [`tagging`], using [`conditional`], [`upload`] (bodies into
//! temporary files) and [`checksums`]) → [`buckets`] (create/delete whoever asks),
//! [`storage`] (objects on disk), [`staging`] (multipart uploads in progress),
//! [`secrets`] (user keys and how their secrets are kept), [`hooks`] (the operation
//! record and the pre-commit hook for the audit feed and upload scanning). The domain
//! model (documents, names, key paths) is the `s3model` crate.

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
pub mod runtime;
pub mod secrets;
pub mod staging;
pub mod storage;
pub mod tagging;
pub mod upload;
