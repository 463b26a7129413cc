//! Persistence for Vigil: a document store of JSON objects keyed by (kind, id).
//!
//! Reads are served from an in-memory copy loaded at start, because every REST
//! collection GET filters and sorts whole collections and must not pay for SQL and
//! JSON parsing on each request. Writes go through one writer at a time
//! ([`Store::begin`]): a [`Txn`] sees its own pending writes, commits them to the
//! database in a single SQL transaction and only then publishes them in memory, so a
//! failed commit leaves both the database and the memory copy unchanged.

pub mod events;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
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
    #[error("unsupported database URL {0:?}: this build supports sqlite:// URLs")]
    UnsupportedUrl(String),
}

type Docs = HashMap<String, BTreeMap<String, Arc<Value>>>;

pub struct Store {
    pool: SqlitePool,
    docs: RwLock<Docs>,
    writer: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs the migrations.
    pub async fn open(url: &str) -> Result<Arc<Store>, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable across process crashes; only an OS crash can lose
            // the last commits, which is the trade-off SQLite documents for WAL.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let mut docs: Docs = HashMap::new();
        for row in sqlx::query("SELECT kind, id, body FROM docs")
            .fetch_all(&pool)
            .await?
        {
            let kind: String = row.try_get("kind")?;
            let id: String = row.try_get("id")?;
            let body: String = row.try_get("body")?;
            let value = serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
                kind: kind.clone(),
                id: id.clone(),
                source,
            })?;
            docs.entry(kind).or_default().insert(id, Arc::new(value));
        }
        Ok(Arc::new(Store {
            pool,
            docs: RwLock::new(docs),
            writer: Mutex::new(()),
        }))
    }

    /// The SQLite URL of a database file.
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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

    /// Starts a write transaction. Only one is open at a time, so checks made inside
    /// it (uniqueness, "at most one enabled") hold when it commits.
    pub async fn begin(&self) -> Txn<'_> {
        Txn {
            store: self,
            _writer: self.writer.lock().await,
            pending: BTreeMap::new(),
        }
    }
}

pub struct Txn<'a> {
    store: &'a Store,
    _writer: MutexGuard<'a, ()>,
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
        let mut tx = self.store.pool.begin().await?;
        for ((kind, id), value) in &self.pending {
            match value {
                Some(v) => {
                    sqlx::query(
                        "INSERT INTO docs (kind, id, body) VALUES ($1, $2, $3) \
                         ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                    )
                    .bind(kind)
                    .bind(id)
                    .bind(v.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM docs WHERE kind = $1 AND id = $2")
                        .bind(kind)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        let mut docs = self.store.docs.write().unwrap_or_else(|e| e.into_inner());
        for ((kind, id), value) in self.pending {
            let map = docs.entry(kind).or_default();
            match value {
                Some(v) => {
                    map.insert(id, Arc::new(v));
                }
                None => {
                    map.remove(&id);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn commits_survive_reopen_and_rollback_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(&dir.path().join("db.sqlite"));
        {
            let store = Store::open(&url).await.unwrap();
            let mut txn = store.begin().await;
            txn.put("svm", "a", json!({"name": "a"}));
            txn.put("svm", "b", json!({"name": "b"}));
            assert_eq!(txn.list("svm").len(), 2);
            txn.commit().await.unwrap();
            let mut txn = store.begin().await;
            txn.put("svm", "c", json!({"name": "c"}));
            txn.delete("svm", "a");
            drop(txn); // not committed
            assert_eq!(store.count("svm"), 2);
            let mut txn = store.begin().await;
            txn.delete("svm", "a");
            txn.commit().await.unwrap();
        }
        let store = Store::open(&url).await.unwrap();
        let names: Vec<_> = store
            .list("svm")
            .iter()
            .map(|v| v["name"].clone())
            .collect();
        assert_eq!(names, vec![json!("b")]);
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
