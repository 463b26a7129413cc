//! Persistence for Vigil: a document store of JSON objects keyed by (kind, id), the
//! Vscan events table, over a [`Backend`]: SQLite for one node
//! ([`sqlite::SqliteBackend`]), PostgreSQL for a cluster ([`postgres::PostgresBackend`]).
//!
//! [`Store`] is the interface every caller uses, whatever the backend. Reads are served
//! from an in-memory copy of every document, because every REST collection GET filters
//! and sorts whole collections and must not pay for SQL and JSON parsing on each
//! request. Writes go through one writer at a time ([`Store::begin`]): a [`Txn`] sees
//! its own pending writes, commits them through the backend in a single database
//! transaction and only then publishes them in memory, so a failed commit leaves both
//! the database and the memory copy unchanged. A backend shared by several nodes
//! reports what others wrote, and [`Store::invalidate`] brings the copy up to date; a
//! write on a shared backend first catches up with every other node's commits, under a
//! lock that excludes their writers ([`WriteSession`]).

mod backend;
pub mod events;
pub mod migrate;
pub mod postgres;
mod sql;
pub mod sqlite;

pub use backend::{Backend, Change, Invalidation, WriteSession};

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document {kind}/{id} is not valid JSON: {source}")]
    Corrupt {
        kind: String,
        id: String,
        source: serde_json::Error,
    },
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error(
        "the target database is not empty ({documents} documents, {events} events); pass --replace to overwrite it"
    )]
    TargetNotEmpty { documents: usize, events: u64 },
}

impl StoreError {
    /// The database could not be reached (connection refused or lost, pool exhausted
    /// waiting for one): the operation may succeed if retried later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
            )
        )
    }
}

/// Reading documents of a kind the same way from the store and from inside a write
/// transaction (which sees its own pending writes), so that rules checked before a
/// write and rules applied after it read one model.
pub trait Documents {
    fn documents(&self, kind: &str) -> Vec<Value>;
}

impl Documents for Store {
    fn documents(&self, kind: &str) -> Vec<Value> {
        self.list(kind).into_iter().map(|v| (*v).clone()).collect()
    }
}

impl Documents for Txn<'_> {
    fn documents(&self, kind: &str) -> Vec<Value> {
        self.list(kind).into_iter().map(|(_, v)| v).collect()
    }
}

type Docs = HashMap<String, BTreeMap<String, Arc<Value>>>;

pub struct Store {
    backend: Arc<dyn Backend>,
    docs: RwLock<Docs>,
    writer: Mutex<()>,
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH`, `postgres://...`), creating and
    /// migrating it if needed. On PostgreSQL the store then follows what other nodes
    /// commit, for as long as it lives.
    pub async fn open(url: &str) -> Result<Arc<Store>, StoreError> {
        let store = Store::over(open_backend(url).await?).await?;
        Store::follow(&store);
        Ok(store)
    }

    /// `sqlite` or `postgresql`.
    pub fn engine(&self) -> &'static str {
        self.backend.engine()
    }

    /// Applies other nodes' commits as the backend announces them. The task holds only
    /// a weak reference, so it ends with the store.
    pub fn follow(store: &Arc<Store>) {
        let weak = Arc::downgrade(store);
        let backend = Arc::clone(&store.backend);
        tokio::spawn(async move {
            while backend.wait_for_others().await.is_some() {
                let Some(store) = weak.upgrade() else { break };
                let _writer = store.writer.lock().await;
                if let Err(e) = store.catch_up().await {
                    tracing::warn!(error = %e, "catching up with other nodes' commits failed; will retry");
                }
            }
        });
    }

    /// Reloads what other nodes changed; the caller holds the writer lock.
    async fn catch_up(&self) -> Result<(), StoreError> {
        if let Some((stale, token)) = self.backend.changes_by_others().await? {
            for what in stale {
                self.reload(what).await?;
            }
            self.backend.caught_up_to(token);
        }
        Ok(())
    }

    /// A store over an opened backend: loads every document into memory.
    pub async fn over(backend: Arc<dyn Backend>) -> Result<Arc<Store>, StoreError> {
        let docs = load_all(&*backend).await?;
        Ok(Arc::new(Store {
            backend,
            docs: RwLock::new(docs),
            writer: Mutex::new(()),
        }))
    }

    /// The SQLite URL of a database file.
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    /// Brings the in-memory copy up to date with a change another writer made to the
    /// shared backend. Waits for this node's own writer, so a commit in progress
    /// publishes first and is then overwritten only by what the backend holds.
    pub async fn invalidate(&self, what: Invalidation) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        self.reload(what).await
    }

    async fn reload(&self, what: Invalidation) -> Result<(), StoreError> {
        match what {
            Invalidation::Document { kind, id } => {
                let value = self.backend.load_document(&kind, &id).await?;
                let mut docs = self.docs.write().unwrap_or_else(|e| e.into_inner());
                let map = docs.entry(kind).or_default();
                match value {
                    Some(v) => map.insert(id, Arc::new(v)),
                    None => map.remove(&id),
                };
            }
            Invalidation::Everything => {
                let fresh = load_all(&*self.backend).await?;
                *self.docs.write().unwrap_or_else(|e| e.into_inner()) = fresh;
            }
        }
        Ok(())
    }

    pub fn get(&self, kind: &str, id: &str) -> Option<Arc<Value>> {
        let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
        docs.get(kind).and_then(|m| m.get(id)).cloned()
    }

    /// All documents of `kind`, ordered by id, each with the document of `other` under
    /// the same id if there is one (per-SVM data kept under the SVM's uuid). One pass
    /// over both, under one lock, instead of a lookup per document.
    pub fn list_with(&self, kind: &str, other: &str) -> Vec<(Arc<Value>, Option<Arc<Value>>)> {
        let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
        let Some(main) = docs.get(kind) else {
            return Vec::new();
        };
        let mut others = docs.get(other).into_iter().flatten().peekable();
        main.iter()
            .map(|(id, doc)| {
                while others.next_if(|(o, _)| *o < id).is_some() {}
                let joined = others
                    .next_if(|(o, _)| *o == id)
                    .map(|(_, d)| Arc::clone(d));
                (Arc::clone(doc), joined)
            })
            .collect()
    }

    /// All documents of a kind, ordered by id.
    pub fn list(&self, kind: &str) -> Vec<Arc<Value>> {
        let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
        docs.get(kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn count(&self, kind: &str) -> usize {
        let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
        docs.get(kind).map_or(0, |m| m.len())
    }

    /// Starts a write transaction. Only one is open at a time, in this process and,
    /// on a shared backend, in the cluster, and it reads documents that include every
    /// other node's commits, so checks made inside it (uniqueness, "at most one
    /// enabled") hold when it commits. When the database cannot be reached the
    /// transaction still reads this node's copy, and its commit fails with the error.
    pub async fn begin(&self) -> Txn<'_> {
        let writer = self.writer.lock().await;
        let session = self.open_session().await;
        Txn {
            store: self,
            _writer: writer,
            session,
            pending: BTreeMap::new(),
        }
    }

    async fn open_session(&self) -> Result<Box<dyn WriteSession>, StoreError> {
        let mut session = self.backend.begin_write().await?;
        for what in session.stale().to_vec() {
            self.reload(what).await?;
        }
        session.caught_up();
        Ok(session)
    }
}

pub struct Txn<'a> {
    store: &'a Store,
    _writer: MutexGuard<'a, ()>,
    session: Result<Box<dyn WriteSession>, StoreError>,
    pending: BTreeMap<(String, String), Option<Value>>,
}

impl Txn<'_> {
    pub fn get(&self, kind: &str, id: &str) -> Option<Value> {
        match self.pending.get(&(kind.to_string(), id.to_string())) {
            Some(pending) => pending.clone(),
            None => self.store.get(kind, id).map(|v| (*v).clone()),
        }
    }

    /// All documents of a kind as this transaction sees them, ordered by id.
    pub fn list(&self, kind: &str) -> Vec<(String, Value)> {
        let mut merged: BTreeMap<String, Value> = {
            let docs = self.store.docs.read().unwrap_or_else(|e| e.into_inner());
            docs.get(kind)
                .map(|m| {
                    m.iter()
                        .map(|(id, v)| (id.clone(), (**v).clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        for ((k, id), value) in &self.pending {
            if k == kind {
                match value {
                    Some(v) => merged.insert(id.clone(), v.clone()),
                    None => merged.remove(id),
                };
            }
        }
        merged.into_iter().collect()
    }

    pub fn put(&mut self, kind: &str, id: &str, value: Value) {
        self.pending
            .insert((kind.to_string(), id.to_string()), Some(value));
    }

    pub fn delete(&mut self, kind: &str, id: &str) {
        self.pending
            .insert((kind.to_string(), id.to_string()), None);
    }

    /// Deletes every document of a kind that `doomed(id, document)` picks; returns how
    /// many went.
    pub fn delete_where(&mut self, kind: &str, doomed: impl Fn(&str, &Value) -> bool) -> usize {
        let ids: Vec<String> = self
            .list(kind)
            .into_iter()
            .filter(|(id, doc)| doomed(id, doc))
            .map(|(id, _)| id)
            .collect();
        for id in &ids {
            self.delete(kind, id);
        }
        ids.len()
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let changes: Vec<Change> = self
            .pending
            .into_iter()
            .map(|((kind, id), value)| Change { kind, id, value })
            .collect();
        self.session?.commit(&changes).await?;
        let mut docs = self.store.docs.write().unwrap_or_else(|e| e.into_inner());
        for change in changes {
            let map = docs.entry(change.kind).or_default();
            match change.value {
                Some(v) => {
                    map.insert(change.id, Arc::new(v));
                }
                None => {
                    map.remove(&change.id);
                }
            }
        }
        Ok(())
    }
}

/// The backend a URL names, opened and migrated.
pub async fn open_backend(url: &str) -> Result<Arc<dyn Backend>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteBackend::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PostgresBackend::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

async fn load_all(backend: &dyn Backend) -> Result<Docs, StoreError> {
    let mut docs: Docs = HashMap::new();
    for (kind, id, value) in backend.load_documents().await? {
        docs.entry(kind).or_default().insert(id, Arc::new(value));
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Two stores over one database file stand for two nodes on a shared backend: what
    /// one commits, the other sees once invalidated, one document or everything.
    #[tokio::test]
    async fn invalidation_brings_another_writers_commits_in() {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(&dir.path().join("db.sqlite"));
        let a = Store::open(&url).await.unwrap();
        let b = Store::open(&url).await.unwrap();
        let mut txn = a.begin().await;
        txn.put("svm", "x", json!({"name": "x"}));
        txn.put("svm", "y", json!({"name": "y"}));
        txn.commit().await.unwrap();
        assert!(b.get("svm", "x").is_none(), "b has not been told yet");
        b.invalidate(Invalidation::Document {
            kind: "svm".into(),
            id: "x".into(),
        })
        .await
        .unwrap();
        assert_eq!(b.get("svm", "x").unwrap()["name"], "x");
        assert!(b.get("svm", "y").is_none());
        let mut txn = a.begin().await;
        txn.delete("svm", "x");
        txn.commit().await.unwrap();
        b.invalidate(Invalidation::Everything).await.unwrap();
        assert!(b.get("svm", "x").is_none());
        assert_eq!(b.get("svm", "y").unwrap()["name"], "y");
        b.invalidate(Invalidation::Document {
            kind: "svm".into(),
            id: "never".into(),
        })
        .await
        .unwrap();
        assert_eq!(b.count("svm"), 1);
    }

    #[tokio::test]
    async fn list_with_joins_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::sqlite_url(&dir.path().join("db.sqlite")))
            .await
            .unwrap();
        let mut txn = store.begin().await;
        for id in ["a", "b", "d"] {
            txn.put("svm", id, json!({"name": id}));
        }
        for id in ["0", "b", "c", "d", "e"] {
            txn.put("device", id, json!({"of": id}));
        }
        txn.commit().await.unwrap();
        let joined: Vec<_> = store
            .list_with("svm", "device")
            .into_iter()
            .map(|(doc, other)| (doc["name"].clone(), other.map(|o| o["of"].clone())))
            .collect();
        assert_eq!(
            joined,
            vec![
                (json!("a"), None),
                (json!("b"), Some(json!("b"))),
                (json!("d"), Some(json!("d"))),
            ]
        );
        assert!(store.list_with("none", "device").is_empty());
        assert_eq!(store.list_with("svm", "none").len(), 3);
    }
}
