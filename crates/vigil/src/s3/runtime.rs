//! What the node keeps for its S3 servers while it runs.

use std::sync::Arc;

use super::listeners::Listeners;
use super::secrets::Sealer;

pub struct S3Runtime {
    pub sealer: Arc<Sealer>,
    pub listeners: Listeners,
}
