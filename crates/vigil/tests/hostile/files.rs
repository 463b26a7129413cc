//! Files that change under the scan, and files too large to scan.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use crate::harness::{EICAR, Node, fildes, instream, scan};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// A file of `size` bytes: real data at its start (an EICAR string in the first page
/// unless `clean`) and a hole for the rest, so large sizes cost no disk. Pages of a hole
/// fault like any other once the file is truncated under a map.
fn plant(path: &Path, size: u64) {
    let mut file = File::create(path).expect("create");
    let head = vec![0x5a_u8; (64 * KIB).min(size) as usize];
    file.write_all(&head).expect("write");
    file.set_len(size).expect("set_len");
    // Something to find at the very end, so a scan reads the whole file.
    if size > EICAR.len() as u64 + 1 {
        file.write_all_at(EICAR, size - EICAR.len() as u64 - 1)
            .expect("write tail");
    }
}

/// Node with size limits above the largest test file, so big files are really read.
fn node_reading_everything() -> Node {
    Node::start(&[
        "--scanner-max-file-size",
        "2G",
        "--scanner-max-scan-size",
        "2G",
    ])
}

/// Runs `scan` while `change` happens `delay` after the request went out.
fn scan_while(node: &Node, path: &Path, delay: Duration, change: impl FnOnce() + Send) -> String {
    std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(delay);
            change();
        });
        scan(&node.socket, path)
    })
}

#[test]
fn truncated_during_scan_200_times() {
    let node = node_reading_everything();
    let sizes = [
        300 * KIB,
        MIB,
        4 * MIB,
        16 * MIB,
        64 * MIB,
        128 * MIB,
        300 * MIB,
    ];
    let mut answers = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..200u64 {
        // 1 GiB sparingly: twice.
        let size = if i == 77 || i == 177 {
            1 << 30
        } else {
            sizes[(i as usize) % sizes.len()]
        };
        let path = node.path(&format!("t{}.bin", i % 3));
        plant(&path, size);
        let delay = Duration::from_millis(i % 25);
        // Every other time to nothing, else to a third (the scan may be past that).
        let to = if i % 2 == 0 { 0 } else { size / 3 };
        let reply = scan_while(&node, &path, delay, || {
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(to))
                .expect("truncate");
        });
        *answers.entry(reply).or_default() += 1;
    }
    eprintln!("truncate-during-scan answers: {answers:?}");
    node.finish("truncate during scan x200");
}

#[test]
fn grown_renamed_over_and_deleted_during_scan() {
    let node = node_reading_everything();
    for round in 0..6u64 {
        let size = (32 * MIB) << (round % 3);
        // Grows: appended to while scanned.
        let path = node.path("grow.bin");
        plant(&path, size);
        let reply = scan_while(&node, &path, Duration::from_millis(5 * round), || {
            let mut f = OpenOptions::new().append(true).open(&path).expect("open");
            for _ in 0..64 {
                f.write_all(&[7u8; 64 << 10]).expect("append");
            }
        });
        assert!(!reply.is_empty());
        // Renamed over: another file takes its name mid-scan.
        let other = node.path("other.bin");
        plant(&path, size);
        std::fs::write(&other, b"clean replacement").expect("write");
        scan_while(&node, &path, Duration::from_millis(5 * round), || {
            std::fs::rename(&other, &path).expect("rename");
        });
        // Deleted mid-scan.
        plant(&path, size);
        scan_while(&node, &path, Duration::from_millis(5 * round), || {
            std::fs::remove_file(&path).expect("unlink");
        });
        // The same through FILDES: the descriptor outlives every change.
        plant(&path, size);
        let file = File::open(&path).expect("open");
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(3 * round));
                file.set_len(0).ok();
                let _ = std::fs::remove_file(&path);
            });
            let reply = fildes(&node.socket, &file);
            assert!(
                reply.starts_with(b"fd[") && reply.ends_with(b"\0"),
                "{reply:?}"
            );
        });
    }
    node.finish("grow / rename-over / delete during scan");
}

#[test]
fn a_sparse_20_gib_file_is_skipped_at_the_size_limit() {
    // Default limits: skipped, OK, as clamd without AlertExceedsMax.
    let node = Node::start(&[]);
    let path = node.path("sparse20g.bin");
    plant(&path, 20 << 30);
    assert_eq!(scan(&node.socket, &path), "OK");
    let file = File::open(&path).expect("open");
    assert!(fildes(&node.socket, &file).ends_with(b": OK\0"));
    node.finish("20 GiB sparse, default limits");

    let node = Node::start(&["--scanner-alert-exceeds-max", "true"]);
    let path = node.path("sparse20g.bin");
    plant(&path, 20 << 30);
    assert_eq!(
        scan(&node.socket, &path),
        "Heuristics.Limits.Exceeded.MaxFileSize FOUND"
    );
    node.finish("20 GiB sparse, alert on limits");
}

#[test]
fn instream_over_stream_max_length_is_refused() {
    let node = Node::start(&["--scanner-stream-max-length", "4M"]);
    let reply = instream(&node.socket, 64 * MIB);
    assert_eq!(reply, b"INSTREAM size limit exceeded. ERROR\0");
    // Within the limit it is scanned.
    assert_eq!(instream(&node.socket, 3 * MIB), b"stream: OK\0");
    node.finish("INSTREAM over StreamMaxLength");
}
