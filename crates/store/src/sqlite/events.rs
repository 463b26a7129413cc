//! The Vscan events table: too many rows for the document cache, so it has its own
//! indexed table, read by query.

use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::StoreError;
use crate::events::{EventQuery, NewEvent, StoredEvent};

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

pub async fn update(
    pool: &SqlitePool,
    seq: i64,
    time: &str,
    body: &Value,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE vscan_events SET time = $1, body = $2 WHERE seq = $3")
        .bind(time)
        .bind(body.to_string())
        .bind(seq)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn query(pool: &SqlitePool, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
    let mut sql: QueryBuilder<Sqlite> =
        QueryBuilder::new("SELECT seq, time, body FROM vscan_events WHERE 1=1");
    if let Some(svm) = &q.svm {
        sql.push(" AND svm = ").push_bind(svm.clone());
    }
    if !q.kinds.is_empty() {
        sql.push(" AND type IN (");
        let mut list = sql.separated(", ");
        for k in &q.kinds {
            list.push_bind(k.clone());
        }
        sql.push(")");
    }
    if let Some(since) = &q.since {
        sql.push(" AND time >= ").push_bind(since.clone());
    }
    if let Some(until) = &q.until {
        sql.push(" AND time <= ").push_bind(until.clone());
    }
    if let Some((time, seq)) = &q.after {
        // The bound on `time` alone comes first so SQLite walks the (svm, time)
        // index from the cursor instead of from the start on every page.
        let (op, op_eq) = if q.oldest_first {
            (">", ">=")
        } else {
            ("<", "<=")
        };
        sql.push(format!(" AND time {op_eq} "))
            .push_bind(time.clone())
            .push(format!(" AND (time {op} "))
            .push_bind(time.clone())
            .push(format!(" OR seq {op} "))
            .push_bind(*seq)
            .push(")");
    }
    sql.push(if q.oldest_first {
        " ORDER BY time ASC, seq ASC"
    } else {
        " ORDER BY time DESC, seq DESC"
    });
    sql.push(" LIMIT ")
        .push_bind(q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)))
        .push(" OFFSET ")
        .push_bind(i64::try_from(q.offset).unwrap_or(i64::MAX));
    let rows = sql.build().fetch_all(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq")?;
        let time: String = row.try_get("time")?;
        let body: String = row.try_get("body")?;
        let body = serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
            kind: "vscan_event".into(),
            id: seq.to_string(),
            source,
        })?;
        out.push(StoredEvent { seq, time, body });
    }
    Ok(out)
}

pub async fn trim(
    pool: &SqlitePool,
    keep: u64,
    older_than: Option<&str>,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    if let Some(cutoff) = older_than {
        deleted += sqlx::query("DELETE FROM vscan_events WHERE time < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
    }
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    deleted += sqlx::query(
        "DELETE FROM vscan_events WHERE seq <= \
             (SELECT seq FROM vscan_events ORDER BY seq DESC LIMIT 1 OFFSET $1)",
    )
    .bind(keep)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

pub async fn count(pool: &SqlitePool) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM vscan_events")
        .fetch_one(pool)
        .await?;
    let n: i64 = row.try_get("n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}
