//! Every response shape validated with `xmllint --schema` against `schema/*.xsd`.
//! These tests fail (they never skip) when xmllint is missing.

mod common;

use common::*;
use mav::*;

fn scans(device: u64, details: &str, v: Option<u8>) -> String {
    let mut query =
        format!("apikey={ADMIN_KEY}&service=list_mav_scans&deviceid={device}&details={details}");
    if let Some(v) = v {
        query.push_str(&format!("&v={v}"));
    }
    get(&query)
}

/// The strict schema of one (details, v) form.
fn shape(details: &str, v: Option<u8>) -> &'static str {
    match (details.eq_ignore_ascii_case("YES"), v == Some(1)) {
        (false, true) => "list_mav_scans-summary-v1.xsd",
        (false, false) => "list_mav_scans-summary-v2.xsd",
        (true, true) => "list_mav_scans-detail-v1.xsd",
        (true, false) => "list_mav_scans-detail-v2.xsd",
    }
}

const FORMS: &[(&str, Option<u8>)] = &[
    ("NO", Some(1)),
    ("NO", Some(2)),
    ("NO", None),
    ("YES", Some(1)),
    ("YES", Some(2)),
    ("YES", None),
    ("yes", Some(1)),
    ("no", None),
];

#[test]
fn xmllint_is_installed() {
    let ok = std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "xmllint not found: apt-get install libxml2-utils (scripts/install-test-deps.sh)"
    );
}

#[test]
fn every_scan_form_validates_for_every_device() {
    for device in [VS1, ODD, EMPTY] {
        for &(details, v) in FORMS {
            let xml = scans(device, details, v);
            validate(shape(details, v), &xml);
            validate("list_mav_scans.xsd", &xml);
        }
    }
}

#[test]
fn strict_schemas_tell_the_forms_apart() {
    // The other forms' schemas must refuse each form, or the tests above prove
    // nothing about the shape.
    for &(details, v) in &FORMS[..6] {
        let xml = scans(VS1, details, v);
        for &(d2, v2) in &FORMS[..6] {
            if shape(d2, v2) != shape(details, v) {
                invalid(shape(d2, v2), &xml);
            }
        }
    }
}

#[test]
fn schema_refuses_wrong_spellings_and_times() {
    let xml = scans(VS1, "NO", Some(1));
    assert!(xml.contains("<status>CANCELED</status>"));
    invalid(
        "list_mav_scans.xsd",
        &xml.replace("<status>CANCELED</status>", "<status>CANCELLED</status>"),
    );
    invalid(
        "list_mav_scans.xsd",
        &xml.replace(
            "<start>2026-06-01 00:00:00</start>",
            "<start>2026-06-01T00:00:00Z</start>",
        ),
    );
    invalid(
        "list_mav_scans.xsd",
        &xml.replace("status=\"OK\"", "status=\"FAIL\""),
    );
    let detail = scans(VS1, "YES", Some(1));
    invalid(
        "list_mav_scans-detail-v1.xsd",
        &detail.replace(
            "{55778734-483C-4BCF-A0F5-4C78ED28CBE1}",
            "55778734-483c-4bcf-a0f5-4c78ed28cbe1",
        ),
    );
}

#[test]
fn no_scans_is_an_empty_ok_result() {
    for &(details, v) in FORMS {
        let xml = scans(EMPTY, details, v);
        assert!(!xml.contains("<scan>"), "{xml}");
        assert!(xml.contains("status=\"OK\""), "{xml}");
        validate(shape(details, v), &xml);
    }
}

#[test]
fn describe_validates_for_every_service() {
    for service in Service::ALL {
        let xml = get(&format!(
            "apikey={ADMIN_KEY}&service={}&describe=true&deviceid=DEVICEID",
            service.as_str()
        ));
        validate("describe.xsd", &xml);
        assert!(
            xml.contains(&format!("<name>{}</name>", service.as_str())),
            "{xml}"
        );
    }
}

#[test]
fn discovery_services_validate() {
    let cases = [
        ("list_clients.xsd", "service=list_clients"),
        ("list_clients.xsd", "service=list_clients&devicetype=server"),
        (
            "list_clients.xsd",
            "service=list_clients&devicetype=workstation",
        ),
        ("list_sites.xsd", "service=list_sites&clientid=1"),
        ("list_servers.xsd", "service=list_servers&siteid=1"),
        (
            "list_devices_at_client.xsd",
            "service=list_devices_at_client&clientid=1",
        ),
        (
            "list_devices_at_client.xsd",
            "service=list_devices_at_client&clientid=1&devicetype=server",
        ),
        (
            "list_devices_at_client.xsd",
            "service=list_devices_at_client&clientid=1&devicetype=mobile_device",
        ),
    ];
    for key in [ADMIN_KEY, VS1_KEY] {
        for (schema, query) in cases {
            validate(schema, &get(&format!("apikey={key}&{query}")));
        }
    }
}

/// (query, errorcode)
const BAD: &[(&str, u32)] = &[
    ("service=list_mav_scans&deviceid=1001&details=YES", 3),
    (
        "apikey=&service=list_mav_scans&deviceid=1001&details=YES",
        3,
    ),
    (
        "apikey=nope&service=list_mav_scans&deviceid=1001&details=YES",
        3,
    ),
    (
        "apikey=nope&service=list_mav_scans&deviceid=x&details=maybe",
        3,
    ),
    (
        "apikey=admin-key&apikey=admin-key&service=list_mav_scans&deviceid=1001&details=YES",
        3,
    ),
    ("apikey=admin-key&deviceid=1001&details=YES", 2),
    ("apikey=admin-key&service=list_workstations&siteid=1", 2),
    (
        "apikey=admin-key&service=LIST_MAV_SCANS&deviceid=1001&details=YES",
        2,
    ),
    ("apikey=admin-key&service=list_mav_scans&details=YES", 4),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=&details=YES",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=-1&details=YES",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1e3&details=YES",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=99999999999999999999&details=YES",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=4242&details=YES",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&deviceid=1002&details=YES",
        4,
    ),
    (
        "apikey=vs1-key&service=list_mav_scans&deviceid=1002&details=YES",
        4,
    ),
    ("apikey=admin-key&service=list_mav_scans&deviceid=1001", 4),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=Y",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=1",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=YES&v=3",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=YES&v=",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=YES&v=02",
        4,
    ),
    (
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=YES&describe=maybe",
        4,
    ),
    ("apikey=admin-key&service=list_sites", 4),
    ("apikey=admin-key&service=list_sites&clientid=2", 4),
    ("apikey=admin-key&service=list_servers&siteid=9", 4),
    (
        "apikey=admin-key&service=list_devices_at_client&clientid=1&devicetype=toaster",
        4,
    ),
    (
        "apikey=admin-key&service=list_clients&devicetype=toaster",
        4,
    ),
];

#[test]
fn bad_input_gets_the_rmm_error_form() {
    for &(query, code) in BAD {
        let xml = get(query);
        validate("error.xsd", &xml);
        assert!(
            xml.contains(&format!("<errorcode>{code}</errorcode>")),
            "{query}: expected errorcode {code}:\n{xml}"
        );
        assert!(!xml.contains("<scan>"), "{xml}");
    }
}

#[test]
fn source_failure_is_errorcode_1_without_details() {
    let mut source = source();
    source.fail = true;
    for query in [
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=YES",
        "apikey=admin-key&service=list_servers&siteid=1",
    ] {
        let xml = respond(&q(query), &keys, &source, &ctx());
        validate("error.xsd", &xml);
        assert!(xml.contains("<errorcode>1</errorcode>"), "{xml}");
        assert!(!xml.contains("locked"), "internal detail leaked: {xml}");
    }
    assert_eq!(
        handle(
            &q("apikey=admin-key&service=list_servers&siteid=1"),
            &keys,
            &source,
            &ctx()
        ),
        Err(MavError::Internal("database is locked".into()))
    );
}

#[test]
fn error_message_echo_of_hostile_input_validates() {
    let long = "<&\"'>\u{1}ü".repeat(100);
    let xml = respond(
        &[
            ("apikey".into(), ADMIN_KEY.into()),
            ("service".into(), "list_mav_scans".into()),
            ("deviceid".into(), long.clone()),
            ("details".into(), "YES".into()),
        ],
        &keys,
        &source(),
        &ctx(),
    );
    validate("error.xsd", &xml);
    assert!(xml.len() < 1000, "whole value echoed: {xml}");
    let host = Context::new("h<&\"'>\u{2}ö", now());
    let xml = render_error(&MavError::BadKey, &host);
    validate("error.xsd", &xml);
}

/// The values a `ALL` list can produce, and the XSD's enumeration of `type_name`.
fn xsd_enum(type_name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(schema("mav-common.xsd")).expect("read schema");
    let start = text
        .find(&format!("<xs:simpleType name=\"{type_name}\">"))
        .unwrap_or_else(|| panic!("{type_name} not in schema"));
    let body = &text[start..];
    let body = &body[..body.find("</xs:simpleType>").expect("end")];
    body.split("<xs:enumeration value=\"")
        .skip(1)
        .map(|s| s[..s.find('"').expect("quote")].to_string())
        .collect()
}

fn names<T: std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(|v| v.to_string()).collect()
}

#[test]
fn schema_enumerations_match_the_model() {
    assert_eq!(xsd_enum("ScanType"), names(ScanType::ALL));
    assert_eq!(xsd_enum("ScanStatus"), names(ScanStatus::ALL));
    assert_eq!(xsd_enum("ThreatStatus"), names(ThreatStatus::ALL));
    assert_eq!(xsd_enum("TraceType"), names(TraceType::ALL));
    assert_eq!(xsd_enum("ErrorReason"), names(ErrorReason::ALL));
    assert_eq!(ErrorReason::ALL.len(), 43);
}

#[test]
fn every_enum_value_validates_in_a_response() {
    // One scan per status/type, one threat per status, one trace per type, one
    // error per reason: all of it rendered and validated.
    let mut source = source();
    let mut list = Vec::new();
    for (i, (&status, &kind)) in ScanStatus::ALL
        .iter()
        .zip(ScanType::ALL.iter().cycle())
        .enumerate()
    {
        let mut s = scan(100 + i as u64, kind, status, t(2026, 10, 1, 0, 0, i as u32));
        s.end = Some(t(2026, 10, 1, 1, 0, 0));
        list.push(s);
    }
    let mut s = scan(
        200,
        ScanType::Custom,
        ScanStatus::Finished,
        t(2026, 10, 2, 0, 0, 0),
    );
    for &st in ThreatStatus::ALL {
        let mut th = Threat::file("T", "C", st, "/p");
        th.traces = TraceType::ALL
            .iter()
            .map(|&tt| Trace {
                trace_type: tt,
                description: tt.to_string(),
            })
            .collect();
        th.quarantine.push(QuarantineItem {
            guid: Guid(u128::MAX),
            count: u32::MAX,
            deleted: true,
        });
        s.threats.push(th);
    }
    s.errors = ErrorReason::ALL
        .iter()
        .map(|&r| ScanError {
            item: r.to_string(),
            reason: r,
        })
        .collect();
    s.files_scanned = u64::MAX;
    list.push(s);
    source.scans.insert(EMPTY, list);
    for &(details, v) in FORMS {
        let query = format!(
            "apikey={ADMIN_KEY}&service=list_mav_scans&deviceid={EMPTY}&details={details}{}",
            v.map(|v| format!("&v={v}")).unwrap_or_default()
        );
        let xml = respond(&q(&query), &keys, &source, &ctx());
        validate(shape(details, v), &xml);
    }
}
