//! Golden tests: the responses for the seed's own example scans must equal the
//! seed's example XML (`golden/seed-001-example.txt`, copied verbatim from seed
//! 001_54052c34589ca43e) once its `[...]` placeholders are filled in and
//! whitespace between tags is ignored.

mod common;

use chrono::{DateTime, FixedOffset};
use common::*;
use mav::*;

const SEED: &str = include_str!("golden/seed-001-example.txt");

/// The seed's placeholders in order of appearance: (how it starts, the value put
/// in its place; empty = the placeholder only annotates).
const FILL: &[(&str, &str)] = &[
    ("[example when details=YES]", ""),
    ("[one of: QUICK, DEEP, ACTIVE or CUSTOM]", "DEEP"),
    (
        "[one of: NONE, PENDING, PENDING_AGENT, FINISHED, CANCELED,",
        "FINISHED",
    ),
    ("[UTC start time]", ""),
    ("[UTC end time; only included if scanning complete]", ""),
    ("[only included when at least one threat is discovered", ""),
    ("[one of: QUARANTINED, RELEASE_PENDING,", "QUARANTINED"),
    ("[only included when item(s) quarantined]", ""),
    ("[number of files (or other scanned entities)", ""),
    ("[YES or NO]", "NO"),
    ("[...more item entries if they exist...]", ""),
    ("[one of: COOKIE, PROCESS, REGISTRY_ENTRY, FILE,", "FILE"),
    ("[e.g. filename, or registry key", "/vol1/share/setup.exe"),
    ("[...more trace entries if they exist...]", ""),
    ("[...more threat entries if they exist...]", ""),
    ("[only included if at least one scan error occurred", ""),
    ("[filename or identifier]", "/vol1/share/broken.zip"),
    ("[scan error - see below]", "CORRUPT_ARCHIVE"),
    ("[...more error entries if they exist...]", ""),
    ("[example when details=NO, i.e. a summary]", ""),
    ("[...more scan entries if they exist...]", ""),
];

fn filled_seed() -> String {
    let mut out = String::new();
    let mut rest = SEED.trim();
    let mut fills = FILL.iter();
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find(']').expect("closing bracket");
        let placeholder = &rest[open..=close];
        let (prefix, value) = fills
            .next()
            .unwrap_or_else(|| panic!("unexpected placeholder {placeholder}"));
        assert!(
            placeholder.starts_with(prefix),
            "placeholder {placeholder:?} is not the expected {prefix:?}"
        );
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    assert!(fills.next().is_none(), "placeholders missing from the seed");
    out.push_str(rest);
    // The help page closes an `<example>` it never opened.
    out.trim_end()
        .strip_suffix("</example>")
        .expect("seed ends with </example>")
        .to_string()
}

fn normalize(xml: &str) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    for c in xml.trim().chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && !(c == '<' && out.ends_with('>')) && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

/// The seed's two scans, and its envelope around each one alone (one response has
/// one `details` form).
fn seed_documents() -> (String, String) {
    let seed = normalize(&filled_seed());
    let first = seed.find("<scan>").expect("first scan");
    let second = first + 1 + seed[first + 1..].find("<scan>").expect("second scan");
    let end = seed.rfind("</result>").expect("end");
    let head = &seed[..first];
    let detail = format!("{head}{}</result>", &seed[first..second]);
    let summary = format!("{head}{}</result>", &seed[second..end]);
    (detail, summary)
}

fn seed_context() -> Context {
    let now = DateTime::<FixedOffset>::parse_from_rfc3339("2012-04-05T10:48:40+01:00")
        .expect("seed time");
    Context::new("SERVER", now)
}

struct One(Scan);

impl Source for One {
    fn client(&self) -> Result<Client, SourceError> {
        Err(SourceError("unused".into()))
    }
    fn site(&self) -> Result<Site, SourceError> {
        Err(SourceError("unused".into()))
    }
    fn devices(&self) -> Result<Vec<Device>, SourceError> {
        Ok(vec![Device {
            id: 7,
            name: "dev".into(),
            uuid: String::new(),
            description: None,
            online: true,
        }])
    }
    fn scans(&self, _: u64, _: chrono::DateTime<chrono::Utc>) -> Result<Vec<Scan>, SourceError> {
        Ok(vec![self.0.clone()])
    }
}

fn render_one(scan: Scan, details: &str, v: u8) -> String {
    let query =
        format!("apikey={ADMIN_KEY}&service=list_mav_scans&deviceid=7&details={details}&v={v}");
    handle(&q(&query), &keys, &One(scan), &seed_context()).expect("renders")
}

fn seed_detail_scan() -> Scan {
    let mut s = scan(
        1,
        ScanType::Deep,
        ScanStatus::Finished,
        t(2013, 1, 15, 5, 41, 55),
    );
    s.end = Some(t(2013, 1, 15, 5, 41, 55));
    s.files_scanned = 1;
    let mut threat = Threat::file(
        "Worm.Win32.Downad.Gen (v)",
        "Worm.W32",
        ThreatStatus::Quarantined,
        "/vol1/share/setup.exe",
    );
    threat.quarantine.push(QuarantineItem {
        guid: Guid(0x55778734_483C_4BCF_A0F5_4C78ED28CBE1),
        count: 1,
        deleted: false,
    });
    s.threats.push(threat);
    s.errors.push(ScanError {
        item: "/vol1/share/broken.zip".into(),
        reason: ErrorReason::CorruptArchive,
    });
    s
}

fn seed_summary_scan() -> Scan {
    let mut s = scan(
        2,
        ScanType::Quick,
        ScanStatus::Finished,
        t(2013, 1, 15, 8, 59, 50),
    );
    s.end = Some(t(2013, 1, 15, 9, 3, 57));
    s.registry_scanned = 29563;
    s.files_scanned = 3297;
    s.folders_scanned = 818;
    s.processes_scanned = 35;
    // 37 threats, 4 of them with a quarantine item; 3 errors.
    for i in 0..37u128 {
        let mut th = Threat::file("T", "C", ThreatStatus::Reported, "/f");
        if i < 4 {
            th.status = ThreatStatus::Quarantined;
            th.quarantine.push(QuarantineItem {
                guid: Guid(i),
                count: 1,
                deleted: false,
            });
        }
        s.threats.push(th);
    }
    for _ in 0..3 {
        s.errors.push(ScanError {
            item: "/e".into(),
            reason: ErrorReason::CreateFile,
        });
    }
    s
}

#[test]
fn detail_v1_equals_the_seed_example() {
    let (detail, _) = seed_documents();
    assert_eq!(normalize(&render_one(seed_detail_scan(), "YES", 1)), detail);
}

#[test]
fn summary_v1_equals_the_seed_example() {
    let (_, summary) = seed_documents();
    assert_eq!(
        normalize(&render_one(seed_summary_scan(), "NO", 1)),
        summary
    );
}

#[test]
fn v2_is_v1_plus_a_trailing_engine() {
    let engine = "<engine name=\"YARA-X\" version=\"1.9.0\">VIPRE</engine></scan>";
    let (detail, summary) = seed_documents();
    assert_eq!(
        normalize(&render_one(seed_detail_scan(), "YES", 2)),
        detail.replace("</scan>", engine)
    );
    assert_eq!(
        normalize(&render_one(seed_summary_scan(), "NO", 2)),
        summary.replace("</scan>", engine)
    );
}

#[test]
fn the_declaration_is_the_seeds() {
    let xml = render_one(seed_summary_scan(), "NO", 1);
    assert!(xml.starts_with("<?xml version=\"1.0\" ?>\n<result created=\"2012-04-05T10:48:40+01:00\" host=\"SERVER\" status=\"OK\">"), "{xml}");
}

#[test]
fn error_form_golden() {
    let xml = render_error(
        &MavError::bad_parameter("deviceid", "no device with id 9"),
        &seed_context(),
    );
    assert_eq!(
        normalize(&xml),
        "<?xml version=\"1.0\" ?><result created=\"2012-04-05T10:48:40+01:00\" host=\"SERVER\" status=\"FAIL\"><error><errorcode>4</errorcode><message>Invalid parameter deviceid: no device with id 9</message></error></result>"
    );
}
