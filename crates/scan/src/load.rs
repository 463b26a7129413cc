//! Per-server accounting shared by the monitors (which create it per server) and the
//! dispatcher (which chooses by it and bounds scans with it).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// Per-server accounting: scans in flight (for choosing) and the slots that bound them.
pub struct Load {
    pub(crate) in_flight: AtomicUsize,
    pub(crate) slots: Semaphore,
    pub(crate) served: AtomicUsize,
}

impl Load {
    pub fn new(slots: usize) -> Load {
        Load {
            in_flight: AtomicUsize::new(0),
            slots: Semaphore::new(slots.max(1)),
            served: AtomicUsize::new(0),
        }
    }
}

/// Decrements the in-flight count however the scans end.
pub(crate) struct InFlight<'a>(pub(crate) &'a Load, pub(crate) usize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(self.1, Ordering::Relaxed);
    }
}
