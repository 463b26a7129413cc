//! A per-event cache of metric handles, keyed by the event's label values.
//!
//! Building a key and finding it in the recorder's registry on every event costs more
//! than counting it; with this cache the hot path is one read lock and an integer hash.
//! Vigil installs its recorder before it serves, so no handle outlives a recorder.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{OnceLock, RwLock};

use metrics::{Counter, Histogram};

/// Label values are `&'static str`s from fixed sets, so their addresses and lengths
/// identify them without hashing their text.
pub(crate) type Identity = (usize, usize);

pub(crate) fn identity(s: &'static str) -> Identity {
    (s.as_ptr() as usize, s.len())
}

/// The (counter, histogram) pair of each label set, taken from the recorder at first use.
pub(crate) struct Handles<K>(OnceLock<RwLock<HashMap<K, (Counter, Histogram)>>>);

impl<K: Eq + Hash> Handles<K> {
    pub(crate) const fn new() -> Handles<K> {
        Handles(OnceLock::new())
    }

    /// Counts one event of `key` and records `seconds`; `make` registers the pair the
    /// first time `key` is seen.
    pub(crate) fn count(&self, key: K, seconds: f64, make: impl FnOnce() -> (Counter, Histogram)) {
        let map = self.0.get_or_init(Default::default);
        if let Some((count, time)) = map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            count.increment(1);
            time.record(seconds);
            return;
        }
        let (count, time) = make();
        count.increment(1);
        time.record(seconds);
        map.write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (count, time));
    }
}
