//! c-icap with virus_scan's clamd_mod pointed at Vigil's unix socket (FILDES), driven
//! with ICAP RESPMOD requests over a loopback port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, EICAR, Vigil, free_port, require_tool};

const MODULES_DIR: &str = "/usr/lib/x86_64-linux-gnu/c_icap";

fn cicap_conf(dir: &Path, port: u16, socket: &Path) -> String {
    assert!(
        Path::new(MODULES_DIR).join("clamd_mod.so").exists(),
        "libc-icap-mod-virus-scan is not installed; run scripts/install-test-deps.sh"
    );
    let d = dir.display();
    format!(
        "PidFile {d}/c-icap.pid
CommandsSocket {d}/c-icap.ctl
Port 127.0.0.1:{port}
StartServers 1
MaxServers 1
ThreadsPerChild 4
MinSpareThreads 1
MaxSpareThreads 4
TmpDir {d}
ServerLog {d}/server.log
AccessLog {d}/access.log
DebugLevel 3
ModulesDir {MODULES_DIR}
ServicesDir {MODULES_DIR}
TemplateDir /usr/share/c_icap/templates/
TemplateDefaultLanguage en
LoadMagicFile /etc/c-icap/c-icap.magic
Module common clamd_mod.so
clamd_mod.ClamdSocket {socket}
Service virus_scan virus_scan.so
virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE
virus_scan.DefaultEngine clamd
",
        socket = socket.display()
    )
}

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

fn start_cicap(vigil: &Vigil) -> (Daemon, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let conf = dir.path().join("c-icap.conf");
    std::fs::write(&conf, cicap_conf(dir.path(), port, &vigil.socket)).expect("c-icap.conf");
    let child = Command::new(require_tool("c-icap"))
        .arg("-N")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn c-icap");
    let mut daemon = Daemon(child);
    daemon.wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_ok(), "c-icap");
    (daemon, port, dir)
}

#[test]
fn respmod_blocks_eicar_and_passes_a_clean_body() {
    let vigil = Vigil::start_with(|a| a.version_product = "ClamAV".into());
    let (_cicap, port, dir) = start_cicap(&vigil);

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
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
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
    let (_cicap, port, dir) = start_cicap(&vigil);
    let infected = respmod(port, EICAR);
    assert!(infected.contains("Threat=Vigil.Test.EICAR;"), "{infected}");
    assert!(respmod(port, b"clean body, nothing to see\n").starts_with("ICAP/1.0 204"));
    // What --version-product exists for: c-icap insists on a "ClamAV" prefix.
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        log.contains("Wrong response from clamd"),
        "expected c-icap to reject the Vigil prefix:\n{log}"
    );
}
