//! The SQL that SQLite and PostgreSQL both accept, written once: writing documents, and
//! the events query over sqlx's generic query builder.

use serde_json::Value;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row, Type,
};

use crate::StoreError;
use crate::backend::Change;
use crate::events::{EventQuery, StoredEvent};

const UPSERT_DOC: &str = "INSERT INTO docs (kind, id, body) VALUES ($1, $2, $3) \
     ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body";
const DELETE_DOC: &str = "DELETE FROM docs WHERE kind = $1 AND id = $2";

/// Writes one transaction's changes through `conn` (inside the caller's transaction).
pub async fn apply_changes<DB>(
    conn: &mut DB::Connection,
    changes: &[Change],
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
{
    for change in changes {
        match &change.value {
            Some(v) => {
                sqlx::query::<DB>(UPSERT_DOC)
                    .bind(change.kind.clone())
                    .bind(change.id.clone())
                    .bind(v.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
            None => {
                sqlx::query::<DB>(DELETE_DOC)
                    .bind(change.kind.clone())
                    .bind(change.id.clone())
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// A stored document's body, parsed.
pub fn document(kind: &str, id: &str, body: &str) -> Result<Value, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        kind: kind.to_string(),
        id: id.to_string(),
        source,
    })
}

/// `SELECT seq, svm, time, type, body FROM vscan_events ...` for `q`, without its LIMIT (the
/// backends spell "no limit" differently).
pub fn select<'a, DB>(q: &EventQuery) -> QueryBuilder<'a, DB>
where
    DB: Database,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut sql: QueryBuilder<DB> =
        QueryBuilder::new("SELECT seq, svm, time, type, body FROM vscan_events WHERE 1=1");
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
        // The bound on `time` alone comes first so the database walks the (svm, time)
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
    sql
}

pub fn offset(q: &EventQuery) -> i64 {
    i64::try_from(q.offset).unwrap_or(i64::MAX)
}

fn body_of(seq: i64, body: &str) -> Result<Value, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        kind: "vscan_event".into(),
        id: seq.to_string(),
        source,
    })
}

/// Replaces the time and body of event `seq`.
pub async fn update_event<DB>(
    pool: &Pool<DB>,
    seq: i64,
    time: &str,
    body: &Value,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
{
    sqlx::query::<DB>("UPDATE vscan_events SET time = $1, body = $2 WHERE seq = $3")
        .bind(time.to_string())
        .bind(body.to_string())
        .bind(seq)
        .execute(pool)
        .await?;
    Ok(())
}

/// How many rows a statement changed: sqlx has no generic accessor for it.
pub trait RowsAffected {
    fn rows(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// Deletes events older than `older_than`, then all but the newest `keep`.
pub async fn trim_events<DB>(
    pool: &Pool<DB>,
    keep: u64,
    older_than: Option<&str>,
) -> Result<u64, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    DB::QueryResult: RowsAffected,
{
    let mut deleted = 0;
    if let Some(cutoff) = older_than {
        deleted += sqlx::query::<DB>("DELETE FROM vscan_events WHERE time < $1")
            .bind(cutoff.to_string())
            .execute(pool)
            .await?
            .rows();
    }
    deleted += sqlx::query::<DB>(
        "DELETE FROM vscan_events WHERE seq <= \
         (SELECT seq FROM vscan_events ORDER BY seq DESC LIMIT 1 OFFSET $1)",
    )
    .bind(i64::try_from(keep).unwrap_or(i64::MAX))
    .execute(pool)
    .await?
    .rows();
    Ok(deleted)
}

pub async fn count_events<DB>(pool: &Pool<DB>) -> Result<u64, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::query::<DB>("SELECT COUNT(*) FROM vscan_events")
        .fetch_one(pool)
        .await?;
    let n: i64 = row.try_get(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every stored document as (kind, id, body).
pub async fn load_documents<DB>(pool: &Pool<DB>) -> Result<Vec<(String, String, Value)>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
{
    let rows = sqlx::query::<DB>("SELECT kind, id, body FROM docs")
        .fetch_all(pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let id: String = row.try_get("id")?;
        let body: String = row.try_get("body")?;
        let value = document(&kind, &id, &body)?;
        out.push((kind, id, value));
    }
    Ok(out)
}

/// One document, or `None` when it does not exist.
pub async fn load_document<DB>(
    pool: &Pool<DB>,
    kind: &str,
    id: &str,
) -> Result<Option<Value>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
{
    let row = sqlx::query::<DB>("SELECT body FROM docs WHERE kind = $1 AND id = $2")
        .bind(kind.to_string())
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => {
            let body: String = row.try_get("body")?;
            Ok(Some(document(kind, id, &body)?))
        }
        None => Ok(None),
    }
}

/// The rows of [`select`] as events.
pub fn events<R>(rows: Vec<R>) -> Result<Vec<StoredEvent>, StoreError>
where
    R: Row,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: ColumnIndex<R>,
{
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq")?;
        let body: String = row.try_get("body")?;
        out.push(StoredEvent {
            seq,
            svm: row.try_get("svm")?,
            time: row.try_get("time")?,
            kind: row.try_get("type")?,
            body: body_of(seq, &body)?,
        });
    }
    Ok(out)
}
