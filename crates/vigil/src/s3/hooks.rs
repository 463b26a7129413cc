//! The two places the S3 data path reports to, for the audit feed and on-access
//! scanning of uploads (issue #11): every operation ends in one [`S3Operation`] handed
//! to [`S3Hooks::operation`], every upload passes [`S3Hooks::before_commit`] after
//! its bytes are on disk and before it becomes visible, and every object read passes
//! [`S3Hooks::before_read`] before a byte is sent, where a verdict can refuse it.
//! [`LogHooks`] only logs and lets everything through; on-access scanning wraps it
//! ([`super::scan_hooks`]).
//!
//! The audit feed (issue #16, `super::audit_feed`) adds two awaitable, fallible steps:
//! [`S3Hooks::admit_change`], at the point where a change would become visible, and
//! [`S3Hooks::finish`], once the response is ready and before it is sent. Both default
//! to "nothing to write", so hooks that only log or scan need not implement them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use s3s::S3Error;

/// One S3 request, as the audit log will want it. The door and the authorizer fill
/// what they know; the listener adds the request id, status and byte counts.
#[derive(Debug, Clone, Default)]
pub struct S3Operation {
    /// ONTAP's audit name of the operation (`PutObject`, `ListBucket`, ...).
    pub operation: &'static str,
    pub svm_uuid: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The S3 user of the request's access key; `None` for an anonymous request.
    pub user: Option<String>,
    pub client: Option<SocketAddr>,
    /// `None` on success, else the S3 error code answered.
    pub error: Option<String>,
    /// Object bytes moved (uploaded or served).
    pub bytes: u64,
    pub elapsed: Duration,
    /// `x-amz-request-id` of the response; empty where the listener did not give one.
    pub request_id: String,
    pub access_key: Option<String>,
    pub version_id: Option<String>,
    /// HTTP status answered (0 while not known yet).
    pub status: u16,
    /// Request body bytes received and response body bytes sent.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `false` when the authorizer refused the request.
    pub authorized: bool,
    pub user_agent: Option<String>,
}

/// Why an audited request cannot go on: its record could not be made durable. The
/// door answers `503 ServiceUnavailable` and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRefused(pub String);

/// What is about to change, for [`S3Hooks::admit_change`].
#[derive(Debug)]
pub enum Change<'a> {
    /// An upload about to be committed (PUT, copy, multipart completion).
    Upload(&'a PendingUpload<'a>),
    /// Any other change, about to be made (deletes, bucket and configuration changes).
    Other,
}

/// An upload whose bytes are complete in a file that no reader can see yet.
#[derive(Debug)]
pub struct PendingUpload<'a> {
    pub svm_uuid: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub user: Option<&'a str>,
    pub size: u64,
    pub file: &'a Path,
    /// How the SVM namespace names the object: its bucket directory and key
    /// (`/.vigil-s3/<bucket uuid>/<key>`), for scope rules and events.
    pub svm_path: &'a str,
}

/// A stored object about to be served, opened.
#[derive(Debug)]
pub struct PendingRead<'a> {
    pub svm_uuid: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// The object's data file, opened; the hook may scan through it.
    pub file: &'a std::fs::File,
    /// The data file's host path (remediation acts on it).
    pub data_path: &'a Path,
    /// As in [`PendingUpload::svm_path`].
    pub svm_path: &'a str,
}

#[async_trait]
pub trait S3Hooks: Send + Sync {
    fn operation(&self, op: &S3Operation);

    /// `Err(error)` refuses the upload: it is discarded and the client gets `error`
    /// (its code also reaches [`S3Operation::error`]).
    async fn before_commit(&self, upload: &PendingUpload<'_>) -> Result<(), S3Error>;

    /// `Err(error)` refuses to serve the object; the client gets `error`.
    async fn before_read(&self, _read: &PendingRead<'_>) -> Result<(), S3Error> {
        Ok(())
    }

    /// Called for the request being served (see `super::trail`) just before its change
    /// becomes visible; `Err` refuses the request and the change is not made.
    async fn admit_change(&self, _change: Change<'_>) -> Result<(), AuditRefused> {
        Ok(())
    }

    /// Called once per request with its complete record, before the response is sent;
    /// `Err` replaces the response with `503 ServiceUnavailable`.
    async fn finish(&self, _op: &S3Operation) -> Result<(), AuditRefused> {
        Ok(())
    }
}

/// Logs each operation at debug level and admits every upload.
pub struct LogHooks;

#[async_trait]
impl S3Hooks for LogHooks {
    fn operation(&self, op: &S3Operation) {
        tracing::debug!(
            operation = op.operation,
            svm_uuid = %op.svm_uuid,
            bucket = op.bucket.as_deref(),
            key = op.key.as_deref(),
            user = op.user.as_deref(),
            client = ?op.client,
            error = op.error.as_deref(),
            bytes = op.bytes,
            micros = op.elapsed.as_micros() as u64,
            "s3 operation"
        );
    }

    async fn before_commit(&self, upload: &PendingUpload<'_>) -> Result<(), S3Error> {
        tracing::debug!(
            bucket = upload.bucket,
            key = upload.key,
            size = upload.size,
            "s3 upload about to commit"
        );
        Ok(())
    }
}
