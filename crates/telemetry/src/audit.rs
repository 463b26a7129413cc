//! S3 audit logs: records written or refused, and rotations.

use metrics::{counter, describe_counter};

pub const RECORDS: &str = "vigil_audit_records_total";
pub const ROTATIONS: &str = "vigil_audit_log_rotations_total";

/// An audit record is durable in its log.
#[derive(Debug, Clone, Copy)]
pub struct AuditRecordWritten;

impl AuditRecordWritten {
    pub fn emit(self) {
        counter!(RECORDS, "result" => "written").increment(1);
    }
}

/// An audit record could not be written (so its S3 request is refused).
#[derive(Debug, Clone, Copy)]
pub struct AuditRecordRefused;

impl AuditRecordRefused {
    pub fn emit(self) {
        counter!(RECORDS, "result" => "refused").increment(1);
    }
}

/// An active audit log file became an archive.
#[derive(Debug, Clone, Copy)]
pub struct AuditLogRotated {
    /// `size`, `schedule` or `request` (`log.rotation.now`).
    pub cause: &'static str,
}

impl AuditLogRotated {
    pub fn emit(self) {
        counter!(ROTATIONS, "cause" => self.cause).increment(1);
    }
}

pub(crate) fn describe() {
    describe_counter!(RECORDS, "S3 audit records, by result (written or refused).");
    describe_counter!(ROTATIONS, "S3 audit log rotations, by cause.");
}
