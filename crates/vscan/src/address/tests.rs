use super::*;

fn v4(s: &str) -> Host {
    Host::Ip(IpAddr::V4(s.parse().unwrap()))
}

fn v6(s: &str) -> Host {
    Host::Ip(IpAddr::V6(s.parse().unwrap()))
}

fn name(s: &str) -> Host {
    Host::Name(s.into())
}

fn clamd(host: Host, port: u16) -> ServerAddress {
    ServerAddress::Clamd { host, port }
}

fn icap(host: Host, port: u16, service: &str) -> ServerAddress {
    ServerAddress::Icap {
        host,
        port,
        service: service.into(),
    }
}

fn unix(path: &str) -> ServerAddress {
    ServerAddress::ClamdUnix { path: path.into() }
}

#[test]
fn accepted_forms() {
    let long_label = "a".repeat(63);
    let long_name = format!("{0}.{0}.{0}.{1}", long_label, "b".repeat(61)); // 253
    let long_socket = format!("/{}", "s".repeat(106)); // 107 bytes
    let long_socket_url = format!("unix://{long_socket}");
    let cases: Vec<(&str, ServerAddress, &str)> = vec![
        // ONTAP forms: clamd on 3310.
        ("192.0.2.10", clamd(v4("192.0.2.10"), 3310), "192.0.2.10"),
        ("127.0.0.1", clamd(v4("127.0.0.1"), 3310), "127.0.0.1"),
        ("fd20::1", clamd(v6("fd20::1"), 3310), "fd20::1"),
        ("::1", clamd(v6("::1"), 3310), "::1"),
        ("FD20:0:0::1", clamd(v6("fd20::1"), 3310), "fd20::1"),
        (
            "fd20::1:3310",
            clamd(v6("fd20::1:3310"), 3310),
            "fd20::1:3310",
        ),
        (
            "::ffff:192.0.2.1",
            clamd(v6("::ffff:192.0.2.1"), 3310),
            "::ffff:192.0.2.1",
        ),
        ("scan1", clamd(name("scan1"), 3310), "scan1"),
        (
            "Scan1.Example.COM",
            clamd(name("scan1.example.com"), 3310),
            "scan1.example.com",
        ),
        (
            "scan1.example.com.",
            clamd(name("scan1.example.com"), 3310),
            "scan1.example.com",
        ),
        (
            "a-b.c-d.example",
            clamd(name("a-b.c-d.example"), 3310),
            "a-b.c-d.example",
        ),
        (
            "3com.example",
            clamd(name("3com.example"), 3310),
            "3com.example",
        ),
        ("1.2.3.x4", clamd(name("1.2.3.x4"), 3310), "1.2.3.x4"),
        ("0x", clamd(name("0x"), 3310), "0x"),
        ("cafe", clamd(name("cafe"), 3310), "cafe"),
        (&long_name, clamd(name(&long_name), 3310), &long_name),
        // host:port.
        (
            "192.0.2.10:3311",
            clamd(v4("192.0.2.10"), 3311),
            "192.0.2.10:3311",
        ),
        (
            "192.0.2.10:3310",
            clamd(v4("192.0.2.10"), 3310),
            "192.0.2.10",
        ),
        ("scan1:1", clamd(name("scan1"), 1), "scan1:1"),
        ("scan1:65535", clamd(name("scan1"), 65535), "scan1:65535"),
        ("clamd:3310", clamd(name("clamd"), 3310), "clamd"),
        (
            "[fd20::1]:3311",
            clamd(v6("fd20::1"), 3311),
            "[fd20::1]:3311",
        ),
        ("[fd20::1]", clamd(v6("fd20::1"), 3310), "fd20::1"),
        (
            "[::ffff:1.2.3.4]:9",
            clamd(v6("::ffff:1.2.3.4"), 9),
            "[::ffff:1.2.3.4]:9",
        ),
        // clamd:// URLs.
        ("clamd://scan1", clamd(name("scan1"), 3310), "scan1"),
        (
            "clamd://scan1:3000",
            clamd(name("scan1"), 3000),
            "scan1:3000",
        ),
        (
            "CLAMD://192.0.2.1:3310",
            clamd(v4("192.0.2.1"), 3310),
            "192.0.2.1",
        ),
        ("clamd://[fd20::1]", clamd(v6("fd20::1"), 3310), "fd20::1"),
        (
            "clamd://[fd20::1]:4000",
            clamd(v6("fd20::1"), 4000),
            "[fd20::1]:4000",
        ),
        // unix://
        (
            "unix:///run/clamd.sock",
            unix("/run/clamd.sock"),
            "unix:///run/clamd.sock",
        ),
        ("UNIX:///s", unix("/s"), "unix:///s"),
        (
            "unix:///tmp/a-b_c.d/ü:x",
            unix("/tmp/a-b_c.d/ü:x"),
            "unix:///tmp/a-b_c.d/ü:x",
        ),
        (&long_socket_url, unix(&long_socket), &long_socket_url),
        // icap://
        (
            "icap://scan1/avscan",
            icap(name("scan1"), 1344, "avscan"),
            "icap://scan1/avscan",
        ),
        (
            "icap://scan1:1344/avscan",
            icap(name("scan1"), 1344, "avscan"),
            "icap://scan1/avscan",
        ),
        (
            "ICAP://Scan1:11344/srv_clamav",
            icap(name("scan1"), 11344, "srv_clamav"),
            "icap://scan1:11344/srv_clamav",
        ),
        (
            "icap://192.0.2.5/virus_scan",
            icap(v4("192.0.2.5"), 1344, "virus_scan"),
            "icap://192.0.2.5/virus_scan",
        ),
        (
            "icap://[fd20::1]/a",
            icap(v6("fd20::1"), 1344, "a"),
            "icap://[fd20::1]/a",
        ),
        (
            "icap://[fd20::1]:1/a.b~c-d/e",
            icap(v6("fd20::1"), 1, "a.b~c-d/e"),
            "icap://[fd20::1]:1/a.b~c-d/e",
        ),
        (
            "icap://h/Mixed.Case",
            icap(name("h"), 1344, "Mixed.Case"),
            "icap://h/Mixed.Case",
        ),
    ];
    for (input, want, canonical) in cases {
        let got: ServerAddress = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got, want, "{input}");
        assert_eq!(got.to_string(), canonical, "{input}");
        assert_eq!(
            canonical.parse::<ServerAddress>().unwrap(),
            want,
            "{canonical}"
        );
    }
}

#[test]
fn rejected_forms() {
    use AddressErrorKind as K;
    let long_name = format!("{}ab.com", "a.".repeat(124)); // 254
    let long_label = format!("{}.com", "a".repeat(64));
    let long_socket = format!("unix:///{}", "s".repeat(107)); // 108 bytes
    let long_service = format!("icap://h/{}", "s".repeat(256));
    let cases: Vec<(&str, K)> = vec![
        ("", K::Empty),
        (" ", K::Whitespace),
        ("scan1 ", K::Whitespace),
        (" scan1", K::Whitespace),
        ("scan 1", K::Whitespace),
        ("scan1\n", K::Whitespace),
        ("\u{a0}scan1", K::Whitespace),
        ("scan\u{0}1", K::ControlChar),
        ("scan\u{7f}1", K::ControlChar),
        // Ports.
        ("scan1:", K::MissingPort),
        ("scan1:0", K::BadPort("0".into())),
        ("scan1:65536", K::BadPort("65536".into())),
        ("scan1:99999", K::BadPort("99999".into())),
        ("scan1:123456", K::BadPort("123456".into())),
        ("scan1:03310", K::BadPort("03310".into())),
        ("scan1:+80", K::BadPort("+80".into())),
        ("scan1:-1", K::BadPort("-1".into())),
        ("scan1:http", K::BadPort("http".into())),
        ("scan1:80x", K::BadPort("80x".into())),
        ("192.0.2.1:", K::MissingPort),
        ("[fd20::1]:", K::MissingPort),
        ("[fd20::1]:0", K::BadPort("0".into())),
        ("clamd://scan1:0", K::BadPort("0".into())),
        ("icap://scan1:70000/s", K::BadPort("70000".into())),
        (":3310", K::MissingHost),
        // IPv6 forms.
        ("fd20::1]:3310", K::InvalidIpv6("fd20::1]:3310".into())),
        ("fd20::zz", K::InvalidIpv6("fd20::zz".into())),
        // Reads as "fd20::" with port 1.
        ("fd20:::1", K::UnbracketedIpv6),
        ("fd20::1::2", K::InvalidIpv6("fd20::1::2".into())),
        ("1:2:3:4:5:6:7:8:3310", K::UnbracketedIpv6),
        ("[fd20::1]:3310:", K::BadPort("3310:".into())),
        ("[fd20::1", K::BadIpv6("fd20::1".into())),
        ("[192.0.2.1]:3310", K::BadIpv6("192.0.2.1".into())),
        ("[scan1]:3310", K::BadIpv6("scan1".into())),
        ("[]", K::BadIpv6("".into())),
        ("[fd20::1]x", K::TrailingJunk("x".into())),
        ("[fd20::1]:80:80", K::BadPort("80:80".into())),
        ("[fd20::1]]", K::TrailingJunk("]".into())),
        ("fe80::1%eth0", K::ZoneId),
        ("[fe80::1%eth0]:3310", K::ZoneId),
        ("clamd://fd20::1", K::UnbracketedIpv6),
        ("icap://fd20::1/s", K::UnbracketedIpv6),
        // Not unicast.
        ("0.0.0.0", K::NotUnicast("0.0.0.0".parse().unwrap())),
        ("::", K::NotUnicast("::".parse().unwrap())),
        ("224.0.0.1", K::NotUnicast("224.0.0.1".parse().unwrap())),
        (
            "255.255.255.255",
            K::NotUnicast("255.255.255.255".parse().unwrap()),
        ),
        ("[ff02::1]:3310", K::NotUnicast("ff02::1".parse().unwrap())),
        (
            "clamd://0.0.0.0:1",
            K::NotUnicast("0.0.0.0".parse().unwrap()),
        ),
        // Numeric non-addresses.
        ("1.2.3", K::NumericHost("1.2.3".into())),
        ("1.2.3.4.5", K::NumericHost("1.2.3.4.5".into())),
        ("256.1.1.1", K::NumericHost("256.1.1.1".into())),
        ("01.2.3.4", K::NumericHost("01.2.3.4".into())),
        ("192.0.2.010", K::NumericHost("192.0.2.010".into())),
        ("3310", K::NumericHost("3310".into())),
        ("1.2.3.4.", K::NumericHost("1.2.3.4.".into())),
        ("0x7f.1", K::NumericHost("0x7f.1".into())),
        ("1.0x7f", K::NumericHost("1.0x7f".into())),
        ("0xC0A80001", K::NumericHost("0xC0A80001".into())),
        ("scan.123", K::NumericHost("scan.123".into())),
        ("1.2.3:3310", K::NumericHost("1.2.3".into())),
        // Host names.
        ("-scan", bad_name("-scan", "starts or ends")),
        ("scan-", bad_name("scan-", "starts or ends")),
        ("a.-b.c", bad_name("a.-b.c", "starts or ends")),
        ("scan_1", bad_name("scan_1", "only letters")),
        ("scän", bad_name("scän", "only letters")),
        ("a*b", bad_name("a*b", "only letters")),
        ("a..b", bad_name("a..b", "empty label")),
        (".a", bad_name(".a", "empty label")),
        ("a..", bad_name("a..", "empty label")),
        (".", bad_name(".", "no labels")),
        (&long_label, bad_name(&long_label, "longer than 63")),
        (&long_name, bad_name(&long_name, "longer than 253")),
        // Paths, queries, userinfo.
        ("scan1/", K::UnexpectedPath),
        ("scan1:3310/x", K::UnexpectedPath),
        ("192.0.2.0/24", K::UnexpectedPath),
        ("fd20::/64", K::UnexpectedPath),
        ("clamd://scan1/", K::UnexpectedPath),
        ("clamd://scan1:3310/x", K::UnexpectedPath),
        ("clamd://scan1?x=1", K::QueryOrFragment),
        ("clamd://scan1#f", K::QueryOrFragment),
        ("icap://scan1/s?x", K::QueryOrFragment),
        ("icap://scan1/s#f", K::QueryOrFragment),
        ("unix:///s?x", K::QueryOrFragment),
        ("scan1?x", bad_name("scan1?x", "only letters")),
        ("user@scan1", K::UserInfo),
        ("clamd://user@scan1", K::UserInfo),
        ("clamd://user:pw@scan1:3310", K::UserInfo),
        ("icap://u@scan1/s", K::UserInfo),
        // Schemes.
        ("http://scan1", K::UnknownScheme("http".into())),
        ("tcp://scan1:3310", K::UnknownScheme("tcp".into())),
        ("clamdx://scan1", K::UnknownScheme("clamdx".into())),
        ("://scan1", K::UnknownScheme("".into())),
        ("unix:/run/clamd.sock", K::MalformedUrl("unix".into())),
        ("clamd:/scan1", K::MalformedUrl("clamd".into())),
        ("clamd://", K::MissingHost),
        ("clamd://:3310", K::MissingHost),
        // unix://
        ("unix://", K::UnixNotAbsolute),
        ("unix://run/clamd.sock", K::UnixNotAbsolute),
        ("unix://localhost/run/clamd.sock", K::UnixNotAbsolute),
        ("unix://./clamd.sock", K::UnixNotAbsolute),
        (
            "unix:///",
            K::BadUnixPath("it ends in '/'; name the socket file"),
        ),
        (
            "unix:///run/",
            K::BadUnixPath("it ends in '/'; name the socket file"),
        ),
        (
            "unix:////run",
            K::BadUnixPath("it has an empty component ('//')"),
        ),
        (
            "unix:///run//s",
            K::BadUnixPath("it has an empty component ('//')"),
        ),
        (
            "unix:///run/../s",
            K::BadUnixPath("it has a '.' or '..' component"),
        ),
        (
            "unix:///./s",
            K::BadUnixPath("it has a '.' or '..' component"),
        ),
        (
            "unix:///run/clamd%20x.sock",
            K::BadUnixPath("percent-encoding (%) is not supported; write the path as it is"),
        ),
        (
            &long_socket,
            K::BadUnixPath("it is longer than 107 bytes, the limit of a Unix socket address"),
        ),
        // icap://
        ("icap://scan1", K::MissingService),
        ("icap://scan1/", K::MissingService),
        ("icap://scan1:1344", K::MissingService),
        ("icap://", K::MissingHost),
        ("icap:///svc", K::MissingHost),
        ("icap://scan1//svc", bad_service("/svc", "empty segment")),
        ("icap://scan1/svc/", bad_service("svc/", "empty segment")),
        ("icap://scan1/a/../b", bad_service("a/../b", "'..' segment")),
        ("icap://scan1/./b", bad_service("./b", "'..' segment")),
        ("icap://scan1/a%20b", bad_service("a%20b", "only letters")),
        ("icap://scan1/a:b", bad_service("a:b", "only letters")),
        (
            &long_service,
            bad_service(&long_service[9..], "longer than 255"),
        ),
    ];
    for (input, want) in cases {
        let err = input
            .parse::<ServerAddress>()
            .expect_err(&format!("{input:?} should be rejected"));
        assert_eq!(err.input(), input);
        match (&want, err.kind()) {
            // The reason text is checked by substring for these two.
            (K::BadHostName { host, reason }, K::BadHostName { host: h, reason: r }) => {
                assert_eq!(host, h, "{input:?}");
                assert!(r.contains(reason), "{input:?}: {r}");
            }
            (
                K::BadService { service, reason },
                K::BadService {
                    service: s,
                    reason: r,
                },
            ) => {
                assert_eq!(service, s, "{input:?}");
                assert!(r.contains(reason), "{input:?}: {r}");
            }
            (want, got) => assert_eq!(got, want, "{input:?}"),
        }
    }
}

fn bad_name(host: &str, reason: &'static str) -> AddressErrorKind {
    AddressErrorKind::BadHostName {
        host: host.into(),
        reason,
    }
}

fn bad_service(service: &str, reason: &'static str) -> AddressErrorKind {
    AddressErrorKind::BadService {
        service: service.into(),
        reason,
    }
}

#[test]
fn error_messages_name_the_input() {
    let e = "scan1:0".parse::<ServerAddress>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid scan server address \"scan1:0\": port \"0\" is not a decimal number from 1 to 65535 (without sign or leading zeros)"
    );
    let e = "http://x".parse::<ServerAddress>().unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid scan server address \"http://x\": unknown scheme \"http\"")
    );
    // Control characters are escaped and long inputs cut.
    let e = "a\u{1}b".parse::<ServerAddress>().unwrap_err();
    assert!(e.to_string().contains("\"a\\u{1}b\""), "{e}");
    let long = "x".repeat(10_000) + " ";
    let msg = long.parse::<ServerAddress>().unwrap_err().to_string();
    assert!(msg.len() < 300 && msg.contains("..."), "{msg}");
    for input in ["", "1.2.3", "icap://h", "unix://x", "[x]:1", "a_b"] {
        let msg = input.parse::<ServerAddress>().unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("invalid scan server address \"{input}\": ")),
            "{msg}"
        );
    }
}

#[test]
fn accessors() {
    let a: ServerAddress = "icap://h:99/s".parse().unwrap();
    assert_eq!(a.host(), Some(&name("h")));
    assert_eq!(a.port(), Some(99));
    let u: ServerAddress = "unix:///s".parse().unwrap();
    assert_eq!(u.host(), None);
    assert_eq!(u.port(), None);
    assert_eq!(v6("fd20::1").to_string(), "fd20::1");
}

#[test]
fn display_round_trips_constructed_values() {
    for a in [
        clamd(v6("fd20::1:3310"), 3310),
        clamd(v6("fd20::1"), 1),
        clamd(v4("10.0.0.1"), 65535),
        clamd(name("a.b"), 3310),
        icap(v6("::1"), 1344, "s/t"),
        icap(v4("10.0.0.1"), 1, "s"),
        unix("/a b"),
    ] {
        let shown = a.to_string();
        if shown.contains(' ') {
            // Whitespace is never accepted, even in a socket path.
            assert!(shown.parse::<ServerAddress>().is_err());
        } else {
            assert_eq!(shown.parse::<ServerAddress>().unwrap(), a, "{shown}");
        }
    }
}
