//! Wire-level behaviour: every command, malformed input, oversized and abandoned streams,
//! many concurrent clients and IDSESSION pipelining. Where clamd has a defined answer the
//! real clamd is asked the same thing and Vigil must answer byte for byte the same, with
//! only the detection names and version string normalised.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::{
    EICAR, Vigil, exchange_tcp, exchange_unix, instream_body, read_until_close, real_clamd,
};

/// Replaces each server's detection name and version with placeholders.
fn normalise(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let text = text
        .replace("Test.EICAR-1.UNOFFICIAL", "<NAME>")
        .replace("Vigil.Test.EICAR-Embedded", "<NAME>")
        .replace("Vigil.Test.EICAR", "<NAME>");
    let mut out = String::new();
    for line in text.split_inclusive(['\0', '\n']) {
        let (prefix, rest) = match line.split_once(": ") {
            Some((id, rest)) if id.chars().all(|c| c.is_ascii_digit()) && !id.is_empty() => {
                (format!("{id}: "), rest)
            }
            _ => (String::new(), line),
        };
        if rest.starts_with("ClamAV ") || rest.starts_with("Vigil ") {
            let end = rest.find(['|', '\0', '\n']).unwrap_or(rest.len());
            out.push_str(&format!("{prefix}<VERSION>{}", &rest[end..]));
        } else {
            out.push_str(&format!("{prefix}{rest}"));
        }
    }
    out
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
        std::fs::write(tree.join("clean.txt"), b"hello\n").expect("write");
        std::fs::write(tree.join("sub/infected.com"), EICAR).expect("write");
        std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
        std::fs::create_dir(dir.path().join("cleandir")).expect("mkdir");
        std::fs::write(dir.path().join("cleandir/a.txt"), b"clean\n").expect("write");
        Fixture { dir }
    }

    fn path(&self, relative: &str) -> String {
        self.dir.path().join(relative).display().to_string()
    }
}

/// Requests whose replies must be identical, modulo names and version.
fn parity_requests(fx: &Fixture) -> Vec<(String, Vec<u8>)> {
    let z = |s: String| {
        let mut v = s.into_bytes();
        v.push(0);
        v
    };
    let mut split_eicar = b"zINSTREAM\0".to_vec();
    split_eicar.extend(instream_body(&[&EICAR[..30], &EICAR[30..]]));
    let mut clean_stream = b"nINSTREAM\n".to_vec();
    clean_stream.extend(instream_body(&[b"hello world"]));
    let mut oversized = b"zINSTREAM\0".to_vec();
    oversized.extend_from_slice(&(2u32 << 20).to_be_bytes());
    let mut session = b"zIDSESSION\0zPING\0".to_vec();
    session.extend(z(format!("zSCAN {}", fx.path("tree/clean.txt"))));
    session.extend(b"zINSTREAM\0");
    session.extend(instream_body(&[EICAR]));
    session.extend(b"zEND\0");
    let mut session_bad = b"zIDSESSION\0zPING\0".to_vec();
    session_bad.extend(z(format!("zCONTSCAN {}", fx.path("tree"))));
    vec![
        ("zPING".into(), b"zPING\0".to_vec()),
        ("nPING".into(), b"nPING\n".to_vec()),
        ("bare PING".into(), b"PING\n".to_vec()),
        ("bare PING without newline".into(), b"PING".to_vec()),
        ("unknown command".into(), b"zFOO\0".to_vec()),
        ("unknown command, newline".into(), b"FOO\n".to_vec()),
        ("trailing garbage".into(), b"zPINGX\0".to_vec()),
        ("SCAN without path".into(), b"zSCAN\0".to_vec()),
        ("END outside session".into(), b"zEND\0".to_vec()),
        ("IDSESSION old style".into(), b"IDSESSION\n".to_vec()),
        ("RELOAD".into(), b"zRELOAD\0".to_vec()),
        ("DETSTATS".into(), b"zDETSTATS\0".to_vec()),
        ("VERSION".into(), b"zVERSION\0".to_vec()),
        ("VERSIONCOMMANDS".into(), b"nVERSIONCOMMANDS\n".to_vec()),
        (
            "SCAN clean file".into(),
            z(format!("zSCAN {}", fx.path("tree/clean.txt"))),
        ),
        (
            "SCAN infected file".into(),
            z(format!("zSCAN {}", fx.path("tree/sub/infected.com"))),
        ),
        (
            "SCAN directory".into(),
            z(format!("zSCAN {}", fx.path("tree"))),
        ),
        (
            "SCAN missing".into(),
            z(format!("zSCAN {}", fx.path("nope"))),
        ),
        ("SCAN relative".into(), b"zSCAN relative/path\0".to_vec()),
        (
            "SCAN empty dir".into(),
            z(format!("zSCAN {}", fx.path("empty"))),
        ),
        (
            "CONTSCAN clean dir".into(),
            z(format!("zCONTSCAN {}", fx.path("cleandir"))),
        ),
        (
            "CONTSCAN tree".into(),
            z(format!("zCONTSCAN {}", fx.path("tree"))),
        ),
        (
            "MULTISCAN tree".into(),
            z(format!("zMULTISCAN {}", fx.path("tree"))),
        ),
        (
            "ALLMATCHSCAN tree".into(),
            z(format!("zALLMATCHSCAN {}", fx.path("tree"))),
        ),
        ("INSTREAM split signature".into(), split_eicar),
        ("INSTREAM clean, newline".into(), clean_stream),
        ("INSTREAM over the limit".into(), oversized),
        ("IDSESSION pipeline".into(), session),
        ("IDSESSION forbidden command".into(), session_bad),
        (
            "IDSESSION unknown command".into(),
            b"zIDSESSION\0zFOO\0zPING\0zEND\0".to_vec(),
        ),
        (
            "IDSESSION FILDES without fd".into(),
            b"zIDSESSION\0zFILDES\0zEND\0".to_vec(),
        ),
    ]
}

/// Replies from a session arrive in completion order; compare them as a set of lines.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .split_inclusive(['\0', '\n'])
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn replies_match_real_clamd_byte_for_byte() {
    let clamd = real_clamd();
    let vigil = Vigil::start_with(|a| a.stream_max_length = 1 << 20);
    let fx = Fixture::new();
    let mut mismatches = Vec::new();
    for (label, request) in parity_requests(&fx) {
        let theirs = normalise(&exchange_unix(&clamd.socket, &request));
        let ours = normalise(&exchange_unix(&vigil.socket, &request));
        let (theirs_cmp, ours_cmp) =
            if label.starts_with("IDSESSION") || label.starts_with("MULTISCAN") {
                (sorted_lines(&theirs).join(""), sorted_lines(&ours).join(""))
            } else {
                (theirs.clone(), ours.clone())
            };
        if theirs_cmp != ours_cmp {
            mismatches.push(format!("{label}:\n  clamd: {theirs:?}\n  vigil: {ours:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "replies differ from clamd:\n{}",
        mismatches.join("\n")
    );
    // Over TCP as well, for the commands clamd clients use there.
    let tcp_clamd = std::net::SocketAddr::from(([127, 0, 0, 1], clamd.port));
    for request in [&b"zPING\0"[..], b"zVERSION\0", b"nPING\n"] {
        assert_eq!(
            normalise(&exchange_tcp(tcp_clamd, request)),
            normalise(&exchange_tcp(vigil.tcp, request))
        );
    }
}

#[test]
fn version_has_clamds_shape_with_rules_serial_and_date() {
    let vigil = Vigil::start();
    let reply = exchange_unix(&vigil.socket, b"zVERSION\0");
    let text = String::from_utf8(reply).expect("utf8");
    let text = text.strip_suffix('\0').expect("NUL terminated");
    let (name_version, rest) = text.split_once('/').expect("product/serial/date");
    let (serial, date) = rest.split_once('/').expect("serial/date");
    assert_eq!(name_version, format!("Vigil {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(serial, scan::ruleset::BUILTIN_RULES_TIME.to_string());
    assert_eq!(date, "Sun Nov 22 00:00:00 2026");
}

#[test]
fn fildes_scans_passed_descriptors() {
    let vigil = Vigil::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let infected = dir.path().join("infected");
    std::fs::write(&infected, EICAR).expect("write");
    let clean = dir.path().join("clean");
    std::fs::write(&clean, b"nothing here").expect("write");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = clamd::Client::new(
        clamd::Endpoint::Unix(vigil.socket.clone()),
        Duration::from_secs(10),
    );
    runtime.block_on(async {
        for (path, expect_found) in [(&infected, true), (&clean, false)] {
            let file = std::fs::File::open(path).expect("open");
            let reply = client
                .fildes(std::os::fd::AsFd::as_fd(&file))
                .await
                .expect("fildes");
            let subject = String::from_utf8(reply.subject.clone().expect("subject")).expect("utf8");
            assert!(
                subject.starts_with("fd[") && subject.ends_with(']'),
                "{subject}"
            );
            assert_eq!(
                matches!(reply.status, clamd::Status::Found(_)),
                expect_found,
                "{reply:?}"
            );
        }
        // A pipe is not a regular file: clamd's own error.
        let (read_end, _write_end) = std::os::unix::net::UnixStream::pair().expect("pair");
        let reply = client
            .fildes(std::os::fd::AsFd::as_fd(&read_end))
            .await
            .expect("fildes");
        assert_eq!(
            reply.status,
            clamd::Status::Error("Not a regular file".into())
        );
        // The client API round-trips the other commands too.
        client.ping().await.expect("ping");
        assert!(
            client
                .version()
                .await
                .expect("version")
                .starts_with("Vigil ")
        );
        assert!(client.stats().await.expect("stats").ends_with("END"));
        let replies = client.scan_path(&infected).await.expect("scan");
        assert!(matches!(replies[0].status, clamd::Status::Found(_)));
        let reply = client.instream(EICAR).await.expect("instream");
        assert_eq!(reply.subject.as_deref(), Some(&b"stream"[..]));
    });
}

#[test]
fn stats_lists_pool_state() {
    let vigil = Vigil::start();
    let text = String::from_utf8(exchange_unix(&vigil.socket, b"zSTATS\0")).expect("utf8");
    assert!(
        text.starts_with("POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live 2  idle "),
        "{text}"
    );
    assert!(text.contains("\nQUEUE: "), "{text}");
    assert!(text.ends_with("\nEND\0"), "{text}");
}

#[test]
fn shutdown_is_refused_unless_enabled() {
    let vigil = Vigil::start();
    assert_eq!(
        exchange_unix(&vigil.socket, b"zSHUTDOWN\0"),
        b"COMMAND UNAVAILABLE\0"
    );
    assert_eq!(exchange_unix(&vigil.socket, b"zPING\0"), b"PONG\0");
}

#[test]
fn reload_picks_up_new_rules_without_dropping_scans() {
    let rules = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        rules.path().join("a.yar"),
        "rule first_marker { strings: $a = \"vigil-marker-one\" condition: $a }",
    )
    .expect("write");
    let rules_dir = rules.path().to_path_buf();
    let vigil = Vigil::start_with(|a| a.rules_dir = Some(rules_dir));
    let scan = |body: &[u8]| {
        let mut request = b"zINSTREAM\0".to_vec();
        request.extend(instream_body(&[body]));
        String::from_utf8(exchange_unix(&vigil.socket, &request)).expect("utf8")
    };
    assert_eq!(scan(b"vigil-marker-one"), "stream: first_marker FOUND\0");
    assert_eq!(scan(b"vigil-marker-two"), "stream: OK\0");
    let version_before = exchange_unix(&vigil.socket, b"zVERSION\0");
    // A long stream in flight across the reload must still be answered.
    let mut in_flight = UnixStream::connect(&vigil.socket).expect("connect");
    in_flight.write_all(b"zINSTREAM\0").expect("write");
    in_flight
        .write_all(&instream_body(&[b"vigil-marker-one"])[..10])
        .expect("write");
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        rules.path().join("b.hsb"),
        format!("{}:16:Test.Marker.Two\n", sha256_hex(b"vigil-marker-two")),
    )
    .expect("write");
    assert_eq!(exchange_unix(&vigil.socket, b"zRELOAD\0"), b"RELOADING\0");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while scan(b"vigil-marker-two") != "stream: Test.Marker.Two FOUND\0" {
        assert!(
            std::time::Instant::now() < deadline,
            "reload did not take effect"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(
        exchange_unix(&vigil.socket, b"zVERSION\0"),
        version_before,
        "serial must move on reload"
    );
    in_flight
        .write_all(&instream_body(&[b"vigil-marker-one"])[10..])
        .expect("write");
    in_flight
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!(
        read_until_close(&mut in_flight),
        b"stream: first_marker FOUND\0"
    );
    // A broken rule file: RELOAD still answers, the previous rules stay in force.
    std::fs::write(
        rules.path().join("c.yar"),
        "rule broken { condition: nonsense }",
    )
    .expect("write");
    assert_eq!(exchange_unix(&vigil.socket, b"zRELOAD\0"), b"RELOADING\0");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(scan(b"vigil-marker-one"), "stream: first_marker FOUND\0");
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    common::hex(&sha2::Sha256::digest(data))
}

#[test]
fn oversized_stream_is_refused_and_nothing_past_the_limit_is_read() {
    let vigil = Vigil::start_with(|a| a.stream_max_length = 64 * 1024);
    let mut stream = UnixStream::connect(&vigil.socket).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(b"zINSTREAM\0").expect("write");
    let chunk = vec![b'a'; 16 * 1024];
    let mut refused = false;
    for _ in 0..64 {
        if stream
            .write_all(&(chunk.len() as u32).to_be_bytes())
            .is_err()
            || stream.write_all(&chunk).is_err()
        {
            refused = true;
            break;
        }
    }
    let reply = read_until_close(&mut stream);
    assert_eq!(reply, b"INSTREAM size limit exceeded. ERROR\0");
    assert!(
        refused || reply.starts_with(b"INSTREAM"),
        "server kept reading past the limit"
    );
}

#[test]
fn malformed_input_never_kills_the_server() {
    let vigil = Vigil::start();
    let mut long = b"zSCAN /".to_vec();
    long.resize(10_000, b'a');
    let cases: Vec<Vec<u8>> = vec![
        long,
        vec![0u8; 100],
        b"\xff\xfe\xfd\n".to_vec(),
        b"zINSTREAM\0\x00\x00".to_vec(),
        b"nIDSESSION\nzPING\0PING\n".to_vec(),
        b"zIDSESSION\0zINSTREAM\0\x00\x00\x00\x04ab".to_vec(),
        b"zSCAN \0".to_vec(),
        b"zSCAN /\xff\xfe\0".to_vec(),
        b"zFILDES\0x".to_vec(),
    ];
    for case in cases {
        // Half-close after sending: a server waiting for more of a truncated request
        // must notice the client is done rather than wait for its read timeout.
        let mut unix = UnixStream::connect(&vigil.socket).expect("connect");
        let _ = unix.write_all(&case);
        let _ = unix.shutdown(std::net::Shutdown::Write);
        unix.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = read_until_close(&mut unix);
        let mut tcp = std::net::TcpStream::connect(vigil.tcp).expect("connect");
        let _ = tcp.write_all(&case);
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = read_until_close(&mut tcp);
        assert_eq!(
            exchange_unix(&vigil.socket, b"zPING\0"),
            b"PONG\0",
            "after {case:?}"
        );
    }
}

#[test]
fn idsession_pipelines_and_replies_in_completion_order() {
    let vigil = Vigil::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut request = b"zIDSESSION\0".to_vec();
    let mut expected = Vec::new();
    for i in 1..=40u32 {
        let path = dir.path().join(format!("f{i}"));
        let infected = i % 4 == 0;
        std::fs::write(
            &path,
            if infected {
                EICAR.to_vec()
            } else {
                vec![b'c'; i as usize * 100]
            },
        )
        .expect("write");
        request.extend(format!("zSCAN {}\0", path.display()).into_bytes());
        expected.push(if infected {
            format!("{i}: {}: Vigil.Test.EICAR FOUND\0", path.display())
        } else {
            format!("{i}: {}: OK\0", path.display())
        });
    }
    request.extend(b"zPING\0zEND\0");
    expected.push("41: PONG\0".into());
    let reply = String::from_utf8(exchange_unix(&vigil.socket, &request)).expect("utf8");
    let mut got: Vec<String> = reply.split_inclusive('\0').map(str::to_string).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn idle_connections_time_out_with_clamds_message() {
    let vigil = Vigil::start_with(|a| a.read_timeout = 1);
    let mut stream = UnixStream::connect(&vigil.socket).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(b"zIDSESSION\0zPING\0").expect("write");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read");
    assert_eq!(reply, b"1: PONG\0COMMAND READ TIMED OUT\n");
}

#[test]
fn in_process_api_returns_typed_verdicts() {
    let vigil = Vigil::start();
    let engine = &vigil.engine;
    assert_eq!(
        engine.scan_bytes(EICAR),
        scan::Verdict::Infected(vec!["Vigil.Test.EICAR".into()])
    );
    assert_eq!(engine.scan_bytes(b"harmless"), scan::Verdict::Clean);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("e");
    std::fs::write(&path, EICAR).expect("write");
    assert!(matches!(
        engine.scan_path(&path),
        scan::Verdict::Infected(_)
    ));
    let file = std::fs::File::open(&path).expect("open");
    assert!(matches!(
        engine.scan_fd(std::os::fd::AsFd::as_fd(&file)),
        scan::Verdict::Infected(_)
    ));
    assert!(matches!(
        engine.scan_path(Path::new("/nonexistent/x")),
        scan::Verdict::Error(_)
    ));
    assert!(matches!(
        engine.scan_reader(EICAR, 1024),
        scan::Verdict::Infected(_)
    ));
    assert_eq!(
        engine.scan_reader(&[0u8; 2048][..], 1024),
        scan::Verdict::LimitExceeded(scan::Limit::ScanSize)
    );
}
