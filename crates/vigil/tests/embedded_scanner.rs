//! `vigil serve` embeds the clamd-protocol scanner: reachable on its unix socket and
//! detecting the EICAR test file with the built-in rules.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::Server;

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn request(socket: &std::path::Path, command: &[u8]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match UnixStream::connect(socket) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("embedded scanner socket {}: {e}", socket.display()),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(command).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn serve_embeds_the_scanner() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("scan.sock");
    let socket_arg = socket.display().to_string();
    let _server = Server::start_with(
        &dir.path().join("data"),
        false,
        &["--scanner-socket", &socket_arg],
    );
    assert_eq!(request(&socket, b"zPING\0"), "PONG\0");
    let file = dir.path().join("eicar.com");
    std::fs::write(&file, EICAR).unwrap();
    let mut cmd = format!("zSCAN {}\0", file.display()).into_bytes();
    let reply = request(&socket, &cmd);
    assert!(
        reply.starts_with(&format!("{}: ", file.display())) && reply.ends_with(" FOUND\0"),
        "{reply:?}"
    );
    std::fs::write(&file, b"clean").unwrap();
    cmd = format!("zSCAN {}\0", file.display()).into_bytes();
    assert_eq!(request(&socket, &cmd), format!("{}: OK\0", file.display()));
}
