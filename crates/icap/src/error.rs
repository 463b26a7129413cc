use std::io;
use std::time::Duration;

/// Why an ICAP exchange produced no verdict. No error is ever a clean verdict: the
/// caller decides between retrying elsewhere and reporting the scan as failed.
#[derive(Debug, thiserror::Error)]
pub enum IcapError {
    /// The TCP connection could not be made (refused, unreachable, connect timeout).
    #[error("cannot connect to ICAP server {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// The whole exchange took longer than [`Config::timeout`](crate::Config::timeout).
    #[error("ICAP server did not answer within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection before its reply was complete.
    #[error("ICAP server closed the connection before its reply was complete")]
    Closed,
    /// The reply broke the protocol (bad status line, headers, chunking, sizes over the
    /// limits, a RESPMOD-less service).
    #[error("ICAP protocol error: {0}")]
    Protocol(String),
    /// The server answered with an ICAP error status (4xx, 5xx), e.g. `404 Service not
    /// found` for a wrong service name.
    #[error("ICAP server answered {code} {reason}")]
    Status { code: u16, reason: String },
    /// Reading from or writing to the connection failed.
    #[error("ICAP connection I/O error: {0}")]
    Io(io::Error),
    /// Reading the file to scan failed, or it held fewer bytes than announced. Another
    /// server would not do better.
    #[error("cannot read the file to scan: {0}")]
    Source(io::Error),
}

impl IcapError {
    /// Errors that say something about the server or the network rather than about
    /// the request: worth retrying on another server, and worth a health check.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            IcapError::Connect { .. }
                | IcapError::Timeout(_)
                | IcapError::Closed
                | IcapError::Io(_)
        )
    }
}
