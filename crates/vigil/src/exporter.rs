//! The Prometheus recorder behind every `telemetry` event: installed once per process
//! (the `metrics` facade has one global recorder), rendered by the `/metrics` door.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first call; `None` if it could not be (another
/// recorder was installed first), in which case events go there and `/metrics` is off.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    telemetry::SECONDS_BUCKETS,
                )
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => {
                    telemetry::describe();
                    let upkeep = handle.clone();
                    // Histogram samples wait in per-thread buffers until drained; a
                    // scrape drains them too, this bounds their memory between scrapes.
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(Duration::from_secs(5));
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "no metrics upkeep thread; scrapes drain histograms");
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot install the metrics recorder; /metrics is off");
                    None
                }
            }
        })
        .clone()
}
