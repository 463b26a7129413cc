//! The typed result of scanning one object.

use std::fmt;

/// Which limit stopped a scan (clamd's limit of the same name in the detection name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Archives nested deeper than `max_recursion`.
    Recursion,
    /// More archive members than `max_files` in one scanned object.
    Files,
    /// An object, or what is unpacked from it, larger than `max_scan_size`.
    ScanSize,
    /// A file, or one member once unpacked, larger than `max_file_size`.
    FileSize,
    /// A member that unpacks to more than `max_compression_ratio` times its packed size.
    CompressionRatio,
    /// The object took longer than `scan_timeout` to scan.
    ScanTime,
}

impl Limit {
    /// The detection name reported over clamd, in ClamAV's own shape for the same event
    /// (`AlertExceedsMax`), so clients block the file instead of passing it.
    pub fn detection_name(self) -> &'static str {
        match self {
            Limit::Recursion => "Heuristics.Limits.Exceeded.MaxRecursion",
            Limit::Files => "Heuristics.Limits.Exceeded.MaxFiles",
            Limit::ScanSize => "Heuristics.Limits.Exceeded.MaxScanSize",
            Limit::FileSize => "Heuristics.Limits.Exceeded.MaxFileSize",
            Limit::CompressionRatio => "Heuristics.Limits.Exceeded.MaxCompressionRatio",
            Limit::ScanTime => "Heuristics.Limits.Exceeded.MaxScanTime",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Recursion => "archive nesting deeper than the recursion limit",
            Limit::Files => "more archive members than the file-count limit",
            Limit::ScanSize => "more data than the scan-size limit",
            Limit::FileSize => "a file or archive member larger than the file-size limit",
            Limit::CompressionRatio => {
                "an archive member above the compression-ratio limit (zip bomb)"
            }
            Limit::ScanTime => "a scan longer than the scan-time limit",
        })
    }
}

/// A file's verdict with the length it was scanned at, so that callers counting bytes
/// need no fstat of their own (one per file was a measurable share of a bulk scan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub verdict: Verdict,
    /// The file's length when it was scanned; 0 when it was not a regular file.
    pub bytes: u64,
}

impl Scanned {
    pub fn unscanned(verdict: Verdict) -> Scanned {
        Scanned { verdict, bytes: 0 }
    }
}

/// What a scan concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Detection names, first match first; one name unless all matches were asked for.
    Infected(Vec<String>),
    /// The object could not be scanned (unreadable, not a regular file, scan timeout).
    Error(String),
    /// Unpacking stopped at a limit before anything was found; what lies beyond it was not
    /// scanned, so this is not a clean result.
    LimitExceeded(Limit),
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        matches!(self, Verdict::Clean)
    }

    /// The verdict as the metrics count it: a limit hit is a detection, as clients see it.
    pub fn metric(&self) -> telemetry::scans::Verdict {
        match self {
            Verdict::Clean => telemetry::scans::Verdict::Clean,
            Verdict::Infected(_) | Verdict::LimitExceeded(_) => telemetry::scans::Verdict::Infected,
            Verdict::Error(_) => telemetry::scans::Verdict::Error,
        }
    }

    /// The names a clamd client sees as `<Name> FOUND` lines: detections, or the limit's
    /// heuristic name.
    pub fn found_names(&self) -> Vec<&str> {
        match self {
            Verdict::Infected(names) => names.iter().map(String::as_str).collect(),
            Verdict::LimitExceeded(limit) => vec![limit.detection_name()],
            Verdict::Clean | Verdict::Error(_) => Vec::new(),
        }
    }
}
