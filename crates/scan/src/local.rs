//! The embedded scanner as the dispatcher sees it.

use std::sync::Arc;

use vscan::address::ServerAddress;

use crate::{Engine, Pool};

/// The embedded scanner: the addresses it listens on, and its engine to call directly.
pub struct Local {
    pub engine: Arc<Engine>,
    pub pool: Pool,
    pub addresses: Vec<ServerAddress>,
}
