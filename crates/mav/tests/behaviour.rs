//! What the responses say: history window, order, inclusion rules, escaping, key
//! scope, discovery mapping.

mod common;

use common::*;
use mav::*;
use quick_xml::escape::unescape;

fn scans(device: u64, rest: &str) -> String {
    get(&format!(
        "apikey={ADMIN_KEY}&service=list_mav_scans&deviceid={device}&{rest}"
    ))
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn one_year_of_history_newest_first() {
    let xml = scans(VS1, "details=NO");
    let starts: Vec<&str> = xml.split("<start>").skip(1).map(|s| &s[..19]).collect();
    assert_eq!(
        starts,
        [
            "2026-11-22 11:00:00",
            "2026-11-20 08:00:00",
            "2026-06-01 00:00:00",
            "2025-11-22 12:00:00",
        ]
    );
    assert!(
        !xml.contains("77777"),
        "a scan older than a year leaked: {xml}"
    );
}

#[test]
fn end_only_for_complete_scans() {
    let xml = scans(VS1, "details=NO");
    assert_eq!(count(&xml, "<end>"), 3);
    assert!(!xml.contains("2026-11-22 11:30:00"), "{xml}");
}

#[test]
fn summary_counts() {
    let xml = scans(VS1, "details=NO&v=1");
    let custom = &xml[xml.find("<type>CUSTOM</type>").expect("custom scan")..];
    let custom = &custom[..custom.find("</scan>").expect("end")];
    assert!(custom.contains("<threat_count>2</threat_count>"));
    assert!(custom.contains("<quarantine_count>1</quarantine_count>"));
    assert!(custom.contains("<error_count>1</error_count>"));
    assert!(!xml.contains("<threats>"));
    assert!(!xml.contains("<errors>"));
    assert!(!xml.contains("<engine"));
}

#[test]
fn details_lists_only_what_exists() {
    let xml = scans(VS1, "details=YES&v=1");
    assert_eq!(
        count(&xml, "<threats>"),
        1,
        "only the scan with threats: {xml}"
    );
    assert_eq!(count(&xml, "<errors>"), 1);
    assert_eq!(count(&xml, "<quarantine>"), 1);
    assert_eq!(count(&xml, "<threat>"), 2);
    assert!(xml.contains("<type>ARCHIVE</type>"));
    for counter in ["<threat_count>", "<quarantine_count>", "<error_count>"] {
        assert!(!xml.contains(counter), "{counter} in details: {xml}");
    }
}

#[test]
fn v_defaults_to_2_and_adds_the_engine_last() {
    assert_eq!(scans(VS1, "details=NO"), scans(VS1, "details=NO&v=2"));
    let xml = scans(VS1, "details=YES");
    assert_eq!(count(&xml, "<engine "), 4);
    assert_eq!(
        count(
            &xml,
            "<engine name=\"YARA-X\" version=\"1.9.0\">VIPRE</engine>\n  </scan>"
        ),
        4
    );
    let v1 = scans(VS1, "details=YES&v=1");
    let stripped: String = xml
        .lines()
        .filter(|l| !l.contains("<engine"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(stripped, v1.trim_end());
}

#[test]
fn details_is_case_insensitive() {
    assert_eq!(scans(VS1, "details=yes"), scans(VS1, "details=YES"));
    assert_eq!(scans(VS1, "details=No"), scans(VS1, "details=NO"));
}

#[test]
fn values_are_escaped_and_round_trip() {
    let xml = scans(ODD, "details=YES&v=2");
    let path = ODD_PATH.replace('\u{1}', "\u{FFFD}");
    let escaped = "/vol1/dïr/&lt;&amp;&quot;&apos;&gt; 日本\u{FFFD}.txt";
    assert_eq!(unescape(escaped).expect("unescape"), path);
    assert_eq!(count(&xml, escaped), 2, "trace and error item: {xml}");
    assert!(xml.contains("<name>Eicar&lt;&amp;&quot;&apos;&gt;</name>"));
    assert!(xml.contains("<category>Vírus &amp; co</category>"));
    assert!(xml.contains("<engine name=\"clamd &lt;&amp;&quot;&apos;&gt;\">VIPRE</engine>"));
    assert!(!xml.contains('\u{1}'));
    // Nothing else: the only `&` are entity starts, the only `<` are tags.
    let servers = get(&format!("apikey={ADMIN_KEY}&service=list_servers&siteid=1"));
    assert!(servers.contains("<name>vs&lt;&amp;&quot;&apos;&gt;ü</name>"));
    assert!(servers.contains("<description>comment &lt;&amp;&quot;&apos;&gt; ñ</description>"));
}

#[test]
fn the_whole_response_parses_back() {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    for query in [
        format!("apikey={ADMIN_KEY}&service=list_mav_scans&deviceid={ODD}&details=YES"),
        format!("apikey={ADMIN_KEY}&service=list_servers&siteid=1"),
        format!("apikey={ADMIN_KEY}&service=list_mav_scans&describe=true"),
    ] {
        let xml = get(&query);
        let mut reader = Reader::from_str(&xml);
        let mut texts = Vec::new();
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Text(t)) => texts.push(t.len()),
                Ok(_) => {}
                Err(e) => panic!("{query}: {e}\n{xml}"),
            }
        }
        assert!(!texts.is_empty());
    }
}

#[test]
fn scoped_key_sees_only_its_devices() {
    let key = |service: &str| get(&format!("apikey={VS1_KEY}&service={service}"));
    let servers = key("list_servers&siteid=1");
    assert_eq!(count(&servers, "<server>"), 1);
    assert!(servers.contains("<serverid>1001</serverid>"));
    let clients = key("list_clients");
    assert!(clients.contains("<server_count>1</server_count>"));
    assert!(clients.contains("<device_count>1</device_count>"));
    let devices = key("list_devices_at_client&clientid=1");
    assert_eq!(count(&devices, "<server>"), 1);
    assert!(key("list_mav_scans&deviceid=1001&details=NO").contains("status=\"OK\""));
    // Another tenant's device and a device that does not exist look the same.
    let other = key("list_mav_scans&deviceid=1002&details=NO");
    let none = key("list_mav_scans&deviceid=9999&details=NO");
    assert_eq!(
        other.replace("1002", "N"),
        none.replace("9999", "N"),
        "scope leaks existence"
    );
}

#[test]
fn discovery_maps_cluster_and_svms() {
    let admin = |service: &str| get(&format!("apikey={ADMIN_KEY}&service={service}"));
    let clients = admin("list_clients");
    assert!(clients.contains("<clientid>1</clientid>"));
    assert!(clients.contains("<server_count>3</server_count>"));
    assert!(clients.contains("<creation_date>2026-01-05</creation_date>"));
    assert!(clients.contains("<timezone>Europe/London</timezone>"));
    assert!(!admin("list_clients&devicetype=workstation").contains("<client>"));
    assert!(admin("list_clients&devicetype=server").contains("<client>"));
    let sites = admin("list_sites&clientid=1");
    assert!(sites.contains("<siteid>1</siteid>"));
    assert!(sites.contains("<creation_date/>"));
    let servers = admin("list_servers&siteid=1");
    // Ordered by name.
    let ids: Vec<&str> = servers
        .split("<serverid>")
        .skip(1)
        .map(|s| &s[..4])
        .collect();
    assert_eq!(ids, ["1003", "1001", "1002"]);
    assert!(servers.contains("<guid>6f1c2b9e-0000-4000-8000-000000000001</guid>"));
    assert!(servers.contains("<online>0</online>"));
    let devices = admin("list_devices_at_client&clientid=1&devicetype=server");
    assert_eq!(count(&devices, "<server>"), 3);
    assert_eq!(devices, admin("list_devices_at_client&clientid=1"));
    let none = admin("list_devices_at_client&clientid=1&devicetype=workstation");
    assert!(!none.contains("<site>"), "{none}");
    assert!(none.contains("<client>"));
}

#[test]
fn describe_needs_a_key_but_no_other_parameter() {
    let ok = get("apikey=admin-key&service=list_mav_scans&describe=true");
    assert!(ok.contains("<service>"), "{ok}");
    assert_eq!(
        ok,
        get(
            "apikey=admin-key&service=list_mav_scans&describe=TRUE&deviceid=DEVICEID&details=DETAIL&v=VERSION"
        )
    );
    assert!(
        get("apikey=nope&service=list_mav_scans&describe=true")
            .contains("<errorcode>3</errorcode>")
    );
    assert!(get("service=list_mav_scans&describe=true").contains("<errorcode>3</errorcode>"));
    // describe=false (or 0) means data.
    assert_eq!(
        scans(VS1, "details=NO&describe=false"),
        scans(VS1, "details=NO")
    );
    assert_eq!(
        scans(VS1, "details=NO&describe=0"),
        scans(VS1, "details=NO")
    );
}

#[test]
fn unknown_parameters_are_ignored() {
    assert_eq!(
        scans(VS1, "details=NO&devicetype=server&foo=bar&clientid=x"),
        scans(VS1, "details=NO")
    );
}

#[test]
fn bad_key_wins_over_every_other_error() {
    for rest in [
        "service=nope",
        "service=list_mav_scans&deviceid=x",
        "service=list_sites",
        "",
    ] {
        let xml = get(&format!("apikey=wrong&{rest}"));
        assert!(xml.contains("<errorcode>3</errorcode>"), "{rest}: {xml}");
    }
}

#[test]
fn request_debug_hides_the_key() {
    let r = parse_request(&q("apikey=s3cret&service=list_clients")).expect("parses");
    assert_eq!(r.apikey(), "s3cret");
    let shown = format!("{r:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn render_takes_an_authorized_request() {
    let r = parse_request(&q(
        "apikey=admin-key&service=list_mav_scans&deviceid=1001&details=NO&v=1",
    ))
    .expect("parses");
    assert_eq!(
        r.call,
        Call::ListMavScans {
            device: VS1,
            details: Details::Summary,
            version: Version::V1
        }
    );
    let auth = authorize(r.clone(), &keys).expect("authorized");
    assert_eq!(auth.scope(), &KeyScope::All);
    let xml = render(&auth, &source(), &ctx()).expect("renders");
    assert_eq!(xml, scans(VS1, "details=NO&v=1"));
    assert_eq!(
        authorize(r.clone(), &|_: &str| KeyDecision::Denied),
        Err(MavError::BadKey)
    );
    let scoped = |_: &str| KeyDecision::Allowed(KeyScope::Devices([ODD].into()));
    assert_eq!(
        authorize(r, &scoped).map(|_| ()).map_err(|e| e.errorcode()),
        Err(4)
    );
}

#[test]
fn created_uses_the_context_offset() {
    let xml = get(&format!("apikey={ADMIN_KEY}&service=list_clients"));
    assert!(
        xml.contains("created=\"2026-11-22T12:00:00+00:00\""),
        "{xml}"
    );
}
