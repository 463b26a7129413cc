//! The Vscan events table: too many rows for the document cache, so it has its own
//! indexed table, read by query.

use sqlx::{Row, Sqlite, SqlitePool};

use crate::events::{EventQuery, NewEvent, StoredEvent};
use crate::{StoreError, sql};

pub async fn append(pool: &SqlitePool, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut seqs = Vec::with_capacity(events.len());
    for e in events {
        let row = sqlx::query(
                "INSERT INTO vscan_events (svm, time, type, body) VALUES ($1, $2, $3, $4) RETURNING seq",
            )
            .bind(&e.svm)
            .bind(&e.time)
            .bind(&e.kind)
            .bind(e.body.to_string())
            .fetch_one(&mut *tx)
            .await?;
        seqs.push(row.try_get("seq")?);
    }
    tx.commit().await?;
    Ok(seqs)
}

pub async fn query(pool: &SqlitePool, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
    let mut sql = sql::select::<Sqlite>(q);
    sql.push(" LIMIT ")
        .push_bind(q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)))
        .push(" OFFSET ")
        .push_bind(sql::offset(q));
    let rows = sql.build().fetch_all(pool).await?;
    sql::events(rows)
}
