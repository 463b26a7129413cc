//! What a database must do for Vigil: the interface every backend implements and
//! nothing above the store sees.

use async_trait::async_trait;
use serde_json::Value;

use crate::StoreError;
use crate::events::{EventQuery, NewEvent, StoredEvent};

/// One write of a committed transaction: `Some` puts the document, `None` deletes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: String,
    pub id: String,
    pub value: Option<Value>,
}

/// What another writer changed, as a shared backend reports it, so that this node's
/// document cache can follow ([`crate::Store::invalidate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One document changed or went.
    Document { kind: String, id: String },
    /// Anything may have changed (notifications were lost, say after a reconnect).
    Everything,
}

/// The right to write, held from [`Backend::begin_write`] to [`WriteSession::commit`].
/// On a backend shared by several nodes it excludes every other node's writers, so
/// that the checks a transaction makes against the documents (uniqueness, "at most one
/// enabled") still hold when it commits.
#[async_trait]
pub trait WriteSession: Send {
    /// Documents other nodes changed that this node has not reloaded yet. The store
    /// reloads them before the transaction reads anything, then calls
    /// [`WriteSession::caught_up`].
    fn stale(&self) -> &[Invalidation];

    /// The store has reloaded everything [`WriteSession::stale`] named.
    fn caught_up(&mut self);

    /// Applies the changes in one database transaction: all or none.
    async fn commit(self: Box<Self>, changes: &[Change]) -> Result<(), StoreError>;
}

/// A database behind the store. Documents are read whole at start and one at a time
/// when invalidated; writes arrive as one transaction's changes. Events are too many to
/// cache and are queried here directly.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Every stored document as (kind, id, body).
    async fn load_documents(&self) -> Result<Vec<(String, String, Value)>, StoreError>;

    /// One document, or `None` when it does not exist.
    async fn load_document(&self, kind: &str, id: &str) -> Result<Option<Value>, StoreError>;

    /// Starts a write; see [`WriteSession`].
    async fn begin_write(&self) -> Result<Box<dyn WriteSession>, StoreError>;

    /// For a shared backend: what other nodes committed since this node last caught
    /// up, as invalidations, and a token for [`Backend::caught_up_to`] once they are
    /// applied. `None` for a backend that only this process writes.
    async fn changes_by_others(&self) -> Result<Option<(Vec<Invalidation>, i64)>, StoreError> {
        Ok(None)
    }

    /// The store applied what [`Backend::changes_by_others`] returned with `token`.
    fn caught_up_to(&self, _token: i64) {}

    /// For a shared backend: resolves when another node may have committed something
    /// (a notification, a reconnect, or a periodic check). `None`: nothing to follow.
    async fn wait_for_others(&self) -> Option<()> {
        None
    }

    /// Appends events in one transaction; returns their sequence numbers.
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>, StoreError>;

    /// Replaces the time and body of an event (a repeat folded into its count).
    async fn update_event(&self, seq: i64, time: &str, body: &Value) -> Result<(), StoreError>;

    async fn query_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;

    /// Keeps at most `keep` newest events and none older than `older_than`; returns how
    /// many were deleted.
    async fn trim_events(&self, keep: u64, older_than: Option<&str>) -> Result<u64, StoreError>;

    async fn count_events(&self) -> Result<u64, StoreError>;

    /// What the database is, for logs and `/api/cluster` (`sqlite`, `postgresql`).
    fn engine(&self) -> &'static str;
}
