//! What the responses are made of, and the [`Source`] trait the server implements
//! over its SVM configuration and scan history.

use chrono::{DateTime, Utc};

use crate::error::SourceError;

/// Enums whose XML spelling is fixed by the RMM documentation. `ALL` lets the
/// schema tests check that the XSD lists exactly the values the renderer can emit.
macro_rules! xml_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling in the XML.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

xml_enum! {
    /// Scan `type` (VIPRE vocabulary). Vigil's mapping: `Custom` a policy run over
    /// chosen paths, `Deep` a run over the whole namespace, `Quick` an incremental
    /// run, `Active` the daily on-access aggregate.
    ScanType {
        Quick => "QUICK",
        Deep => "DEEP",
        Active => "ACTIVE",
        Custom => "CUSTOM",
    }
}

xml_enum! {
    /// Scan `status` (VIPRE vocabulary; `CANCELED` with one L).
    ScanStatus {
        None => "NONE",
        Pending => "PENDING",
        PendingAgent => "PENDING_AGENT",
        Finished => "FINISHED",
        Canceled => "CANCELED",
        Error => "ERROR",
        Paused => "PAUSED",
        Running => "RUNNING",
    }
}

impl ScanStatus {
    /// Whether the scan has completed, i.e. whether `<end>` may be shown.
    pub fn is_complete(self) -> bool {
        matches!(
            self,
            ScanStatus::Finished | ScanStatus::Canceled | ScanStatus::Error
        )
    }
}

xml_enum! {
    /// Threat `status` (VIPRE vocabulary).
    ThreatStatus {
        Quarantined => "QUARANTINED",
        ReleasePending => "RELEASE_PENDING",
        Released => "RELEASED",
        DeletePending => "DELETE_PENDING",
        Deleted => "DELETED",
        Reported => "REPORTED",
        FailedToQuarantine => "FAILED_TO_QUARANTINE",
        FailedToRelease => "FAILED_TO_RELEASE",
        FailedToDelete => "FAILED_TO_DELETE",
    }
}

xml_enum! {
    /// Trace `type` (VIPRE vocabulary). Vigil emits `FILE` for a file and `ARCHIVE`
    /// for a member found inside an archive.
    TraceType {
        Cookie => "COOKIE",
        Process => "PROCESS",
        RegistryEntry => "REGISTRY_ENTRY",
        File => "FILE",
        Folder => "FOLDER",
        Archive => "ARCHIVE",
        ProcessModule => "PROCESS_MODULE",
        DeviceDriver => "DEVICE_DRIVER",
        DllExport => "DLL_EXPORT",
        SystemDllExport => "SYSTEM_DLL_EXPORT",
        MasterBootRecord => "MASTER_BOOT_RECORD",
        Rootkit => "ROOTKIT",
        SystemModule => "SYSTEM_MODULE",
        Hook => "HOOK",
        Unknown => "UNKNOWN",
    }
}

xml_enum! {
    /// Scan-error `reason` (the 43 VIPRE codes). Suggested use by Vigil in
    /// `docs/mav.md` (e.g. an unreadable file is `CREATE_FILE`, an unlistable
    /// directory `LIST_FOLDER_CONTENTS`).
    ErrorReason {
        CreateFile => "CREATE_FILE",
        DeleteFile => "DELETE_FILE",
        CopyFile => "COPY_FILE",
        MoveFile => "MOVE_FILE",
        ReadFileAds => "READ_FILE_ADS",
        ListFolderContents => "LIST_FOLDER_CONTENTS",
        CreateFolder => "CREATE_FOLDER",
        DeleteFolder => "DELETE_FOLDER",
        CopyFolder => "COPY_FOLDER",
        MoveFolder => "MOVE_FOLDER",
        ListProcesses => "LIST_PROCESSES",
        ListProcessModules => "LIST_PROCESS_MODULES",
        OpenProcess => "OPEN_PROCESS",
        CreateProcess => "CREATE_PROCESS",
        SuspendProcess => "SUSPEND_PROCESS",
        ResumeProcess => "RESUME_PROCESS",
        KillProcess => "KILL_PROCESS",
        ListServices => "LIST_SERVICES",
        OpenService => "OPEN_SERVICE",
        StartService => "START_SERVICE",
        PauseService => "PAUSE_SERVICE",
        ResumeService => "RESUME_SERVICE",
        StopService => "STOP_SERVICE",
        DeleteService => "DELETE_SERVICE",
        ListRegistryKeys => "LIST_REGISTRY_KEYS",
        ListRegistryValues => "LIST_REGISTRY_VALUES",
        OpenRegistryValue => "OPEN_REGISTRY_VALUE",
        CreateRegistryValue => "CREATE_REGISTRY_VALUE",
        DeleteRegistryValue => "DELETE_REGISTRY_VALUE",
        LoadRegistryValue => "LOAD_REGISTRY_VALUE",
        GetRegistryValue => "GET_REGISTRY_VALUE",
        SetRegistryValue => "SET_REGISTRY_VALUE",
        RebootDeleteFile => "REBOOT_DELETE_FILE",
        RebootDeleteFolder => "REBOOT_DELETE_FOLDER",
        RebootDeleteRegistryKey => "REBOOT_DELETE_REGISTRY_KEY",
        RebootDeleteRegistryValue => "REBOOT_DELETE_REGISTRY_VALUE",
        CorruptArchive => "CORRUPT_ARCHIVE",
        PasswordProtectedArchive => "PASSWORD_PROTECTED_ARCHIVE",
        ArchiveNestedTooDeep => "ARCHIVE_NESTED_TOO_DEEP",
        RemediationFailure => "REMEDIATION_FAILURE",
        OperationNotImplemented => "OPERATION_NOT_IMPLEMENTED",
        FailedToQuarantine => "FAILED_TO_QUARANTINE",
        Unknown => "UNKNOWN",
    }
}

xml_enum! {
    /// `devicetype` of `list_clients` / `list_devices_at_client`. SVMs are servers;
    /// Vigil has no workstations or mobile devices.
    DeviceType {
        Server => "server",
        Workstation => "workstation",
        MobileDevice => "mobile_device",
    }
}

/// A quarantine item GUID, shown VIPRE-style in braces and upper case:
/// `{55778734-483C-4BCF-A0F5-4C78ED28CBE1}`. Own type rather than a `uuid`
/// dependency: the store converts with `Guid(uuid.as_u128())`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(pub u128);

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xFFFF_FFFF_FFFF
        )
    }
}

/// An SVM seen as an RMM server device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The stable integer `deviceid` (the SVM's documented extension field).
    pub id: u64,
    pub name: String,
    /// The SVM uuid; shown as the server's `guid`.
    pub uuid: String,
    /// The SVM comment, if any.
    pub description: Option<String>,
    /// The SVM is running (ONTAP `state` = `running`).
    pub online: bool,
}

/// The cluster seen as the one RMM client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: u64,
    pub name: String,
    /// IANA zone name, e.g. `Europe/London` (the cluster's timezone).
    pub timezone: String,
    pub created: Option<chrono::NaiveDate>,
}

/// The cluster seen as the client's one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: u64,
    pub name: String,
    pub created: Option<chrono::NaiveDate>,
}

/// The scanning engine a record came from (the embedded YARA-X engine, a clamd or
/// ICAP server...). Shown with `v=2` as attributes of `<engine>`; see `docs/mav.md`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Engine {
    pub name: String,
    pub version: String,
}

/// One scan record (one on-demand run, or one day of on-access scanning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Store id; not shown, but orders scans that started in the same second.
    pub id: u64,
    pub scan_type: ScanType,
    pub status: ScanStatus,
    pub start: DateTime<Utc>,
    /// Shown only when `status` is complete.
    pub end: Option<DateTime<Utc>>,
    pub files_scanned: u64,
    pub folders_scanned: u64,
    /// Always 0 for Vigil (a NAS has no cookies, registry or processes); kept so
    /// the model can carry everything the RMM shows.
    pub cookies_scanned: u64,
    pub registry_scanned: u64,
    pub processes_scanned: u64,
    pub threats: Vec<Threat>,
    pub errors: Vec<ScanError>,
    pub engine: Engine,
}

impl Scan {
    /// `quarantine_count`: quarantine items over all threats.
    pub fn quarantine_count(&self) -> usize {
        self.threats.iter().map(|t| t.quarantine.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threat {
    pub name: String,
    pub category: String,
    pub status: ThreatStatus,
    pub quarantine: Vec<QuarantineItem>,
    pub traces: Vec<Trace>,
}

impl Threat {
    /// The common case: one infected file at `path`.
    pub fn file(
        name: impl Into<String>,
        category: impl Into<String>,
        status: ThreatStatus,
        path: impl Into<String>,
    ) -> Self {
        Threat {
            name: name.into(),
            category: category.into(),
            status,
            quarantine: Vec::new(),
            traces: vec![Trace {
                trace_type: TraceType::File,
                description: path.into(),
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineItem {
    pub guid: Guid,
    /// Files in this item (1 for a quarantined file).
    pub count: u32,
    /// The item has since been deleted from quarantine.
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub trace_type: TraceType,
    /// A path inside the SVM namespace (`/vol1/dir/file`).
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// The path (or other identifier) the error concerns.
    pub item: String,
    pub reason: ErrorReason,
}

/// What the renderer reads. Implemented by the server over its SVM table and scan
/// history; errors become `errorcode` 1.
pub trait Source {
    /// The cluster, as the one RMM client.
    fn client(&self) -> Result<Client, SourceError>;
    /// The cluster, as that client's one site.
    fn site(&self) -> Result<Site, SourceError>;
    /// Every SVM; the renderer filters by the key's scope.
    fn devices(&self) -> Result<Vec<Device>, SourceError>;
    /// Scans of `device` that started at or after `since`, in any order. The
    /// renderer applies the same cut-off again, so a store may return more.
    fn scans(&self, device: u64, since: DateTime<Utc>) -> Result<Vec<Scan>, SourceError>;

    fn device(&self, id: u64) -> Result<Option<Device>, SourceError> {
        Ok(self.devices()?.into_iter().find(|d| d.id == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_is_braced_upper_case() {
        assert_eq!(
            Guid(0x55778734_483C_4BCF_A0F5_4C78ED28CBE1).to_string(),
            "{55778734-483C-4BCF-A0F5-4C78ED28CBE1}"
        );
        assert_eq!(
            Guid(0).to_string(),
            "{00000000-0000-0000-0000-000000000000}"
        );
        assert_eq!(
            Guid(1).to_string(),
            "{00000000-0000-0000-0000-000000000001}"
        );
    }

    #[test]
    fn complete_statuses() {
        let complete: Vec<_> = ScanStatus::ALL
            .iter()
            .filter(|s| s.is_complete())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(complete, ["FINISHED", "CANCELED", "ERROR"]);
    }
}
