//! The PostgreSQL backend, for a cluster of nodes on one database: the schema in
//! `migrations-postgres/`, writes serialised across nodes by a transaction-scoped
//! advisory lock, and every commit numbered so that each node can reload exactly
//! what the others changed ([`changes`]).

mod changes;
mod events;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::backend::{Backend, Change, Invalidation, WriteSession};
use crate::events::{EventQuery, NewEvent, StoredEvent};
use crate::{StoreError, sql};

use changes::Follower;

/// The advisory lock every node's writers take (an arbitrary constant: "VIGL").
const WRITE_LOCK: i64 = 0x5649_474c;

pub struct PostgresBackend {
    pool: PgPool,
    /// The newest revision this node's document copy includes.
    applied: Arc<AtomicI64>,
    follower: Follower,
}

impl PostgresBackend {
    /// Connects and runs the migrations. A database migrated by a newer Vigil (a
    /// migration this binary does not know) is refused.
    pub async fn open(url: &str) -> Result<PostgresBackend, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations-postgres").run(&pool).await?;
        let applied = changes::current_revision(&pool).await?;
        let follower = Follower::start(&pool).await?;
        Ok(PostgresBackend {
            pool,
            applied: Arc::new(AtomicI64::new(applied)),
            follower,
        })
    }
}

struct PostgresWrite {
    tx: Transaction<'static, Postgres>,
    revision: i64,
    stale: Vec<Invalidation>,
    applied: Arc<AtomicI64>,
}

#[async_trait]
impl WriteSession for PostgresWrite {
    fn stale(&self) -> &[Invalidation] {
        &self.stale
    }

    fn caught_up(&mut self) {
        self.applied.fetch_max(self.revision, Ordering::SeqCst);
        self.stale.clear();
    }

    async fn commit(mut self: Box<Self>, changes: &[Change]) -> Result<(), StoreError> {
        sql::apply_changes::<Postgres>(&mut self.tx, changes).await?;
        let revision = self.revision + 1;
        changes::record(&mut self.tx, revision, changes).await?;
        self.tx.commit().await?;
        self.applied.fetch_max(revision, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn load_documents(&self) -> Result<Vec<(String, String, Value)>, StoreError> {
        sql::load_documents(&self.pool).await
    }

    async fn load_document(&self, kind: &str, id: &str) -> Result<Option<Value>, StoreError> {
        sql::load_document(&self.pool, kind, id).await
    }

    async fn begin_write(&self) -> Result<Box<dyn WriteSession>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        let since = self.applied.load(Ordering::SeqCst);
        let (stale, revision) = changes::since(&mut tx, since).await?;
        Ok(Box::new(PostgresWrite {
            tx,
            revision,
            stale,
            applied: Arc::clone(&self.applied),
        }))
    }

    async fn changes_by_others(&self) -> Result<Option<(Vec<Invalidation>, i64)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let since = self.applied.load(Ordering::SeqCst);
        let (stale, revision) = changes::since(&mut conn, since).await?;
        Ok(Some((stale, revision)))
    }

    fn caught_up_to(&self, token: i64) {
        self.applied.fetch_max(token, Ordering::SeqCst);
    }

    async fn wait_for_others(&self) -> Option<()> {
        self.follower.next().await;
        Some(())
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
        "postgresql"
    }
}
