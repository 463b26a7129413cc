//! The client against the real c-icap 0.5.10 + virus_scan (clamd_mod) + clamd 1.4 from
//! Debian packages.

mod common;

use std::time::Duration;

use common::{EICAR, EICAR_NAME, Peers, free_port};
use icap::{Config, IcapClient, IcapError, IcapVerdict};

fn client(peers: &Peers, service: &str) -> IcapClient {
    IcapClient::new("127.0.0.1", peers.port, service, Config::default())
}

/// `len` bytes of text (c-icap's magic file calls it TEXT, a type virus_scan scans)
/// with `tail` at the end.
fn text_file(len: usize, tail: &[u8]) -> Vec<u8> {
    let line = b"the quick brown fox jumps over the lazy dog 0123456789\n";
    let mut data: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(len - tail.len())
        .collect();
    data.extend_from_slice(tail);
    data
}

fn assert_infected(verdict: &IcapVerdict) {
    match verdict {
        IcapVerdict::Infected { threat, violations } => {
            assert_eq!(threat, EICAR_NAME);
            assert_eq!(violations.len(), 1, "{violations:?}");
            assert_eq!(violations[0].threat, EICAR_NAME);
        }
        other => panic!("expected infected, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_fields() {
    let peers = Peers::start();
    let c = client(&peers, "virus_scan");
    let o = c.options().await.expect("OPTIONS");
    assert!(o.methods.contains(&"RESPMOD".to_owned()), "{o:?}");
    assert!(o.methods.contains(&"REQMOD".to_owned()), "{o:?}");
    assert_eq!(o.preview, Some(1024));
    assert!(o.allow_204);
    assert_eq!(o.ttl, Some(Duration::from_secs(3600)));
    assert!(
        o.service
            .as_deref()
            .is_some_and(|s| s.contains("Antivirus")),
        "{o:?}"
    );
    let istag = o.istag.clone().expect("ISTag");
    assert!(istag.starts_with("CI0001-"), "{istag}");
    assert_eq!(o.transfer_preview, vec!["*"]);
    assert_eq!(c.istag().as_deref(), Some(istag.as_str()));
    // The alias answers too, under the same ISTag (same engine, same signatures).
    let alias = client(&peers, "avscan")
        .options()
        .await
        .expect("alias OPTIONS");
    assert_eq!(alias.istag, o.istag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_infected_and_empty_files() {
    let peers = Peers::start();
    let c = client(&peers, "virus_scan");

    let clean = c
        .scan_bytes("docs/readme.txt", &text_file(500, b""))
        .await
        .expect("clean scan");
    assert_eq!(clean.verdict, IcapVerdict::Clean);
    assert!(
        clean
            .istag
            .as_deref()
            .is_some_and(|t| t.starts_with("CI0001-"))
    );

    let infected = c.scan_bytes("eicar.com", EICAR).await.expect("eicar scan");
    assert_infected(&infected.verdict);
    assert_eq!(infected.verdict.threat_name(), Some(EICAR_NAME));
    assert_eq!(infected.istag, clean.istag);

    // c-icap answers a zero-byte body with a 200 echo, not 204.
    let empty = c.scan_bytes("empty", b"").await.expect("empty scan");
    assert_eq!(empty.verdict, IcapVerdict::Clean);

    // A name that could break the request line or add headers is encoded.
    let odd = c
        .scan_bytes("dir with space/x\r\nX-Evil: 1/é.txt", EICAR)
        .await
        .expect("odd name");
    assert_infected(&odd.verdict);
    let log = std::fs::read_to_string(peers.dir.join("access.log")).unwrap_or_default();
    assert!(!log.contains("X-Evil: 1"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_larger_than_the_preview() {
    let peers = Peers::start();
    let c = client(&peers, "virus_scan");
    for len in [1024, 1025, 4096, 100_000, 1_500_000] {
        let clean = c
            .scan_bytes("big.txt", &text_file(len, b""))
            .await
            .unwrap_or_else(|e| panic!("clean {len}: {e}"));
        assert_eq!(clean.verdict, IcapVerdict::Clean, "{len} bytes");
        // The signature is past the preview: found only if the rest was sent.
        let infected = c
            .scan_bytes("big.txt", &text_file(len + EICAR.len(), EICAR))
            .await
            .unwrap_or_else(|e| panic!("infected {len}: {e}"));
        assert_infected(&infected.verdict);
    }
    // From a file on disk, through tokio's reader.
    let path = peers.dir.join("on-disk.bin");
    std::fs::write(&path, text_file(300_000, EICAR)).expect("write");
    let file = tokio::fs::File::open(&path).await.expect("open");
    let r = c
        .scan("on-disk.bin", 300_000, file)
        .await
        .expect("scan file");
    assert_infected(&r.verdict);
}

/// Debian's virus_scan defaults send data back early past 2 MiB and do not scan past
/// 5 MiB. The early echo is cut short when a virus turns up; the client must not take
/// that for clean. Debian's `avscan` alias scans everything before answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_with_early_responses_are_never_clean() {
    let peers = Peers::start();
    let c = client(&peers, "virus_scan");
    let big = text_file(4 << 20, EICAR);
    let r = c.scan_bytes("big.txt", &big).await.expect("scan");
    // c-icap had sent part of the file back, so it can no longer add headers: it
    // ends the echo early instead. Only the length tells.
    assert_eq!(
        r.verdict,
        IcapVerdict::Modified {
            http_status: Some(200)
        }
    );
    let clean = c
        .scan_bytes("big-clean.txt", &text_file(4 << 20, b""))
        .await
        .expect("scan clean");
    assert_eq!(clean.verdict, IcapVerdict::Clean);

    // Past MaxObjectSize virus_scan does not scan at all and echoes the file whole:
    // indistinguishable from clean for any client. A server configuration matter
    // (docs/scanner.md: use `sizelimit=off`, as the `avscan` alias does).
    let unscanned = c
        .scan_bytes("huge.txt", &text_file(7 << 20, EICAR))
        .await
        .expect("scan huge");
    assert_eq!(unscanned.verdict, IcapVerdict::Clean);

    let simple = client(&peers, "avscan");
    for len in [4 << 20, 7 << 20] {
        let r = simple
            .scan_bytes("big.txt", &text_file(len, EICAR))
            .await
            .expect("avscan");
        assert_infected(&r.verdict);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_and_wrong_service() {
    let mut peers = Peers::start();
    let wrong = client(&peers, "no_such_service");
    match wrong.options().await {
        Err(IcapError::Status { code: 404, reason }) => assert_eq!(reason, "Service not found"),
        other => panic!("expected 404, got {other:?}"),
    }
    match wrong.scan_bytes("x", b"abc").await {
        Err(IcapError::Status { code: 404, .. }) => {}
        other => panic!("expected 404, got {other:?}"),
    }

    let c = client(&peers, "virus_scan");
    assert!(c.scan_bytes("x", b"abc").await.is_ok());
    peers.stop_cicap();
    c.invalidate_options();
    match c.scan_bytes("x", b"abc").await {
        Err(e @ IcapError::Connect { .. }) => assert!(e.is_connection_failure()),
        other => panic!("expected a connect error, got {other:?}"),
    }
    let nobody = IcapClient::new("127.0.0.1", free_port(), "virus_scan", Config::default());
    assert!(matches!(
        nobody.options().await,
        Err(IcapError::Connect { .. })
    ));
}

/// A kept-alive connection whose server went away (restart) is not reused, and a
/// scan still gets its verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_between_scans() {
    let mut peers = Peers::start();
    let c = client(&peers, "virus_scan");
    for _ in 0..3 {
        assert_eq!(
            c.scan_bytes("a", b"clean text\n")
                .await
                .expect("scan")
                .verdict,
            IcapVerdict::Clean
        );
    }
    peers.start_cicap();
    for _ in 0..3 {
        assert_infected(
            &c.scan_bytes("e", EICAR)
                .await
                .expect("after restart")
                .verdict,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_scans() {
    let peers = Peers::start();
    let c = client(&peers, "virus_scan");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200usize {
        let c = c.clone();
        tasks.spawn(async move {
            let infected = i % 5 == 0;
            let len = 100 + (i * 7919) % 20_000;
            let data = text_file(len, if infected { EICAR } else { b"" });
            let r = c.scan_bytes(&format!("f{i}"), &data).await;
            (i, infected, r)
        });
    }
    let mut seen = 0;
    while let Some(done) = tasks.join_next().await {
        let (i, infected, r) = done.expect("task");
        let r = r.unwrap_or_else(|e| panic!("scan {i}: {e}"));
        if infected {
            assert_infected(&r.verdict);
        } else {
            assert_eq!(r.verdict, IcapVerdict::Clean, "file {i}");
        }
        seen += 1;
    }
    assert_eq!(seen, 200);
    assert!(!peers.log().contains("Segmentation"), "{}", peers.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_body_is_a_source_error() {
    let peers = Peers::start();
    let c = client(&peers, "virus_scan");
    for (size, data) in [(100u64, &b"only ten.."[..]), (5000, &[b'a'; 2000][..])] {
        match c.scan("short", size, data).await {
            Err(e @ IcapError::Source(_)) => assert!(!e.is_connection_failure()),
            other => panic!("expected a source error, got {other:?}"),
        }
    }
    // The client still works afterwards.
    assert_infected(&c.scan_bytes("e", EICAR).await.expect("scan").verdict);
}
