//! ONTAP error codes and the error body every failing request gets.
//!
//! One table maps each code Vigil can raise to its HTTP status, so that a handler
//! names the situation and never picks a status by hand.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $status:ident;)*) => {
        /// Every ONTAP error code Vigil raises, with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $name,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            pub fn code(self) -> u64 {
                match self { $(Code::$name => $code,)* }
            }

            pub fn status(self) -> StatusCode {
                match self { $(Code::$name => StatusCode::$status,)* }
            }
        }
    };
}

error_codes! {
    // Generic codes (ONTAP REST reference, "Getting started").
    /// An entry with the same identifiers already exists.
    Duplicate = 1, CONFLICT;
    /// A field has an invalid value, is missing, or an extra field was supplied.
    InvalidField = 2, BAD_REQUEST;
    /// The API path or method is not supported.
    NotSupported = 3, METHOD_NOT_ALLOWED;
    /// An API path Vigil does not serve.
    ApiNotFound = 3, NOT_FOUND;
    /// No entry with the given identifiers.
    NotFound = 4, NOT_FOUND;
    /// Authenticated but not permitted.
    PermissionDenied = 6, FORBIDDEN;
    /// Missing or wrong credentials (ONTAP documents only the status; Vigil reuses 6).
    Unauthenticated = 6, UNAUTHORIZED;
    /// A resource limit was reached.
    LimitExceeded = 7, TOO_MANY_REQUESTS;
    /// The resource is in use by another object.
    InUse = 8, CONFLICT;
    /// Unexpected failure inside Vigil.
    Internal = 262145, INTERNAL_SERVER_ERROR;
    /// The database cannot be reached (a cluster's PostgreSQL is down): try again later.
    /// ONTAP's internal-error code with 503, so that clients retry (docs/cluster.md).
    DatabaseUnavailable = 262145, SERVICE_UNAVAILABLE;
    /// Too many requests in progress.
    TooManyRequests = 262160, TOO_MANY_REQUESTS;
    MissingValue = 262177, BAD_REQUEST;
    /// Unknown field or query parameter.
    UnexpectedArgument = 262179, BAD_REQUEST;
    InvalidValue = 262185, BAD_REQUEST;
    InvalidCombination = 262186, BAD_REQUEST;
    SpecifiedTwice = 262188, BAD_REQUEST;
    /// A PATCH that changes nothing.
    NothingToModify = 262190, BAD_REQUEST;
    ExpressionMissingValue = 262194, BAD_REQUEST;
    /// A field that cannot be set in this operation (read-only, or create-only on PATCH).
    ReadOnlyField = 262196, BAD_REQUEST;
    /// A value of the wrong type or outside its allowed set.
    InvalidFieldValue = 262197, BAD_REQUEST;
    BodyNotAllowed = 262198, BAD_REQUEST;
    InvalidJson = 262199, BAD_REQUEST;
    InvalidJsonRange = 262200, BAD_REQUEST;
    /// A JSON problem without a better code, e.g. a body over the size limit.
    JsonUnknown = 262201, PAYLOAD_TOO_LARGE;
    SecretInUrl = 262202, BAD_REQUEST;
    FieldNotInPatch = 262203, BAD_REQUEST;
    OrderByTimeout = 262210, INTERNAL_SERVER_ERROR;
    /// Filters in the query of a POST.
    PostWithFilter = 262211, BAD_REQUEST;
    RequiredValueMissing = 262212, BAD_REQUEST;
    DuplicateValue = 262222, BAD_REQUEST;
    FieldNotReadable = 262249, BAD_REQUEST;
    FieldNotQueryable = 262250, BAD_REQUEST;
    ArrayExpected = 262254, BAD_REQUEST;
    ArrayNotExpected = 262255, BAD_REQUEST;
    /// A field that `order_by` cannot sort on.
    OrderByField = 262268, BAD_REQUEST;
    PropertyTwice = 262282, BAD_REQUEST;
    /// Unbalanced braces in `fields`.
    MismatchedBraces = 262286, BAD_REQUEST;

    // Jobs (/api/cluster/jobs).
    JobAlreadyTerminal = 458762, BAD_REQUEST;
    JobNotRunning = 458776, BAD_REQUEST;
    JobPauseUnsupported = 458783, BAD_REQUEST;
    JobCancelUnsupported = 458784, BAD_REQUEST;

    // Schedules (/api/cluster/schedules).
    InvalidSchedule = 458788, BAD_REQUEST;

    // SVMs (/api/svm/svms).
    SvmIncorrectFields = 13434884, BAD_REQUEST;
    SvmLanguageNotUtf8 = 13434885, BAD_REQUEST;
    SvmIpspaceMismatch = 13434888, BAD_REQUEST;
    SvmNameInUse = 13434908, CONFLICT;
    SvmNameTooLong = 13434911, BAD_REQUEST;
    SvmIpspaceNotFound = 13434912, BAD_REQUEST;
    SvmNamespaceUnusable = 13434880, BAD_REQUEST;

    // SVM references in request bodies.
    /// The SVM named in the body does not exist.
    SvmRefNotFound = 2621462, NOT_FOUND;
    /// `svm.uuid` and `svm.name` name different SVMs.
    SvmRefMismatch = 2621706, BAD_REQUEST;

    // Vscan (/api/protocols/vscan...). ONTAP documents no statuses for these; state and
    // validation failures are 400, an existing nested object 409 (docs/vscan.md).
    VscanAlreadyEnabled = 10027009, BAD_REQUEST;
    VscanAlreadyDisabled = 10027010, BAD_REQUEST;
    VscanAdminSvm = 10027012, BAD_REQUEST;
    VscanNoActivePool = 10027015, BAD_REQUEST;
    VscanNoEnabledPolicy = 10027023, BAD_REQUEST;
    /// A cluster-owned on-access policy may only be enabled or disabled from a data SVM.
    VscanClusterPolicyModify = 10027033, BAD_REQUEST;
    VscanClusterPolicyDelete = 10027034, BAD_REQUEST;
    VscanEnabledPolicyDelete = 10027040, BAD_REQUEST;
    VscanTooManyOnAccess = 10027043, BAD_REQUEST;
    /// A cluster-owned scanner pool may only get a role from a data SVM.
    VscanClusterPoolModify = 10027063, BAD_REQUEST;
    VscanClusterPoolDelete = 10027064, BAD_REQUEST;
    VscanLastActivePool = 10027070, BAD_REQUEST;
    VscanBadServer = 10027086, BAD_REQUEST;
    VscanFileSize = 10027101, BAD_REQUEST;
    VscanEmptyList = 10027107, BAD_REQUEST;
    VscanBadPrivilegedUser = 10027108, BAD_REQUEST;
    VscanBadCifsPath = 10027109, BAD_REQUEST;
    VscanScheduleNeedsVscan = 10027164, BAD_REQUEST;
    VscanScheduleNotFound = 10027167, BAD_REQUEST;
    VscanBadScanPath = 10027168, BAD_REQUEST;
    VscanUnsupportedScanPath = 10027169, BAD_REQUEST;
    VscanTooManyOnDemand = 10027173, BAD_REQUEST;
    VscanBadExcludePath = 10027174, BAD_REQUEST;
    VscanSvmNotOperational = 10027175, BAD_REQUEST;
    VscanBadLogPath = 10027176, BAD_REQUEST;
    VscanUnsupportedLogPath = 10027177, BAD_REQUEST;
    /// The policy was saved but could not be enabled or disabled.
    VscanPolicySavedNotToggled = 10027249, BAD_REQUEST;
    VscanPolicyToggleFailed = 10027250, BAD_REQUEST;
    VscanTooManyPaths = 10027253, BAD_REQUEST;
    VscanTooManyExtensions = 10027254, BAD_REQUEST;
    VscanAlreadyScheduled = 10027255, BAD_REQUEST;
    VscanClusterUuid = 10027256, BAD_REQUEST;
    VscanClusterMismatch = 10027257, BAD_REQUEST;
    VscanClusterName = 10027258, BAD_REQUEST;
    VscanNestedFailed = 10027259, BAD_REQUEST;
    VscanNestedExists = 10027260, CONFLICT;

    // Accounts (/api/security/accounts).
    AccountInvalidRole = 5636129, BAD_REQUEST;
    AccountOwnerNotFound = 5636169, BAD_REQUEST;
    AccountSelfDelete = 5636198, BAD_REQUEST;
    AccountPasswordTooShort = 7077906, BAD_REQUEST;
    /// The new password equals the current one (code chosen in the password-policy
    /// family: ONTAP's REST code is undocumented; docs/rest.md).
    AccountPasswordReused = 7077918, BAD_REQUEST;

    // S3 audit (/api/protocols/audit/.../object-store). ONTAP documents no HTTP status
    // for these: lookups that find nothing are 404, a second configuration 409, a
    // failure inside Vigil 500, everything else 400.
    /// The SVM in the path does not exist.
    AuditSvmLookup = 9699340, NOT_FOUND;
    AuditCreateFailed = 140902401, INTERNAL_SERVER_ERROR;
    AuditAlreadyPresent = 140902402, CONFLICT;
    /// PATCH of an SVM that has no configuration.
    AuditModifyAbsent = 140902415, NOT_FOUND;
    AuditModifyFailed = 140902416, INTERNAL_SERVER_ERROR;
    AuditDeleteFailed = 140902420, INTERNAL_SERVER_ERROR;
    AuditDeleteEnabled = 140902421, BAD_REQUEST;
    AuditAlreadyEnabled = 140902431, BAD_REQUEST;
    AuditAlreadyDisabled = 140902446, BAD_REQUEST;
    AuditPathNotFound = 140902456, BAD_REQUEST;
    AuditPathNotDirectory = 140902457, BAD_REQUEST;
    AuditPathNotCanonical = 140902458, BAD_REQUEST;
    AuditPathEmpty = 140902459, BAD_REQUEST;
    AuditRotateSizeTooSmall = 140902460, BAD_REQUEST;
    AuditPathSymlink = 140902461, BAD_REQUEST;
    AuditPathTooLong = 140902470, BAD_REQUEST;
    AuditPathInaccessible = 140902478, BAD_REQUEST;
    AuditEnabledNotAlone = 140902479, BAD_REQUEST;
    AuditRotateFailed = 140902491, INTERNAL_SERVER_ERROR;
    AuditRotateDisabled = 140902492, BAD_REQUEST;

    // S3 server (/api/protocols/s3/...): name rules and lookups; other failures use
    // the generic codes (docs/s3.md).
    S3BucketNameChars = 92405785, BAD_REQUEST;
    S3BucketNameLength = 92405786, BAD_REQUEST;
    S3ServerNameChars = 92405789, BAD_REQUEST;
    S3ServerNameLength = 92405790, BAD_REQUEST;
    /// The SVM or bucket uuid in the path does not exist.
    S3UuidNotFound = 92405861, NOT_FOUND;
}

/// An ONTAP error: code, message and optionally the input field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub target: Option<String>,
    /// The `Allow` header of a 405 reply.
    pub allow: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            target: None,
            allow: None,
        }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> ApiError {
        self.target = Some(target.into());
        self
    }

    pub fn not_found(target: &str) -> ApiError {
        ApiError::new(Code::NotFound, "entry doesn't exist").with_target(target)
    }

    pub fn unexpected_argument(name: &str) -> ApiError {
        ApiError::new(
            Code::UnexpectedArgument,
            format!("Unexpected argument \"{name}\"."),
        )
        .with_target(name)
    }

    pub fn invalid_value(field: &str, value: &str) -> ApiError {
        ApiError::new(
            Code::InvalidFieldValue,
            format!("\"{value}\" is an invalid value for field \"{field}\""),
        )
        .with_target(field)
    }

    pub fn read_only(field: &str) -> ApiError {
        ApiError::new(
            Code::ReadOnlyField,
            format!("Field \"{field}\" cannot be set in this operation."),
        )
        .with_target(field)
    }

    pub fn required(field: &str) -> ApiError {
        ApiError::new(
            Code::RequiredValueMissing,
            format!("\"{field}\" is a required field"),
        )
        .with_target(field)
    }

    /// The string member `field` of a request body, or 262212 naming it.
    pub fn required_str<'a>(body: &'a serde_json::Value, field: &str) -> ApiResult<&'a str> {
        body.get(field)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ApiError::required(field))
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(Code::PermissionDenied, "not authorized for that command")
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Internal, message)
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({
            "message": self.message,
            "code": self.code.code().to_string(),
        });
        if let Some(target) = &self.target {
            error["target"] = json!(target);
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code.code())
    }
}

impl std::error::Error for ApiError {}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::new(
                Code::DatabaseUnavailable,
                format!("The database is not available; nothing was changed. Retry later. ({e})"),
            );
        }
        tracing::error!(error = %e, "store failure");
        ApiError::internal(format!("Persistence failure: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::response::json_response(self.status(), &self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            assert!(
                seen.insert((c.code(), c.status())),
                "duplicate code {}",
                c.code()
            );
        }
    }

    #[test]
    fn body_has_string_code_and_target() {
        let e = ApiError::not_found("uuid");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            e.body(),
            json!({"error": {"message": "entry doesn't exist", "code": "4", "target": "uuid"}})
        );
    }
}
