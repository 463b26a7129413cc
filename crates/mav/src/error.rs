//! Everything that ends in the RMM error form
//! (`<result status="FAIL"><error><errorcode/><message/></error></result>`).

use thiserror::Error;

/// A failure the caller sees as an RMM error response. `errorcode` 3 and 4 are the
/// codes RMM clients act on (login failed / invalid parameter); 1 and 2 are Vigil's
/// choices for cases the RMM documents no code for (see `docs/mav.md`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MavError {
    /// `apikey` missing, empty, repeated, unknown or revoked. One message for all of
    /// them, so that a caller cannot probe which keys exist.
    #[error("Login failed: the API key is missing or not valid")]
    BadKey,
    /// `service` missing, repeated or not one this server provides.
    #[error("Unknown service: {0}")]
    UnknownService(String),
    /// A parameter is missing, repeated or has a value outside its domain; also a
    /// `deviceid`, `clientid` or `siteid` that does not exist or that the key may not
    /// see (the two are indistinguishable on purpose).
    #[error("Invalid parameter {name}: {reason}")]
    BadParameter { name: &'static str, reason: String },
    /// The data source failed. The detail is for the server log; the response only
    /// says that something went wrong.
    #[error("Internal error: {0}")]
    Internal(String),
}

impl MavError {
    pub fn errorcode(&self) -> u32 {
        match self {
            MavError::Internal(_) => 1,
            MavError::UnknownService(_) => 2,
            MavError::BadKey => 3,
            MavError::BadParameter { .. } => 4,
        }
    }

    /// The `<message>` text sent to the caller (the `Display` form, except that
    /// internal details stay in the server log).
    pub fn public_message(&self) -> String {
        match self {
            MavError::Internal(_) => "Internal error".to_string(),
            other => other.to_string(),
        }
    }

    pub fn bad_parameter(name: &'static str, reason: impl Into<String>) -> Self {
        MavError::BadParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// A failure of the caller's [`crate::Source`] (history store, configuration).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl From<SourceError> for MavError {
    fn from(e: SourceError) -> Self {
        MavError::Internal(e.0)
    }
}
