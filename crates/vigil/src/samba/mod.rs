//! The Samba on-access door: for every running SVM with Vscan enabled, a
//! clamd-protocol unix socket `<data-dir>/samba/<svm-name>.sock` that Samba's
//! `vfs_virusfilter` (`virusfilter:scanner = clamav`) asks before smbd lets a client
//! open a file, and after it closes one.
//!
//! Pieces, each in its own file:
//! - [`paths`]: the path Samba names, located inside the SVM namespace root (or
//!   refused);
//! - [`connection`]: one client connection, clamd framing in, the on-access decision
//!   out as `OK` / `FOUND` / `ERROR`;
//! - here: which sockets exist, kept in line with the configuration.
//!
//! The door holds the on-access decision service and the store, nothing above them:
//! what is scanned, the cache, the pools, `mandatory`, remediation, events and the
//! `ACTIVE` record are all [`OnAccess::check`]'s. Remediation is Vigil's, once: the
//! share keeps `virusfilter:infected file action = nothing`.
//!
//! Sockets follow the configuration every [`RECONCILE_EVERY`]: one appears when Vscan
//! is enabled on a running SVM with a namespace root, and goes away (file included)
//! when Vscan is disabled, the SVM stops or is deleted; a rename or a new root binds
//! the socket again under its new name.

pub mod connection;
pub mod paths;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::Store;
use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::namespace::Namespace;
use crate::scanning::on_access::OnAccess;
use crate::state::SVM_KIND;
use connection::Svm;

/// How often the configuration is compared with the sockets.
const RECONCILE_EVERY: Duration = Duration::from_millis(500);
/// Connections served at once per door; beyond, new ones wait in the listen backlog
/// (back-pressure on smbd) instead of piling up in Vigil.
const MAX_CONNECTIONS: usize = 256;
/// smbd connects as root (vfs_virusfilter becomes root around the connect), so
/// nobody else needs to reach the socket: a verdict on any file of the SVM is not for
/// every local user to ask.
const SOCKET_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// The directory of the sockets under a data directory.
pub fn socket_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("samba")
}

/// The socket of an SVM, as `virusfilter:socket path` names it.
pub fn socket_path(data_dir: &Path, svm_name: &str) -> PathBuf {
    socket_dir(data_dir).join(format!("{svm_name}.sock"))
}

/// What one socket is for: its SVM, name and root. A change of any is a new socket.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    name: String,
    root: PathBuf,
}

struct Served {
    wanted: Wanted,
    socket: PathBuf,
    task: JoinHandle<()>,
}

pub struct Door {
    store: Arc<Store>,
    on_access: Arc<OnAccess>,
    data_dir: PathBuf,
    served: Mutex<BTreeMap<String, Served>>,
    connections: Arc<Semaphore>,
}

impl Door {
    /// Starts following the configuration. Needs a Tokio runtime.
    pub fn start(store: Arc<Store>, on_access: Arc<OnAccess>, data_dir: &Path) -> Arc<Door> {
        let door = Arc::new(Door {
            store,
            on_access,
            data_dir: data_dir.to_path_buf(),
            served: Mutex::new(BTreeMap::new()),
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        });
        let me = Arc::clone(&door);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECONCILE_EVERY);
            let mut warned = BTreeSet::new();
            loop {
                tick.tick().await;
                me.reconcile(&mut warned);
            }
        });
        door
    }

    /// Stops serving and removes the socket files (at shutdown).
    pub fn close(&self) {
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        for (_, s) in std::mem::take(&mut *served) {
            unbind(s);
        }
    }

    /// The sockets served now, by SVM uuid.
    pub fn sockets(&self) -> BTreeMap<String, PathBuf> {
        let served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        served
            .iter()
            .map(|(svm, s)| (svm.clone(), s.socket.clone()))
            .collect()
    }

    /// The SVMs that should have a socket. `warned` keeps a refusal from being
    /// logged every round.
    fn wanted(&self, warned: &mut BTreeSet<String>) -> BTreeMap<String, Wanted> {
        let mut out = BTreeMap::new();
        let vscan = self.on_access.snapshot();
        for svm in self.store.list(SVM_KIND) {
            let Some(uuid) = svm["uuid"].as_str() else {
                continue;
            };
            let running = svm["state"].as_str().is_none_or(|s| s == "running");
            let Some(root) = svm["root_path"].as_str() else {
                continue;
            };
            if !running || !vscan.enabled(uuid) {
                continue;
            }
            let name = svm["name"].as_str().unwrap_or_default();
            let problem = if !usable_name(name) {
                Some(format!("the SVM name {name:?} cannot name a socket file"))
            } else {
                match Namespace::new(Path::new(root)) {
                    Ok(ns) => {
                        out.insert(
                            uuid.to_string(),
                            Wanted {
                                name: name.to_string(),
                                root: ns.root().to_path_buf(),
                            },
                        );
                        None
                    }
                    Err(e) => Some(format!("the namespace root {root} is unusable: {e}")),
                }
            };
            if let Some(problem) = problem
                && warned.insert(format!("{uuid} {problem}"))
            {
                tracing::warn!(svm = uuid, %problem, "no Samba socket for the SVM");
            }
        }
        out
    }

    fn reconcile(&self, warned: &mut BTreeSet<String>) {
        let wanted = self.wanted(warned);
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        let stale: Vec<String> = served
            .iter()
            .filter(|(svm, s)| wanted.get(*svm) != Some(&s.wanted) || s.task.is_finished())
            .map(|(svm, _)| svm.clone())
            .collect();
        for svm in stale {
            if let Some(s) = served.remove(&svm) {
                tracing::info!(svm, socket = %s.socket.display(), "Samba socket closed");
                unbind(s);
            }
        }
        for (svm, w) in wanted {
            if served.contains_key(&svm) {
                continue;
            }
            let socket = socket_path(&self.data_dir, &w.name);
            match bind(&socket) {
                Ok(listener) => {
                    warned.retain(|k| !k.starts_with(&svm));
                    tracing::info!(svm, socket = %socket.display(), "Samba socket open");
                    let target = Arc::new(Svm {
                        uuid: svm.clone(),
                        root: w.root.clone(),
                    });
                    let task = tokio::spawn(accept_loop(
                        listener,
                        target,
                        Arc::clone(&self.on_access),
                        Arc::clone(&self.connections),
                    ));
                    served.insert(
                        svm,
                        Served {
                            wanted: w,
                            socket,
                            task,
                        },
                    );
                }
                Err(e) => {
                    if warned.insert(format!("{svm} bind {e}")) {
                        tracing::error!(svm, socket = %socket.display(), error = %e, "cannot open the Samba socket");
                    }
                }
            }
        }
    }
}

/// A name is a socket file name when it is one path component.
fn usable_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
    }
    // A socket left by a previous run would make bind fail; anything else at that path
    // is not ours to delete.
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
    Ok(listener)
}

fn unbind(served: Served) {
    served.task.abort();
    let _ = std::fs::remove_file(&served.socket);
}

async fn accept_loop(
    listener: UnixListener,
    svm: Arc<Svm>,
    on_access: Arc<OnAccess>,
    connections: Arc<Semaphore>,
) {
    loop {
        let Ok(permit) = Arc::clone(&connections).acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let svm = Arc::clone(&svm);
                let on_access = Arc::clone(&on_access);
                tokio::spawn(async move {
                    connection::serve(stream, svm, on_access).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of descriptors and similar: back off instead of spinning.
                tracing::warn!(svm = %svm.uuid, error = %e, "Samba socket: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_components_name_sockets() {
        assert!(usable_name("svm1"));
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(!usable_name(bad), "{bad:?}");
        }
    }
}
