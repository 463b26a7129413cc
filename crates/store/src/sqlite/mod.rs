//! The SQLite backend: one database file, WAL journal, the schema in `migrations/`.

mod events;

use std::str::FromStr;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::backend::{Backend, Change, Invalidation, WriteSession};
use crate::events::{EventQuery, NewEvent, StoredEvent};
use crate::{StoreError, sql};

pub struct SqliteBackend {
    pool: SqlitePool,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at a `sqlite:` URL and runs the
    /// migrations.
    pub async fn open(url: &str) -> Result<SqliteBackend, StoreError> {
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
        Ok(SqliteBackend { pool })
    }
}

/// SQLite is one node's file: its only writers are this process's, which the store
/// already serialises, so a write session is just the database transaction.
struct SqliteWrite {
    pool: SqlitePool,
}

#[async_trait]
impl WriteSession for SqliteWrite {
    fn stale(&self) -> &[Invalidation] {
        &[]
    }

    fn caught_up(&mut self) {}

    async fn commit(self: Box<Self>, changes: &[Change]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sql::apply_changes::<Sqlite>(&mut tx, changes).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn load_documents(&self) -> Result<Vec<(String, String, Value)>, StoreError> {
        sql::load_documents(&self.pool).await
    }

    async fn load_document(&self, kind: &str, id: &str) -> Result<Option<Value>, StoreError> {
        sql::load_document(&self.pool, kind, id).await
    }

    async fn begin_write(&self) -> Result<Box<dyn WriteSession>, StoreError> {
        Ok(Box::new(SqliteWrite {
            pool: self.pool.clone(),
        }))
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
        events::append(&self.pool, events).await
    }

    async fn update_event(&self, seq: i64, time: &str, body: &Value) -> Result<(), StoreError> {
        sql::update_event(&self.pool, seq, time, body).await
    }

    async fn query_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        events::query(&self.pool, query).await
    }

    async fn trim_events(&self, keep: u64, older_than: Option<&str>) -> Result<u64, StoreError> {
        sql::trim_events(&self.pool, keep, older_than).await
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        sql::count_events(&self.pool).await
    }

    fn engine(&self) -> &'static str {
        "sqlite"
    }
}
