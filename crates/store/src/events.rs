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
    pub svm: String,
    pub time: String,
    pub kind: String,
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
