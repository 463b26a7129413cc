//! c-icap with virus_scan's clamd_mod pointed at Vigil's unix socket (FILDES), driven
//! with ICAP RESPMOD requests over a loopback port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use std::time::Duration;

use common::{EICAR, Vigil, start_cicap};

/// Sends one RESPMOD carrying `body` as an HTTP response and returns the ICAP reply.
fn respmod(port: u16, body: &[u8]) -> String {
    let http = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut request = format!(
        "RESPMOD icap://127.0.0.1:{port}/virus_scan ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\n\
         Encapsulated: res-hdr=0, res-body={}\r\n\r\n{http}{:x}\r\n",
        http.len(),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect c-icap");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream.write_all(&request).expect("send RESPMOD");
    // c-icap keeps the connection alive: read until the reply is complete.
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&reply);
        let done = (text.starts_with("ICAP/1.0 204") && text.contains("\r\n\r\n"))
            || text.contains("\r\n0\r\n\r\n");
        if done {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn respmod_blocks_eicar_and_passes_a_clean_body() {
    let vigil = Vigil::start_with(|a| a.version_product = "ClamAV".into());
    let cicap = start_cicap(&vigil);
    let port = cicap.port;

    let infected = respmod(port, EICAR);
    assert!(infected.starts_with("ICAP/1.0 200 OK\r\n"), "{infected}");
    assert!(
        infected.contains("X-Infection-Found: Type=0; Resolution=2; Threat=Vigil.Test.EICAR;"),
        "{infected}"
    );
    assert!(infected.contains("HTTP/1.0 403 Forbidden"), "{infected}");

    let clean = respmod(port, &b"an ordinary web page body\n".repeat(40));
    assert!(clean.starts_with("ICAP/1.0 204 Unmodified\r\n"), "{clean}");

    // c-icap parsed our VERSION (it builds its ISTag from the rules serial).
    let log = cicap.log();
    assert!(
        !log.contains("Wrong response from clamd"),
        "c-icap rejected VERSION:\n{log}"
    );
    assert!(
        !log.contains("Can not parse response"),
        "c-icap could not parse VERSION:\n{log}"
    );
}

#[test]
fn default_vigil_version_still_scans_through_cicap() {
    let vigil = Vigil::start();
    let cicap = start_cicap(&vigil);
    let port = cicap.port;
    let infected = respmod(port, EICAR);
    assert!(infected.contains("Threat=Vigil.Test.EICAR;"), "{infected}");
    assert!(respmod(port, b"clean body, nothing to see\n").starts_with("ICAP/1.0 204"));
    // What --version-product exists for: c-icap insists on a "ClamAV" prefix.
    let log = cicap.log();
    assert!(
        log.contains("Wrong response from clamd"),
        "expected c-icap to reject the Vigil prefix:\n{log}"
    );
}
