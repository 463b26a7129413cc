//! The cluster's commit log: every commit bumps one revision and records the documents
//! it touched, and tells the other nodes with `NOTIFY`. A node reloads the documents of
//! the revisions it has not applied; notifications only say when to look, so one lost
//! while a connection was down costs nothing but the wait for the next periodic look.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::Notify;

use crate::StoreError;
use crate::backend::{Change, Invalidation};

const CHANNEL: &str = "vigil_docs";
/// How many revisions the log keeps; a node further behind reloads everything.
const KEPT_REVISIONS: i64 = 10_000;
/// How often a node looks for other nodes' commits without being told.
const PERIODIC_LOOK: Duration = Duration::from_secs(5);

pub async fn current_revision(pool: &PgPool) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT rev FROM doc_revision")
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("rev")?)
}

/// What changed after revision `applied`, and the newest revision.
pub async fn since(
    conn: &mut PgConnection,
    applied: i64,
) -> Result<(Vec<Invalidation>, i64), StoreError> {
    let row = sqlx::query("SELECT rev FROM doc_revision")
        .fetch_one(&mut *conn)
        .await?;
    let revision: i64 = row.try_get("rev")?;
    if revision <= applied {
        return Ok((Vec::new(), revision.max(applied)));
    }
    let oldest: Option<i64> = sqlx::query("SELECT MIN(rev) AS oldest FROM doc_changes")
        .fetch_one(&mut *conn)
        .await?
        .try_get("oldest")?;
    if oldest.is_none_or(|oldest| oldest > applied + 1) {
        return Ok((vec![Invalidation::Everything], revision));
    }
    let rows = sqlx::query("SELECT kind, id FROM doc_changes WHERE rev > $1 AND rev <= $2")
        .bind(applied)
        .bind(revision)
        .fetch_all(&mut *conn)
        .await?;
    let mut touched = BTreeSet::new();
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let id: String = row.try_get("id")?;
        touched.insert((kind, id));
    }
    let stale = touched
        .into_iter()
        .map(|(kind, id)| Invalidation::Document { kind, id })
        .collect();
    Ok((stale, revision))
}

/// Numbers a commit `revision` and logs what it touched, inside its transaction (which
/// holds the write lock, so revisions are committed in order).
pub async fn record(
    conn: &mut PgConnection,
    revision: i64,
    changes: &[Change],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE doc_revision SET rev = $1")
        .bind(revision)
        .execute(&mut *conn)
        .await?;
    let mut insert = sqlx::QueryBuilder::new("INSERT INTO doc_changes (rev, kind, id) ");
    insert.push_values(changes, |mut row, change| {
        row.push_bind(revision)
            .push_bind(change.kind.clone())
            .push_bind(change.id.clone());
    });
    insert.push(" ON CONFLICT DO NOTHING");
    insert.build().execute(&mut *conn).await?;
    if revision % 100 == 0 {
        sqlx::query("DELETE FROM doc_changes WHERE rev <= $1")
            .bind(revision - KEPT_REVISIONS)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(revision.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Wakes the store's follower when another node may have committed: a notification,
/// a reconnect of the listening connection, or the periodic look.
pub struct Follower {
    wake: std::sync::Arc<Notify>,
}

impl Follower {
    pub async fn start(pool: &PgPool) -> Result<Follower, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        let wake = std::sync::Arc::new(Notify::new());
        let woken = std::sync::Arc::clone(&wake);
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => woken.notify_one(),
                    // The connection was lost: what was notified meanwhile is gone, so
                    // look now; the listener reconnects on the next call.
                    Ok(None) => woken.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other nodes' commits failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        woken.notify_one();
                    }
                }
            }
        });
        Ok(Follower { wake })
    }

    pub async fn next(&self) {
        let _ = tokio::time::timeout(PERIODIC_LOOK, self.wake.notified()).await;
    }
}
