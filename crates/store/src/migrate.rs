//! `vigil db migrate`: copies one database into another (a single-node SQLite install
//! into a cluster's PostgreSQL, or back), documents in one transaction and events in
//! time order. A target that holds anything is refused unless told to replace it.

use crate::events::EventQuery;
use crate::{Change, StoreError, open_backend};

/// What a migration copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub documents: usize,
    pub events: u64,
}

const EVENT_PAGE: u64 = 5_000;

pub async fn migrate(from: &str, to: &str, replace: bool) -> Result<Migrated, StoreError> {
    let source = open_backend(from).await?;
    let target = open_backend(to).await?;
    let documents = source.load_documents().await?;
    let existing = target.load_documents().await?;
    let existing_events = target.count_events().await?;
    if !replace && (!existing.is_empty() || existing_events > 0) {
        return Err(StoreError::TargetNotEmpty {
            documents: existing.len(),
            events: existing_events,
        });
    }
    let mut changes: Vec<Change> = existing
        .into_iter()
        .map(|(kind, id, _)| Change {
            kind,
            id,
            value: None,
        })
        .collect();
    changes.extend(documents.iter().map(|(kind, id, value)| Change {
        kind: kind.clone(),
        id: id.clone(),
        value: Some(value.clone()),
    }));
    target.begin_write().await?.commit(&changes).await?;
    if existing_events > 0 {
        target.trim_events(0, None).await?;
    }
    let mut events = 0;
    let mut after = None;
    loop {
        let page = source
            .query_events(&EventQuery {
                oldest_first: true,
                limit: Some(EVENT_PAGE),
                after: after.clone(),
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.time.clone(), last.seq));
        let batch: Vec<_> = page
            .iter()
            .map(|e| crate::events::NewEvent {
                svm: e.svm.clone(),
                time: e.time.clone(),
                kind: e.kind.clone(),
                body: e.body.clone(),
            })
            .collect();
        target.append_events(&batch).await?;
        events += batch.len() as u64;
    }
    Ok(Migrated {
        documents: documents.len(),
        events,
    })
}
