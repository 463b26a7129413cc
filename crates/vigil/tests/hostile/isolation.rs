//! A crash inside the engine loses only the scan in progress (issue 21): a real abort,
//! injected with the hidden `--scanner-test-faults` option, in a scan worker process.

use crate::harness::{EICAR, Node, OnDemand, request, scan};

/// What the engine's test fault looks for (`scan::worker::TEST_FAULT_MARKER`).
const FAULT: &[u8] = b"VIGIL-TEST-FAULT:abort-scan-worker";

#[test]
fn an_engine_crash_loses_only_its_scan() {
    let node = Node::start(&[
        "--scanner-test-faults",
        "--scanner-isolation",
        "process",
        "--vscan-check-interval-ms",
        "200",
    ]);
    let root = node.path("ns");
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    let crash = root.join("data/crash.bin");
    let eicar = root.join("data/eicar.com");
    std::fs::write(&crash, FAULT).expect("write");
    std::fs::write(&eicar, EICAR).expect("write");

    // Over clamd: the crashing scan answers an error, the next scans are served.
    for _ in 0..3 {
        let reply = scan(&node.socket, &crash);
        assert!(
            reply.starts_with("Scan worker failed") && reply.ends_with(" ERROR"),
            "{reply}"
        );
        assert!(scan(&node.socket, &eicar).ends_with(" FOUND"));
    }

    // MULTISCAN hands the worker its files in batches: the crash takes the batch's worker
    // down, and the batch goes again file by file, so only the crashing file is lost.
    for i in 0..12 {
        std::fs::write(root.join(format!("data/clean{i}.txt")), b"clean").expect("write");
    }
    let dir = root.join("data");
    let reply = request(
        &node.socket,
        format!("zMULTISCAN {}\0", dir.display()).as_bytes(),
    );
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let lines: Vec<&str> = reply.split('\0').filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines.len(),
        2,
        "only the two findings are reported: {reply:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("crash.bin: Scan worker failed") && l.ends_with(" ERROR")),
        "{reply:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("eicar.com: ") && l.ends_with(" FOUND")),
        "{reply:?}"
    );

    // On demand, through the dispatcher's embedded path: the run finishes, the crash is a
    // scan_internal_error event and the EICAR file is still found.
    let od = OnDemand::new(&node, &root);
    let job = od.run(&node);
    assert_eq!(job["state"], "success", "{job}");
    let events = od.events(&node);
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .filter_map(|e| e["file_path"].as_str())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        of("scan_internal_error")
            .iter()
            .any(|p| p.ends_with("/data/crash.bin")),
        "{events:?}"
    );
    assert!(
        of("file_infected")
            .iter()
            .any(|p| p.ends_with("/data/eicar.com")),
        "{events:?}"
    );
    node.finish("engine crash in a worker");
}
