//! `/api/protocols/s3/...`: the S3 server of each SVM, its buckets, users, groups and
//! policies, ONTAP's way. Records live in the store as the `s3model` documents; the listeners follow
//! the service records (`crate::s3::endpoints`). Decisions ONTAP leaves open are in
//! `docs/s3.md`.

pub mod buckets;
pub mod groups;
pub mod policies;
pub mod services;
pub mod users;

use std::sync::Arc;

use rest::{ApiError, ApiResult, Code, Keys};
use s3model::model::{Bucket, SERVICE_KIND, Service, USER_KIND, User};
use serde_json::Value;

use crate::state::State;

/// The SVM a path names.
pub fn path_svm(state: &State, uuid: &str) -> ApiResult<Arc<Value>> {
    state.svm(uuid).ok_or_else(|| {
        ApiError::new(
            Code::S3UuidNotFound,
            "The specified SVM UUID or bucket UUID does not exist.",
        )
        .with_target("svm.uuid")
    })
}

/// The UUID of the SVM a path under `/services/{svm.uuid}/...` names, which must run
/// an S3 server (what creating a user, group or policy needs).
pub fn path_svm_with_service(state: &State, keys: &Keys) -> ApiResult<String> {
    let uuid = keys.get("svm.uuid").cloned().unwrap_or_default();
    let svm = path_svm(state, &uuid)?;
    require_service(state, &svm)?;
    Ok(uuid)
}

pub fn service_of(state: &State, svm_uuid: &str) -> Option<Service> {
    let doc = state.store.get(SERVICE_KIND, svm_uuid)?;
    serde_json::from_value(doc.as_ref().clone()).ok()
}

/// The service of an SVM that must have one (buckets and users need a server).
pub fn require_service(state: &State, svm: &Value) -> ApiResult<Service> {
    let uuid = svm["uuid"].as_str().unwrap_or_default();
    service_of(state, uuid).ok_or_else(|| {
        ApiError::new(
            Code::InvalidField,
            format!(
                "SVM \"{}\" has no S3 server: create one with POST /api/protocols/s3/services first.",
                svm["name"].as_str().unwrap_or_default()
            ),
        )
        .with_target("svm.uuid")
    })
}

pub fn users_of(state: &State, svm_uuid: &str) -> Vec<User> {
    let mut out: Vec<User> = state
        .store
        .list(USER_KIND)
        .iter()
        .filter(|d| d["svm_uuid"] == svm_uuid)
        .filter_map(|d| serde_json::from_value(d.as_ref().clone()).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn buckets_of(state: &State, svm_uuid: &str) -> Vec<Bucket> {
    crate::s3::buckets::of_svm(&state.store, svm_uuid)
}

pub fn stored_buckets(state: &State) -> Vec<Bucket> {
    crate::s3::buckets::all(&state.store)
}

/// A non-null member of an object.
pub fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get(name).filter(|m| !m.is_null())
}

/// An optional string member; anything but a string is refused.
pub fn opt_str(body: &Value, name: &str, target: &str) -> ApiResult<Option<String>> {
    match member(body, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid_value(target, &other.to_string())),
    }
}

pub fn opt_bool(body: &Value, name: &str) -> ApiResult<Option<bool>> {
    match member(body, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::invalid_value(name, &other.to_string())),
    }
}

pub fn check_comment(comment: &str, target: &str) -> ApiResult<()> {
    if comment.chars().count() > 256 {
        return Err(ApiError::new(
            Code::InvalidFieldValue,
            format!("\"{target}\" must be at most 256 characters long."),
        )
        .with_target(target));
    }
    Ok(())
}

pub fn bucket_name_error(name: &str, reason: String) -> ApiError {
    let code = if (3..=63).contains(&name.len()) {
        Code::S3BucketNameChars
    } else {
        Code::S3BucketNameLength
    };
    ApiError::new(
        code,
        format!("Bucket name \"{name}\" is not valid: {reason}."),
    )
    .with_target("name")
}
