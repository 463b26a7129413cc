//! Fixtures shared by the integration tests: an in-memory [`Source`], keys, and
//! helpers to run `xmllint`.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use mav::*;

pub fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid time")
}

pub fn now() -> DateTime<Utc> {
    t(2026, 11, 22, 12, 0, 0)
}

pub fn ctx() -> Context {
    Context::new("vigil.example", now())
}

pub struct MemSource {
    pub client: Client,
    pub site: Site,
    pub devices: Vec<Device>,
    pub scans: HashMap<u64, Vec<Scan>>,
    pub fail: bool,
}

impl Source for MemSource {
    fn client(&self) -> Result<Client, SourceError> {
        self.check()?;
        Ok(self.client.clone())
    }
    fn site(&self) -> Result<Site, SourceError> {
        self.check()?;
        Ok(self.site.clone())
    }
    fn devices(&self) -> Result<Vec<Device>, SourceError> {
        self.check()?;
        Ok(self.devices.clone())
    }
    fn scans(&self, device: u64, _since: DateTime<Utc>) -> Result<Vec<Scan>, SourceError> {
        self.check()?;
        // Returns everything, old scans included: the renderer must cut them.
        Ok(self.scans.get(&device).cloned().unwrap_or_default())
    }
}

impl MemSource {
    fn check(&self) -> Result<(), SourceError> {
        if self.fail {
            Err(SourceError("database is locked".into()))
        } else {
            Ok(())
        }
    }
}

pub const VS1: u64 = 1001;
/// Name, description and paths that need escaping, non-ASCII.
pub const ODD: u64 = 1002;
pub const EMPTY: u64 = 1003;

pub fn engine() -> Engine {
    Engine {
        name: "YARA-X".into(),
        version: "1.9.0".into(),
    }
}

pub fn scan(id: u64, scan_type: ScanType, status: ScanStatus, start: DateTime<Utc>) -> Scan {
    Scan {
        id,
        scan_type,
        status,
        start,
        end: None,
        files_scanned: 0,
        folders_scanned: 0,
        cookies_scanned: 0,
        registry_scanned: 0,
        processes_scanned: 0,
        threats: vec![],
        errors: vec![],
        engine: engine(),
    }
}

pub fn vs1_scans() -> Vec<Scan> {
    let mut finished = scan(
        1,
        ScanType::Custom,
        ScanStatus::Finished,
        t(2026, 11, 20, 8, 0, 0),
    );
    finished.end = Some(t(2026, 11, 20, 8, 5, 7));
    finished.files_scanned = 3297;
    finished.folders_scanned = 818;
    let mut quarantined = Threat::file(
        "EICAR-Test-File",
        "Virus",
        ThreatStatus::Quarantined,
        "/vol1/eicar.com",
    );
    quarantined.quarantine.push(QuarantineItem {
        guid: Guid(0x55778734_483C_4BCF_A0F5_4C78ED28CBE1),
        count: 1,
        deleted: false,
    });
    let mut in_zip = Threat::file(
        "EICAR-Test-File",
        "Virus",
        ThreatStatus::Reported,
        "/vol1/a.zip",
    );
    in_zip.traces.push(Trace {
        trace_type: TraceType::Archive,
        description: "/vol1/a.zip/eicar.com".into(),
    });
    finished.threats = vec![quarantined, in_zip];
    finished.errors = vec![ScanError {
        item: "/vol1/locked.db".into(),
        reason: ErrorReason::CreateFile,
    }];

    let mut running = scan(
        2,
        ScanType::Quick,
        ScanStatus::Running,
        t(2026, 11, 22, 11, 0, 0),
    );
    // An end on a running scan must not be shown.
    running.end = Some(t(2026, 11, 22, 11, 30, 0));
    running.files_scanned = 10;

    let mut canceled = scan(
        3,
        ScanType::Deep,
        ScanStatus::Canceled,
        t(2026, 6, 1, 0, 0, 0),
    );
    canceled.end = Some(t(2026, 6, 1, 1, 0, 0));
    canceled.files_scanned = 5;
    canceled.folders_scanned = 2;

    // Exactly one year old: still shown.
    let mut edge = scan(
        4,
        ScanType::Active,
        ScanStatus::Finished,
        t(2025, 11, 22, 12, 0, 0),
    );
    edge.end = Some(t(2025, 11, 22, 23, 59, 59));

    // One second older than a year: not shown.
    let mut old = scan(
        5,
        ScanType::Custom,
        ScanStatus::Finished,
        t(2025, 11, 22, 11, 59, 59),
    );
    old.end = Some(t(2025, 11, 22, 12, 30, 0));
    old.files_scanned = 77777;

    vec![old, canceled, finished, edge, running]
}

pub const ODD_NAME: &str = "vs<&\"'>ü";
pub const ODD_PATH: &str = "/vol1/dïr/<&\"'> 日本\u{1}.txt";

pub fn odd_scans() -> Vec<Scan> {
    let mut s = scan(
        10,
        ScanType::Custom,
        ScanStatus::Error,
        t(2026, 11, 1, 3, 4, 5),
    );
    s.end = Some(t(2026, 11, 1, 3, 5, 0));
    s.threats = vec![Threat::file(
        "Eicar<&\"'>",
        "Vírus & co",
        ThreatStatus::FailedToQuarantine,
        ODD_PATH,
    )];
    s.errors = vec![ScanError {
        item: ODD_PATH.into(),
        reason: ErrorReason::FailedToQuarantine,
    }];
    s.engine = Engine {
        name: "clamd <&\"'>".into(),
        version: String::new(),
    };
    vec![s]
}

pub fn source() -> MemSource {
    let mut scans = HashMap::new();
    scans.insert(VS1, vs1_scans());
    scans.insert(ODD, odd_scans());
    MemSource {
        client: Client {
            id: 1,
            name: "cluster1".into(),
            timezone: "Europe/London".into(),
            created: NaiveDate::from_ymd_opt(2026, 1, 5),
        },
        site: Site {
            id: 1,
            name: "cluster1".into(),
            created: None,
        },
        devices: vec![
            Device {
                id: VS1,
                name: "vs1".into(),
                uuid: "6f1c2b9e-0000-4000-8000-000000000001".into(),
                description: None,
                online: true,
            },
            Device {
                id: ODD,
                name: ODD_NAME.into(),
                uuid: "6f1c2b9e-0000-4000-8000-000000000002".into(),
                description: Some("comment <&\"'> ñ".into()),
                online: false,
            },
            Device {
                id: EMPTY,
                name: "empty".into(),
                uuid: "6f1c2b9e-0000-4000-8000-000000000003".into(),
                description: None,
                online: true,
            },
        ],
        scans,
        fail: false,
    }
}

pub const ADMIN_KEY: &str = "admin-key";
/// Scoped to vs1 only.
pub const VS1_KEY: &str = "vs1-key";

pub fn keys(key: &str) -> KeyDecision {
    match key {
        ADMIN_KEY => KeyDecision::Allowed(KeyScope::All),
        VS1_KEY => KeyDecision::Allowed(KeyScope::Devices(BTreeSet::from([VS1]))),
        _ => KeyDecision::Denied,
    }
}

pub fn q(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

/// The response body for a query (success or error).
pub fn get(query: &str) -> String {
    respond(&q(query), &keys, &source(), &ctx())
}

pub fn schema(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name)
}

/// Validates `xml` against `schema/<name>` with `xmllint --schema`. Panics, never
/// skips, when xmllint is missing.
pub fn validate(name: &str, xml: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("response.xml");
    std::fs::write(&file, xml).expect("write response");
    let out = match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema(name))
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run xmllint ({e}): install Debian package libxml2-utils \
             (scripts/install-test-deps.sh); the schema tests do not skip"
        ),
    };
    assert!(
        out.status.success(),
        "response does not validate against schema/{name}:\n{}\n--- response ---\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that `xml` does NOT validate (checks the schema has teeth).
pub fn invalid(name: &str, xml: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("response.xml");
    std::fs::write(&file, xml).expect("write response");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema(name))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmllint ({e}): install libxml2-utils"));
    assert!(
        !out.status.success(),
        "schema/{name} accepted what it must refuse:\n{xml}"
    );
}
