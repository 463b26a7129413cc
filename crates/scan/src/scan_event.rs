//! What the dispatcher reports about scans, in ONTAP's event vocabulary.

/// Scan problems and detections, in ONTAP's event vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEventKind {
    FileInfected,
    ScanFailed,
    ScanTimedout,
    ScanInternalError,
}

impl ScanEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanEventKind::FileInfected => "file_infected",
            ScanEventKind::ScanFailed => "scan_failed",
            ScanEventKind::ScanTimedout => "scan_timedout",
            ScanEventKind::ScanInternalError => "scan_internal_error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScanEvent {
    pub kind: ScanEventKind,
    pub svm: String,
    /// The file as the SVM names it (`/vol1/a.exe`).
    pub file_path: String,
    /// The server's address as status shows it, when one was involved.
    pub server: Option<String>,
    pub vendor: Option<String>,
    pub version: Option<String>,
    /// Threat name or error text.
    pub detail: String,
}
