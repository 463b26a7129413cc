//! Memory stays bounded when many clients stream large bodies at once: INSTREAM bodies
//! spill to disk past 1 MiB instead of accumulating in memory. Own test binary, so the
//! process's peak RSS reflects this test alone.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Vigil, read_until_close};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn concurrent_large_streams_do_not_accumulate_in_memory() {
    const CLIENTS: usize = 32;
    const STREAM_BYTES: usize = 16 << 20;
    let vigil = Vigil::start_with(|a| a.stream_max_length = 64 << 20);
    // Warm up: the first scans size the scanner threads' buffers.
    let mut warm = UnixStream::connect(&vigil.socket).expect("connect");
    warm.write_all(b"zINSTREAM\0\0\0\0\x04abcd\0\0\0\0")
        .expect("write");
    assert_eq!(read_until_close(&mut warm), b"stream: OK\0");
    let baseline = peak_rss_kib();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let socket = vigil.socket.clone();
            std::thread::spawn(move || {
                let chunk = vec![b'q'; 64 * 1024];
                let mut stream = UnixStream::connect(&socket).expect("connect");
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .expect("timeout");
                stream.write_all(b"zINSTREAM\0").expect("write");
                for _ in 0..STREAM_BYTES / chunk.len() {
                    stream
                        .write_all(&(chunk.len() as u32).to_be_bytes())
                        .expect("write");
                    stream.write_all(&chunk).expect("write");
                }
                stream.write_all(&[0, 0, 0, 0]).expect("write");
                read_until_close(&mut stream)
            })
        })
        .collect();
    for handle in threads {
        assert_eq!(handle.join().expect("client"), b"stream: OK\0");
    }
    let growth_mib = (peak_rss_kib() - baseline) / 1024;
    let streamed_mib = (CLIENTS * STREAM_BYTES) >> 20;
    eprintln!("peak RSS grew {growth_mib} MiB while {streamed_mib} MiB were streamed");
    // Kept in memory, the bodies alone would be 512 MiB.
    assert!(
        growth_mib < 160,
        "peak RSS grew {growth_mib} MiB while {streamed_mib} MiB were streamed"
    );
}
