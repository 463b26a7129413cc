//! The S3 audit log pipeline: durable JSON-lines logs per SVM with size and schedule
//! rotation and count/age retention.

pub mod log;
pub mod schedule;

pub use log::{AuditError, AuditLog, Clock, LogConfig, SystemClock};
pub use schedule::RotationSchedule;
