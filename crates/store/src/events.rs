//! Vscan events: too many for the document cache, so each backend keeps them in an
//! indexed table of their own and answers queries directly.

use serde_json::Value;

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
        self.backend.append_events(events).await
    }

    /// Replaces the body of an event (a repeat folded into its count).
    pub async fn update_event(&self, seq: i64, time: &str, body: &Value) -> Result<(), StoreError> {
        self.backend.update_event(seq, time, body).await
    }

    pub async fn query_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        self.backend.query_events(q).await
    }

    /// Keeps at most `keep` newest events and none older than `older_than`; returns how
    /// many were deleted.
    pub async fn trim_events(
        &self,
        keep: u64,
        older_than: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.backend.trim_events(keep, older_than).await
    }

    pub async fn count_events(&self) -> Result<u64, StoreError> {
        self.backend.count_events().await
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
