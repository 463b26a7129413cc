//! The Vscan events table on PostgreSQL; the query itself is shared ([`crate::sql`]).

use sqlx::{PgPool, Postgres, Row};

use crate::events::{EventQuery, NewEvent, StoredEvent};
use crate::{StoreError, sql};

pub async fn append(pool: &PgPool, events: &[NewEvent]) -> Result<Vec<i64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut insert =
        sqlx::QueryBuilder::<Postgres>::new("INSERT INTO vscan_events (svm, time, type, body) ");
    insert.push_values(events, |mut row, e| {
        row.push_bind(e.svm.clone())
            .push_bind(e.time.clone())
            .push_bind(e.kind.clone())
            .push_bind(e.body.to_string());
    });
    insert.push(" RETURNING seq");
    let rows = insert.build().fetch_all(pool).await?;
    let mut seqs = Vec::with_capacity(rows.len());
    for row in rows {
        seqs.push(row.try_get::<i64, _>("seq")?);
    }
    // The sequence numbers rows in the order of the VALUES list; RETURNING's order is
    // not promised, so restore it.
    seqs.sort_unstable();
    Ok(seqs)
}

pub async fn query(pool: &PgPool, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
    let mut select = sql::select::<Postgres>(q);
    // LIMIT NULL is PostgreSQL's "no limit".
    select
        .push(" LIMIT ")
        .push_bind(q.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX)))
        .push(" OFFSET ")
        .push_bind(sql::offset(q));
    let rows = select.build().fetch_all(pool).await?;
    sql::events(rows)
}
