//! Archive members are scanned, nested archives to a bounded depth, and every unpacking
//! limit is reported as its own verdict, never as a clean pass.

mod common;

use std::io::Write;

use common::{EICAR, Vigil, exchange_unix, instream_body, tar_gz_bytes, zip_bytes};
use scan::{Engine, Limit, Limits, RuleSources, Verdict};

/// An engine reporting limits as detections (`--alert-exceeds-max`), so that each test
/// sees which limit stopped the scan.
fn engine(limits: Limits) -> Engine {
    let limits = Limits {
        alert_exceeds_max: true,
        ..limits
    };
    Engine::new(
        RuleSources {
            dir: None,
            builtin: true,
        },
        limits,
    )
    .expect("engine")
}

fn nest_zip(levels: usize) -> Vec<u8> {
    let mut data = zip_bytes(&[("eicar.com", EICAR)]);
    for level in 1..levels {
        let name = format!("level{level}.zip");
        data = zip_bytes(&[(name.as_str(), &data)]);
    }
    data
}

/// A zip whose single member inflates from about 1 MiB to 1 GiB of zeros.
fn zip_bomb() -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    writer.start_file("zeros.bin", options).expect("member");
    let block = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        writer.write_all(&block).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

#[test]
fn eicar_inside_zip_tar_gz_and_zip_in_zip_is_detected() {
    let engine = engine(Limits::default());
    // The container itself may already show the EICAR string (deflate stores short
    // members verbatim), so either EICAR name is right; what matters is the detection.
    let is_eicar = |verdict: Verdict| match verdict {
        Verdict::Infected(names) => names.iter().all(|n| n.starts_with("Vigil.Test.EICAR")),
        _ => false,
    };
    assert!(is_eicar(engine.scan_bytes(&zip_bytes(&[
        ("a.txt", b"clean"),
        ("e.com", EICAR)
    ]))));
    assert!(is_eicar(
        engine.scan_bytes(&tar_gz_bytes(&[("x/e.com", EICAR)]))
    ));
    assert!(is_eicar(engine.scan_bytes(&nest_zip(2))));
    assert!(is_eicar(engine.scan_bytes(&nest_zip(5))));
    // Compressed so the string is not visible in the container: only unpacking finds it.
    let padded: Vec<u8> = EICAR
        .iter()
        .chain(b" ".repeat(50).iter())
        .copied()
        .collect();
    let hidden = tar_gz_bytes(&[("a.txt", &b"a".repeat(5000)), ("e.com", &padded)]);
    assert!(
        !hidden.windows(EICAR.len()).any(|w| w == EICAR),
        "fixture must hide the string"
    );
    assert!(is_eicar(engine.scan_bytes(&hidden)));
    assert_eq!(
        engine.scan_bytes(&zip_bytes(&[("a.txt", b"clean"), ("b.txt", b"also clean")])),
        Verdict::Clean
    );
}

#[test]
fn clamav_test_file_is_found_by_hash_inside_archives() {
    let clam_exe = std::fs::read("/usr/share/clamav-testfiles/clam.exe").expect(
        "clam.exe from Debian's clamav-testfiles (scripts/install-test-deps.sh installs it)",
    );
    let engine = engine(Limits::default());
    assert!(matches!(engine.scan_bytes(&clam_exe), Verdict::Infected(_)));
    let zipped = std::fs::read("/usr/share/clamav-testfiles/clam.zip").expect("clam.zip");
    assert_eq!(
        engine.scan_bytes(&zipped),
        Verdict::Infected(vec!["Vigil.Test.ClamAV-TestFile".into()])
    );
    let tgz = std::fs::read("/usr/share/clamav-testfiles/clam.tar.gz").expect("clam.tar.gz");
    assert!(matches!(engine.scan_bytes(&tgz), Verdict::Infected(_)));
}

#[test]
fn nesting_beyond_the_recursion_limit_is_a_limit_verdict() {
    let engine = engine(Limits {
        max_recursion: 3,
        ..Limits::default()
    });
    assert!(matches!(
        engine.scan_bytes(&nest_zip(3)),
        Verdict::Infected(_)
    ));
    assert_eq!(
        engine.scan_bytes(&nest_zip(4)),
        Verdict::LimitExceeded(Limit::Recursion)
    );
}

#[test]
fn member_count_and_total_size_limits_are_reported() {
    let many: Vec<(String, Vec<u8>)> = (0..30)
        .map(|i| (format!("f{i}.txt"), vec![b'a'; 1000]))
        .collect();
    let members: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let archive = zip_bytes(&members);
    let files = engine(Limits {
        max_files: 10,
        ..Limits::default()
    });
    assert_eq!(
        files.scan_bytes(&archive),
        Verdict::LimitExceeded(Limit::Files)
    );
    let size = engine(Limits {
        max_scan_size: 10_000,
        ..Limits::default()
    });
    assert_eq!(
        size.scan_bytes(&archive),
        Verdict::LimitExceeded(Limit::ScanSize)
    );
    let member = engine(Limits {
        max_file_size: 500,
        ..Limits::default()
    });
    assert_eq!(
        member.scan_bytes(&archive),
        Verdict::LimitExceeded(Limit::FileSize)
    );
    // A detection before the limit is still a detection.
    let mut with_eicar = vec![("e.com", EICAR)];
    with_eicar.extend(members.iter().copied());
    assert!(matches!(
        files.scan_bytes(&zip_bytes(&with_eicar)),
        Verdict::Infected(_)
    ));
}

#[test]
fn zip_bomb_is_a_limit_not_scanned_to_exhaustion() {
    let bomb = zip_bomb();
    assert!(
        bomb.len() < 8 << 20,
        "bomb should be small, is {}",
        bomb.len()
    );
    let engine = engine(Limits::default());
    let started = std::time::Instant::now();
    assert_eq!(
        engine.scan_bytes(&bomb),
        Verdict::LimitExceeded(Limit::CompressionRatio)
    );
    // With the size limits out of the way, the ratio limit alone stops it.
    let generous = self::engine(Limits {
        max_file_size: 4 << 30,
        max_scan_size: 4 << 30,
        ..Limits::default()
    });
    assert_eq!(
        generous.scan_bytes(&bomb),
        Verdict::LimitExceeded(Limit::CompressionRatio)
    );
    let ratio_off = self::engine(Limits {
        max_compression_ratio: u64::MAX,
        ..Limits::default()
    });
    assert_eq!(
        ratio_off.scan_bytes(&bomb),
        Verdict::LimitExceeded(Limit::FileSize)
    );
    eprintln!("three bomb scans took {:?}", started.elapsed());
}

#[test]
fn limits_reach_clamd_clients_as_heuristic_detections() {
    let vigil = Vigil::start();
    let mut request = b"zINSTREAM\0".to_vec();
    let bomb = zip_bomb();
    let chunks: Vec<&[u8]> = bomb.chunks(64 * 1024).collect();
    request.extend(instream_body(&chunks));
    assert_eq!(
        exchange_unix(&vigil.socket, &request),
        b"stream: Heuristics.Limits.Exceeded.MaxCompressionRatio FOUND\0"
    );
}
