//! Per-client shares of the worker pool.
//!
//! The pool's queue is first come, first served: one client pipelining FILDES on many
//! connections, or sending huge files, would fill it and every other client would wait
//! behind it. Each client (a TCP peer address, a unix-socket peer uid) may have at most
//! `max_client_jobs` scan jobs queued or running at once across all its connections;
//! further jobs of that client wait for one of its own to finish, while other clients'
//! jobs go ahead. A client is forgotten when its last connection closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::engine::{Mode, Scanning};
use crate::pool::{Pool, PoolClosed};
use crate::verdict::Scanned;

pub struct Clients {
    per_client: usize,
    open: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One connection's hold on its client's share.
pub struct Client {
    key: String,
    slots: Arc<Semaphore>,
    clients: Arc<Clients>,
}

impl Clients {
    pub fn new(per_client: usize) -> Arc<Clients> {
        Arc::new(Clients {
            per_client: per_client.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        // The map only holds semaphores: a panic elsewhere cannot leave it inconsistent.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The share of the client `key` (created on its first connection).
    pub fn admit(self: &Arc<Self>, key: String) -> Client {
        let slots = self
            .lock()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_client)))
            .clone();
        Client {
            key,
            slots,
            clients: Arc::clone(self),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let mut open = self.clients.lock();
        // The map's reference and this one: no other connection of the client is open.
        if Arc::strong_count(&self.slots) == 2 {
            open.remove(&self.key);
        }
    }
}

impl Client {
    /// The semaphore this client's jobs take a slot of (cheap to clone into tasks).
    pub fn slots(&self) -> Arc<Semaphore> {
        Arc::clone(&self.slots)
    }
}

/// Runs `f` on the pool once the client owning `slots` has a free one.
pub async fn run<T, F>(
    slots: &Semaphore,
    pool: &Pool,
    description: String,
    f: F,
) -> Result<T, PoolClosed>
where
    T: Send + 'static,
    F: for<'r> FnOnce(&mut Scanning<'r>) -> T + Send + 'static,
{
    let _slot = slots.acquire().await.map_err(|_| PoolClosed)?;
    pool.run(description, f).await
}

/// Scans `file` on the pool (batched with other waiting files) once the client owning
/// `slots` has a free one.
pub async fn scan_file(
    slots: &Semaphore,
    pool: &Pool,
    description: String,
    file: std::fs::File,
    mode: Mode,
) -> Result<Scanned, PoolClosed> {
    let _slot = slots.acquire().await.map_err(|_| PoolClosed)?;
    pool.scan_file(description, file, mode).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_forgotten_with_its_last_connection() {
        let clients = Clients::new(2);
        let a = clients.admit("10.0.0.1".into());
        let b = clients.admit("10.0.0.1".into());
        assert!(Arc::ptr_eq(&a.slots, &b.slots));
        drop(a);
        assert_eq!(clients.lock().len(), 1);
        drop(b);
        assert!(clients.lock().is_empty());
    }
}
