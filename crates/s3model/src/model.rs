//! The stored documents of the S3 server. Each is one JSON document in the store,
//! under its kind; the REST resources render them and the data path reads them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One service per SVM, id = the SVM's uuid.
pub const SERVICE_KIND: &str = "s3_service";
/// Id = the bucket's uuid.
pub const BUCKET_KIND: &str = "s3_bucket";
/// Id = [`user_id`].
pub const USER_KIND: &str = "s3_user";

/// ONTAP's listener defaults.
pub const DEFAULT_PORT: u16 = 80;
pub const DEFAULT_SECURE_PORT: u16 = 443;
/// The quota a bucket gets when POST names no `size` (Vigil's choice: ONTAP's
/// documented default is not stated in its REST reference).
pub const DEFAULT_BUCKET_SIZE: u64 = 800 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub svm_uuid: String,
    pub name: String,
    pub enabled: bool,
    #[serde(default)]
    pub comment: String,
    pub is_http_enabled: bool,
    pub is_https_enabled: bool,
    pub port: u16,
    pub secure_port: u16,
}

impl Service {
    /// A service as POST creates it, before the body's values are applied.
    pub fn new(svm_uuid: &str, name: &str) -> Service {
        Service {
            svm_uuid: svm_uuid.to_string(),
            name: name.to_string(),
            enabled: true,
            comment: String::new(),
            is_http_enabled: false,
            is_https_enabled: true,
            port: DEFAULT_PORT,
            secure_port: DEFAULT_SECURE_PORT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketType {
    S3,
    Nas,
}

impl BucketType {
    pub fn as_str(self) -> &'static str {
        match self {
            BucketType::S3 => "s3",
            BucketType::Nas => "nas",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Versioning {
    Disabled,
    Enabled,
    Suspended,
}

impl Versioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Versioning::Disabled => "disabled",
            Versioning::Enabled => "enabled",
            Versioning::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Versioning> {
        match text {
            "disabled" => Some(Versioning::Disabled),
            "enabled" => Some(Versioning::Enabled),
            "suspended" => Some(Versioning::Suspended),
            _ => None,
        }
    }

    /// S3's rule, which ONTAP keeps: once enabled, versioning can be suspended but
    /// never disabled again.
    pub fn may_become(self, next: Versioning) -> bool {
        !(self != Versioning::Disabled && next == Versioning::Disabled)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub uuid: String,
    pub svm_uuid: String,
    pub name: String,
    #[serde(default)]
    pub comment: String,
    pub size: u64,
    #[serde(rename = "type")]
    pub kind: BucketType,
    #[serde(default)]
    pub nas_path: Option<String>,
    pub versioning_state: Versioning,
    /// `audit_event_selector` as given (`access`, `permission`); `None`: not audited.
    #[serde(default)]
    pub audit_event_selector: Option<Value>,
    /// RFC 3339.
    pub create_time: String,
    /// The bucket policy (`policy.statements` over REST, PutBucketPolicy over S3).
    #[serde(default)]
    pub policy: Vec<crate::policy::Statement>,
    /// The user whose S3 CreateBucket made it; `None` for buckets made over REST.
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub svm_uuid: String,
    pub name: String,
    #[serde(default)]
    pub comment: String,
    pub access_key: String,
    /// The secret key sealed with the node's S3 secret key (never the secret itself).
    pub sealed_secret: String,
    /// ISO-8601 duration as given; `None`: keys do not expire.
    #[serde(default)]
    pub key_time_to_live: Option<String>,
    /// RFC 3339; set from the TTL when the keys were made.
    #[serde(default)]
    pub key_expiry_time: Option<String>,
}

pub fn user_id(svm_uuid: &str, name: &str) -> String {
    format!("{svm_uuid}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_never_returns_to_disabled() {
        use Versioning::*;
        assert!(Disabled.may_become(Enabled));
        assert!(Enabled.may_become(Suspended));
        assert!(Suspended.may_become(Enabled));
        assert!(!Enabled.may_become(Disabled));
        assert!(!Suspended.may_become(Disabled));
    }

    #[test]
    fn documents_round_trip() {
        let s = Service::new("u", "s3.vs1");
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(serde_json::from_value::<Service>(v).unwrap(), s);
        let b: Bucket = serde_json::from_value(serde_json::json!({
            "uuid": "b", "svm_uuid": "u", "name": "bkt", "size": 1, "type": "s3",
            "versioning_state": "disabled", "create_time": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(b.kind, BucketType::S3);
        assert_eq!(b.nas_path, None);
    }
}
