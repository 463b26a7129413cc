//! The S3 audit log pipeline: durable JSON-lines logs per SVM with size and schedule
//! rotation and count/age retention, the audit record, and the per-node hub the S3
//! endpoint records through.

pub mod hub;
pub mod log;
pub mod record;
pub mod schedule;

pub use hub::{AuditHub, SvmAudit};
pub use log::{AuditError, AuditLog, Clock, LogConfig, SystemClock};
pub use record::{AuditEvent, Category, Outcome, S3Event};
pub use schedule::RotationSchedule;
