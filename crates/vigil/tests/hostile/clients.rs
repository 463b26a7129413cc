//! Clients that are slow, silent or greedy must not starve the others.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{EICAR, Node, scan};

/// 500 clients on the clamd TCP port each trickle a command a byte at a time, 20 more
/// go silent mid-command; meanwhile other clients are served, the trickling ones get
/// their answers and the silent ones clamd's `COMMAND READ TIMED OUT`.
#[test]
fn five_hundred_slow_clients() {
    let node = Node::start(&["--scanner-read-timeout", "5"]);
    let eicar = node.path("eicar.com");
    std::fs::write(&eicar, EICAR).expect("write");
    let command = format!("zSCAN {}\0", eicar.display()).into_bytes();
    let expected_prefix = format!("{}: ", eicar.display());
    let tcp = node.tcp;
    let slow: Vec<_> = (0..500)
        .map(|i| {
            let command = command.clone();
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    let mut s = TcpStream::connect(tcp).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(300))).ok();
                    // Under the read timeout between bytes, so each client is slow, not silent.
                    for (n, byte) in command.iter().enumerate() {
                        s.write_all(&[*byte]).expect("write");
                        if n % 8 == i % 8 {
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                    let mut reply = Vec::new();
                    s.read_to_end(&mut reply).expect("reply");
                    reply
                })
                .expect("thread")
        })
        .collect();
    let silent: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(tcp).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(300))).ok();
                s.write_all(b"zSCA").expect("write");
                let mut reply = Vec::new();
                s.read_to_end(&mut reply).ok();
                reply
            })
        })
        .collect();
    // Others are served while all of that is going on.
    for _ in 0..20 {
        assert!(scan(&node.socket, &eicar).ends_with(" FOUND"));
    }
    for t in slow {
        let reply = t.join().expect("slow client");
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.starts_with(&expected_prefix) && text.ends_with(" FOUND\0"),
            "{text:?}"
        );
    }
    for t in silent {
        assert_eq!(
            t.join().expect("silent client"),
            b"COMMAND READ TIMED OUT\n"
        );
    }
    node.finish("500 slow clients");
}

/// One client keeping every scan thread busy with large files does not keep a second
/// client's small scan waiting behind all of its jobs.
#[test]
fn a_greedy_client_gets_its_share_only() {
    let node = Node::start(&[
        "--scanner-threads",
        "2",
        "--scanner-max-client-jobs",
        "2",
        "--scanner-max-file-size",
        "1G",
        "--scanner-max-scan-size",
        "1G",
    ]);
    let big = node.path("big.bin");
    {
        let f = std::fs::File::create(&big).expect("create");
        f.set_len(256 << 20).expect("set_len");
    }
    // The greedy client: one IDSESSION with 40 scans of a 256 MiB file on TCP.
    let tcp = node.tcp;
    let mut session = b"zIDSESSION\0".to_vec();
    for _ in 0..40 {
        session.extend_from_slice(format!("zSCAN {}\0", big.display()).as_bytes());
    }
    session.extend_from_slice(b"zEND\0");
    let greedy = std::thread::spawn(move || {
        let mut s = TcpStream::connect(tcp).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(600))).ok();
        s.write_all(&session).expect("write");
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).expect("reply");
        reply
    });
    std::thread::sleep(Duration::from_millis(300));
    // Another client (a unix-socket user) is answered while the greedy one still waits.
    let eicar = node.path("eicar.com");
    std::fs::write(&eicar, EICAR).expect("write");
    assert!(scan(&node.socket, &eicar).ends_with(" FOUND"));
    assert!(
        !greedy.is_finished(),
        "the greedy session was too short to show anything"
    );
    let reply = greedy.join().expect("greedy");
    let lines = reply.split(|b| *b == 0).filter(|l| !l.is_empty()).count();
    assert_eq!(lines, 40, "{:?}", String::from_utf8_lossy(&reply));
    node.finish("greedy client");
}
