//! A crash inside the engine loses only the scan in progress (issue 21): a real abort,
//! injected with the hidden `--scanner-test-faults` option, in a scan worker process.

use crate::harness::{EICAR, Node, OnDemand, scan};

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
