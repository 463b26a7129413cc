//! The Vscan events table: too many rows for the in-memory document copy, so it lives
//! in its own indexed table and is read by query.

use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{Store, StoreError};

/// One event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub svm: String,
    /// RFC 3339 UTC, fixed width (`2026-11-22T13:00:00.000000Z`).
    pub time: String,
    pub kind: String,
    pub body: Value,
}

/// Which events to read, newest first unless `oldest_first`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub svm: Option<String>,
    pub kinds: Vec<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub oldest_first: bool,
    pub limit: Option<u64>,
    pub offset: u64,
    /// Keyset paging: only events after this (time, seq) in the query's order.
    pub after: Option<(String, i64)>,
}

/// An event as stored: its body and its place in time order.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub time: String,
    pub body: Value,
}

impl Store {
    /// Appends events in one transaction; returns their sequence numbers.
    pub async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
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

    /// Replaces the body of an event (a repeat folded into its count).
    pub async fn update_event(&self, seq: i64, time: &str, body: &Value) -> Result<(), StoreError> {
        sqlx::query("UPDATE vscan_events SET time = $1, body = $2 WHERE seq = $3")
            .bind(time)
            .bind(body.to_string())
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn query_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
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
        let rows = sql.build().fetch_all(&self.pool).await?;
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

    /// Keeps at most `keep` newest events and none older than `older_than`; returns how
    /// many were deleted.
    pub async fn trim_events(
        &self,
        keep: u64,
        older_than: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        if let Some(cutoff) = older_than {
            deleted += sqlx::query("DELETE FROM vscan_events WHERE time < $1")
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        deleted += sqlx::query(
            "DELETE FROM vscan_events WHERE seq <= \
             (SELECT seq FROM vscan_events ORDER BY seq DESC LIMIT 1 OFFSET $1)",
        )
        .bind(keep)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted)
    }

    pub async fn count_events(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM vscan_events")
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(svm: &str, second: u32, kind: &str) -> NewEvent {
        NewEvent {
            svm: svm.into(),
            time: format!("2026-11-22T10:00:{second:02}.000000Z"),
            kind: kind.into(),
            body: json!({"svm": svm, "second": second, "type": kind}),
        }
    }

    #[tokio::test]
    async fn query_filters_orders_pages_and_trims() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::sqlite_url(&dir.path().join("db")))
            .await
            .unwrap();
        let mut events = Vec::new();
        for s in 0..30 {
            let kind = if s % 3 == 0 {
                "file_infected"
            } else {
                "scanner_connected"
            };
            events.push(event(if s % 2 == 0 { "a" } else { "b" }, s, kind));
        }
        store.append_events(&events).await.unwrap();
        let q = EventQuery {
            svm: Some("a".into()),
            kinds: vec!["file_infected".into()],
            ..Default::default()
        };
        let got = store.query_events(&q).await.unwrap();
        let seconds: Vec<_> = got
            .iter()
            .map(|v| v.body["second"].as_u64().unwrap())
            .collect();
        assert_eq!(seconds, vec![24, 18, 12, 6, 0]);
        // Keyset paging continues after the last event seen, both ways.
        let after = |e: &StoredEvent| Some((e.time.clone(), e.seq));
        let next = store
            .query_events(&EventQuery {
                after: after(&got[1]),
                ..q.clone()
            })
            .await
            .unwrap();
        let seconds: Vec<_> = next
            .iter()
            .map(|v| v.body["second"].as_u64().unwrap())
            .collect();
        assert_eq!(seconds, vec![12, 6, 0]);
        let next = store
            .query_events(&EventQuery {
                after: after(&got[3]),
                oldest_first: true,
                ..q.clone()
            })
            .await
            .unwrap();
        let seconds: Vec<_> = next
            .iter()
            .map(|v| v.body["second"].as_u64().unwrap())
            .collect();
        assert_eq!(seconds, vec![12, 18, 24]);
        let page = store
            .query_events(&EventQuery {
                oldest_first: true,
                limit: Some(2),
                offset: 3,
                since: Some("2026-11-22T10:00:01.000000Z".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let seconds: Vec<_> = page
            .iter()
            .map(|v| v.body["second"].as_u64().unwrap())
            .collect();
        assert_eq!(seconds, vec![4, 5]);
        assert_eq!(
            store
                .trim_events(10, Some("2026-11-22T10:00:05.000000Z"))
                .await
                .unwrap(),
            20
        );
        assert_eq!(store.count_events().await.unwrap(), 10);
        let all = store.query_events(&EventQuery::default()).await.unwrap();
        assert_eq!(all.first().unwrap().body["second"], 29);
        assert_eq!(all.last().unwrap().body["second"], 20);
    }
}
