//! The audit record: one JSON object per audited S3 request, one object per line.
//!
//! The layout is Vigil's own (ONTAP does not publish its S3 JSON record). It takes
//! the identifying part of ONTAP's NAS audit record (time, SVM name and uuid, node,
//! event name, result, subject IP/user, object name) and the request part of MinIO's
//! audit entry (API name, bucket, object, HTTP status, request id, bytes in/out,
//! time to respond, user agent). `docs/audit.md` shows an example line.

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or disappears; adding fields keeps it.
pub const RECORD_VERSION: u32 = 1;

/// Which `events` switch of the configuration selects a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Object access (`events.data`).
    Data,
    /// Bucket and configuration operations (`events.management`).
    Management,
}

macro_rules! s3_events {
    ($($category:ident: $($name:ident),+;)+) => {
        /// ONTAP's S3 audit event names (ONTAP 9.10.1 to 9.15.1, current names).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum S3Event {
            $($($name,)+)+
        }

        impl S3Event {
            pub const ALL: &'static [S3Event] = &[$($(S3Event::$name,)+)+];

            /// The category ONTAP files the event under.
            pub fn category(self) -> Category {
                match self {
                    $($(S3Event::$name => Category::$category,)+)+
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $($(S3Event::$name => stringify!($name),)+)+
                }
            }
        }
    };
}

s3_events! {
    Data: HeadObject, GetObject, PutObject, DeleteObject, ListBucket, ListAllMyBuckets,
        ListBucketVersions, MPUpload, MPUploadPart, MPComplete, MPAbort, GetObjectTagging,
        PutObjectTagging, DeleteObjectTagging, ListUploads, ListParts,
        // Vigil's names for operations ONTAP's list lacks (docs/audit.md).
        DeleteObjects;
    Management: HeadBucket, GetBucketAcl, GetObjectAcl, PutBucket, DeleteBucket,
        ModifyObjectTagging, GetBucketVersioning, PutBucketVersioning, GetBucketPolicy,
        PutBucketPolicy, DeleteBucketPolicy, CopyObject, UploadPartCopy, PutBucketLifecycle,
        GetBucketLifecycle, DeleteBucketLifecycle, GetObjectRetention, PutObjectRetention,
        PutBucketObjectLockConfiguration, GetBucketObjectLockConfiguration, GetBucketCORS,
        PutBucketCORS, DeleteBucketCORS,
        GetBucketLocation;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvmRef {
    pub uuid: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub ip: IpAddr,
    pub port: u16,
}

/// Who made the request. Anonymous requests have neither member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// The S3 user the access key belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One audited S3 request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub version: u32,
    /// When the request arrived: RFC 3339, UTC, microseconds.
    #[serde(with = "rfc3339_micros")]
    pub time: DateTime<Utc>,
    /// Filled in by the hub from the configuration the record was written under.
    pub svm: SvmRef,
    /// Node that served the request; filled in by the hub.
    pub node: String,
    /// Always `S3` (the NAS record's `Source`), so mixed logs stay distinguishable.
    pub source: String,
    /// Derived from `event` by the hub.
    pub category: Category,
    pub event: S3Event,
    pub result: Outcome,
    /// The S3 error code of a failed request (`AccessDenied`, `NoSuchKey`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub http_status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Object key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub client: Client,
    pub user: Principal,
    pub request_id: String,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// From the request's arrival to its last response byte.
    pub duration_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// This record replaces the earlier one of the same `request_id`, written before
    /// the request's change, whose outcome turned out otherwise (docs/audit.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revised: bool,
}

impl AuditEvent {
    /// A successful request that arrived now; the caller fills in the rest.
    pub fn new(event: S3Event, client: SocketAddr, request_id: impl Into<String>) -> AuditEvent {
        AuditEvent {
            version: RECORD_VERSION,
            time: Utc::now(),
            svm: SvmRef::default(),
            node: String::new(),
            source: "S3".to_string(),
            category: event.category(),
            event,
            result: Outcome::Success,
            error_code: None,
            http_status: 200,
            bucket: None,
            object: None,
            version_id: None,
            client: Client {
                ip: client.ip(),
                port: client.port(),
            },
            user: Principal::default(),
            request_id: request_id.into(),
            bytes_in: 0,
            bytes_out: 0,
            duration_us: 0,
            user_agent: None,
            revised: false,
        }
    }
}

/// chrono's default serde form drops trailing zero digits; a fixed width keeps lines
/// sortable as text and always shows the sub-second part.
mod rfc3339_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serializes_one_line_with_micro_time() {
        let mut e = AuditEvent::new(
            S3Event::PutObject,
            "192.0.2.7:50123".parse().unwrap(),
            "req-1",
        );
        e.time = Utc.with_ymd_and_hms(2026, 11, 22, 13, 0, 5).unwrap();
        e.object = Some("a\nb".into());
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains('\n'));
        assert!(
            text.contains(r#""time":"2026-11-22T13:00:05.000000Z""#),
            "{text}"
        );
        assert!(text.contains(r#""event":"PutObject""#));
        assert!(text.contains(r#""category":"data""#));
        let back: AuditEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn categories_follow_ontap() {
        assert_eq!(S3Event::GetObject.category(), Category::Data);
        assert_eq!(S3Event::MPComplete.category(), Category::Data);
        assert_eq!(S3Event::PutBucket.category(), Category::Management);
        assert_eq!(S3Event::DeleteBucket.category(), Category::Management);
        assert_eq!(S3Event::ALL.len(), 41);
    }
}
