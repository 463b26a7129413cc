//! Resource bounds under abuse. Kept in its own test binary (its own process) so the
//! descriptor count is not disturbed by other tests running in parallel.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{EICAR, Vigil, exchange_tcp, exchange_unix, instream_body, open_fd_count};

#[test]
fn disconnects_mid_stream_and_many_clients_leak_nothing() {
    let vigil = Vigil::start();
    // Warm up: first connections allocate runtime resources that stay.
    assert_eq!(exchange_unix(&vigil.socket, b"zPING\0"), b"PONG\0");
    let fds_before = open_fd_count();
    for i in 0..50 {
        let mut stream = UnixStream::connect(&vigil.socket).expect("connect");
        stream.write_all(b"zINSTREAM\0").expect("write");
        let body = vec![b'z'; 1 << 21];
        stream
            .write_all(&(body.len() as u32).to_be_bytes())
            .expect("write");
        // Abandon after part of a chunk: half of them spilled to a temp file already.
        let part = if i % 2 == 0 { 1000 } else { (1 << 21) - 10 };
        stream.write_all(&body[..part]).expect("write");
        drop(stream);
    }
    // Descriptors without FILDES: each byte of an unfinished command carries one. The
    // server refuses with clamd's protocol error and keeps none of them open.
    let mut flood = UnixStream::connect(&vigil.socket).expect("connect");
    let spare = std::fs::File::open("/dev/null").expect("open");
    for i in 0..20 {
        let byte: &[u8] = if i == 0 { b"z" } else { b"A" };
        let sent = clamd::fdpass::send_with_fd(
            std::os::fd::AsRawFd::as_raw_fd(&flood),
            byte,
            std::os::fd::AsFd::as_fd(&spare),
        );
        if sent.is_err() {
            break;
        }
    }
    flood
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!(
        common::read_until_close(&mut flood),
        b"PROTOCOL ERROR: ancillary data sent without FILDES. ERROR\0"
    );
    drop(flood);
    drop(spare);
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let socket = vigil.socket.clone();
            let tcp = vigil.tcp;
            std::thread::spawn(move || {
                let mut request = b"zINSTREAM\0".to_vec();
                let body: &[u8] = if i % 3 == 0 { EICAR } else { b"clean body" };
                request.extend(instream_body(&[body]));
                let reply = if i % 2 == 0 {
                    exchange_unix(&socket, &request)
                } else {
                    exchange_tcp(tcp, &request)
                };
                (i, reply)
            })
        })
        .collect();
    for handle in threads {
        let (i, reply) = handle.join().expect("client thread");
        let expected: &[u8] = if i % 3 == 0 {
            b"stream: Vigil.Test.EICAR FOUND\0"
        } else {
            b"stream: OK\0"
        };
        assert_eq!(reply, expected, "client {i}");
    }
    // Connections close asynchronously; give the server a moment to drop them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open_fd_count() > fds_before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        open_fd_count() <= fds_before,
        "descriptors leaked: {} -> {}: {:?}",
        fds_before,
        open_fd_count(),
        common::open_fd_targets()
    );
}
