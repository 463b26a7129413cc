//! Which on-demand runs are going, and the flags that cancel them.
//!
//! Behind a trait so that a cluster backend can share it across nodes: "is this policy
//! running anywhere", and "cancel it wherever it runs". This node's registry is
//! [`LocalRuns`]; the store-backed one comes with the cluster.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The registry of running scans, keyed by `<svm uuid>/<policy>`.
pub trait RunningScans: Send + Sync + 'static {
    /// Claims the key for a run; `None` when a run holds it already. The flag is set
    /// when someone asks the run to stop.
    fn claim(&self, key: &str) -> Option<Arc<AtomicBool>>;
    /// Gives the key back (the run ended).
    fn release(&self, key: &str);
    /// Asks the run holding the key to stop; `false` when none does.
    fn cancel(&self, key: &str) -> bool;
    /// Asks every run whose key starts with `prefix` to stop.
    fn cancel_prefix(&self, prefix: &str);
}

/// The runs of this process.
#[derive(Default)]
pub struct LocalRuns {
    runs: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

impl LocalRuns {
    fn runs(&self) -> MutexGuard<'_, HashMap<String, Arc<AtomicBool>>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RunningScans for LocalRuns {
    fn claim(&self, key: &str) -> Option<Arc<AtomicBool>> {
        let mut runs = self.runs();
        if runs.contains_key(key) {
            return None;
        }
        let flag = Arc::new(AtomicBool::new(false));
        runs.insert(key.to_string(), Arc::clone(&flag));
        Some(flag)
    }

    fn release(&self, key: &str) {
        self.runs().remove(key);
    }

    fn cancel(&self, key: &str) -> bool {
        match self.runs().get(key) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn cancel_prefix(&self, prefix: &str) {
        for (key, flag) in self.runs().iter() {
            if key.starts_with(prefix) {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// The right to run, held for as long as the run lasts; dropping it releases the key.
pub struct Ticket {
    key: String,
    pub cancel: Arc<AtomicBool>,
    registry: Arc<dyn RunningScans>,
}

impl Ticket {
    /// Claims `key` in `registry`, or `None` when it is taken.
    pub fn claim(registry: &Arc<dyn RunningScans>, key: String) -> Option<Ticket> {
        let cancel = registry.claim(&key)?;
        telemetry::ondemand::RunClaimed.emit();
        Some(Ticket {
            key,
            cancel,
            registry: Arc::clone(registry),
        })
    }

    pub fn canceled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.release(&self.key);
        telemetry::ondemand::RunReleased.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_per_key_and_cancel_reaches_it() {
        let registry: Arc<dyn RunningScans> = Arc::new(LocalRuns::default());
        let first = Ticket::claim(&registry, "s/p".into()).expect("free");
        assert!(Ticket::claim(&registry, "s/p".into()).is_none());
        let other = Ticket::claim(&registry, "s/q".into()).expect("another key");
        assert!(!registry.cancel("s/none"));
        assert!(registry.cancel("s/p"));
        assert!(first.canceled() && !other.canceled());
        registry.cancel_prefix("s/");
        assert!(other.canceled());
        drop(first);
        assert!(Ticket::claim(&registry, "s/p".into()).is_some());
    }
}
