//! The S3 listeners: one HTTP and/or one HTTPS listener per SVM whose S3 server is
//! enabled, on the record's `port`/`secure_port` plus the configured offset (so a
//! non-root node, or a test, serves ONTAP's default ports 80/443 at 20080/20443).
//!
//! [`Listeners::apply`] makes one SVM's listeners what its record asks for: listeners
//! that stay the same keep running, new ones are bound before it returns (a port in
//! use is an error the caller reports), the rest stop.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::error_handling::HandleError;
use axum::http::StatusCode;
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use s3s::service::S3ServiceBuilder;
use store::Store;

use super::authorize::Authorizer;
use super::door::{Door, KeyAuth};
use super::hooks::S3Hooks;
use super::secrets::Sealer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Http,
    Https,
}

impl Proto {
    pub fn scheme(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Https => "https",
        }
    }
}

/// A listener a service record asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub proto: Proto,
    /// The port in the record, before the offset.
    pub port: u16,
}

struct Running {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
}

pub struct Listeners {
    store: Arc<Store>,
    sealer: Arc<Sealer>,
    hooks: Arc<dyn S3Hooks>,
    tls: Option<RustlsConfig>,
    address: IpAddr,
    offset: u16,
    running: Mutex<HashMap<(String, Proto), Running>>,
}

impl Listeners {
    pub fn new(
        store: Arc<Store>,
        sealer: Arc<Sealer>,
        hooks: Arc<dyn S3Hooks>,
        tls: Option<RustlsConfig>,
        address: IpAddr,
        offset: u16,
    ) -> Listeners {
        Listeners {
            store,
            sealer,
            hooks,
            tls,
            address,
            offset,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Where an endpoint listens.
    pub fn address_of(&self, endpoint: Endpoint) -> Result<SocketAddr, String> {
        let port = endpoint.port.checked_add(self.offset).ok_or_else(|| {
            format!(
                "port {} plus the S3 port offset {} is above 65535",
                endpoint.port, self.offset
            )
        })?;
        Ok(SocketAddr::new(self.address, port))
    }

    /// Makes the SVM's listeners exactly `wanted`. On an error, listeners already
    /// running stay as they were.
    pub fn apply(
        &self,
        svm_uuid: &str,
        svm_root: &Path,
        wanted: &[Endpoint],
    ) -> Result<(), String> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mut started = Vec::new();
        for endpoint in wanted {
            let addr = self.address_of(*endpoint)?;
            let slot = (svm_uuid.to_string(), endpoint.proto);
            if running.get(&slot).is_some_and(|r| r.addr == addr) {
                continue;
            }
            match self.start(svm_uuid, svm_root, endpoint.proto, addr) {
                Ok(r) => started.push((slot, r)),
                Err(e) => {
                    for (_, r) in started {
                        r.handle.shutdown();
                    }
                    return Err(e);
                }
            }
        }
        for (slot, r) in started {
            if let Some(old) = running.insert(slot, r) {
                old.handle.graceful_shutdown(Some(Duration::from_secs(10)));
            }
        }
        running.retain(|(svm, proto), r| {
            let keep = svm != svm_uuid || wanted.iter().any(|e| e.proto == *proto);
            if !keep {
                r.handle.graceful_shutdown(Some(Duration::from_secs(10)));
            }
            keep
        });
        Ok(())
    }

    fn start(
        &self,
        svm_uuid: &str,
        svm_root: &Path,
        proto: Proto,
        addr: SocketAddr,
    ) -> Result<Running, String> {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| {
            format!(
                "cannot listen on {addr} for S3 over {}: {e}",
                proto.scheme()
            )
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let mut builder = S3ServiceBuilder::new(Door {
            store: Arc::clone(&self.store),
            svm_uuid: svm_uuid.to_string(),
            svm_root: svm_root.to_path_buf(),
            hooks: Arc::clone(&self.hooks),
        });
        builder.set_auth(KeyAuth {
            store: Arc::clone(&self.store),
            svm_uuid: svm_uuid.to_string(),
            sealer: Arc::clone(&self.sealer),
        });
        builder.set_access(Authorizer {
            store: Arc::clone(&self.store),
            svm_uuid: svm_uuid.to_string(),
            hooks: Arc::clone(&self.hooks),
        });
        let service = HandleError::new(builder.build(), |e: s3s::HttpError| async move {
            tracing::error!(error = ?e, "s3 request failed below the protocol layer");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        });
        let app = axum::Router::new()
            .fallback_service(service)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&self.hooks),
                super::trail::layer,
            ))
            .into_make_service_with_connect_info::<SocketAddr>();
        let handle = Handle::new();
        let serving = handle.clone();
        let bound = listener.local_addr().unwrap_or(addr);
        match proto {
            Proto::Http => {
                // S3 answers are often one small write: without NODELAY, Nagle's
                // algorithm holds it back for the client's delayed ACK.
                let server = axum_server::from_tcp(listener)
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?
                    .acceptor(NoDelayAcceptor::new());
                tokio::spawn(async move {
                    if let Err(e) = server.handle(serving).serve(app).await {
                        tracing::error!(error = %e, %bound, "S3 listener stopped");
                    }
                });
            }
            Proto::Https => {
                let tls = self.tls.clone().ok_or_else(|| {
                    "no TLS certificate is available for S3 over https".to_string()
                })?;
                let server = axum_server::from_tcp(listener)
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?
                    .acceptor(RustlsAcceptor::new(tls).acceptor(NoDelayAcceptor::new()));
                tokio::spawn(async move {
                    if let Err(e) = server.handle(serving).serve(app).await {
                        tracing::error!(error = %e, %bound, "S3 listener stopped");
                    }
                });
            }
        }
        // Tests and scripts read this line to learn where an SVM's S3 server is.
        eprintln!(
            "vigil: s3 for svm {svm_uuid} listening on {}://{bound}",
            proto.scheme()
        );
        tracing::info!(svm_uuid, %bound, scheme = proto.scheme(), "S3 listening");
        Ok(Running { addr, handle })
    }

    /// Stops every listener of the SVM.
    pub fn stop_svm(&self, svm_uuid: &str) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|(svm, _), r| {
            let keep = svm != svm_uuid;
            if !keep {
                r.handle.graceful_shutdown(Some(Duration::from_secs(10)));
            }
            keep
        });
    }

    pub fn shutdown(&self) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for r in running.values() {
            r.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        }
    }
}
