//! The real peers for the ICAP client tests: Debian's clamd with a private EICAR
//! database, and c-icap with virus_scan's clamd_mod pointed at it (both from `testkit`).
#![allow(dead_code)]

#[allow(unused_imports)]
pub use testkit::{CLAMD_EICAR_NAME as EICAR_NAME, EICAR, free_port};
use testkit::{Cicap, RealClamd};

/// clamd + c-icap, both on private sockets and ports.
pub struct Peers {
    /// c-icap's directory: its logs, and room for test files.
    pub dir: std::path::PathBuf,
    pub port: u16,
    cicap: Cicap,
    _clamd: RealClamd,
}

impl Peers {
    pub fn start() -> Peers {
        // Large bodies go whole to clamd: the tests stream tens of MiB.
        let clamd =
            RealClamd::start_with("StreamMaxLength 64M\nMaxScanSize 64M\nMaxFileSize 64M\n");
        let cicap = Cicap::start(&clamd.socket, 1);
        Peers {
            dir: cicap.dir.path().to_path_buf(),
            port: cicap.port,
            cicap,
            _clamd: clamd,
        }
    }

    /// (Re)starts c-icap on `self.port`.
    pub fn start_cicap(&mut self) {
        self.cicap.restart();
    }

    /// Stops c-icap and waits until its port refuses connections.
    pub fn stop_cicap(&mut self) {
        self.cicap.stop();
    }

    pub fn log(&self) -> String {
        self.cicap.log()
    }
}
