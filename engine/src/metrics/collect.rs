//! The series read at scrape time rather than counted: the store's pool, and the last sample
//! of the database's notification queue.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};

use super::sample::Sampled;
use crate::store::Store;

/// Encodes the store's gauges on each scrape; a store without a pool (or a database without
/// a notification queue) shows none of them.
pub(super) struct StoreCollector {
    pub(super) store: Arc<dyn Store>,
    pub(super) sampled: Arc<Sampled>,
}

impl std::fmt::Debug for StoreCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCollector").finish_non_exhaustive()
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
    gauge.encode(metric)
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(pool) = self.store.pool_status() {
            let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
            gauge(
                &mut encoder,
                "chanbind_store_pool_size",
                "The most connections the store's pool opens",
                n(pool.max_size),
            )?;
            gauge(
                &mut encoder,
                "chanbind_store_pool_in_use",
                "Store connections handed out",
                n(pool.in_use),
            )?;
            gauge(
                &mut encoder,
                "chanbind_store_pool_waiting",
                "Callers waiting for a store connection",
                n(pool.waiting),
            )?;
        }
        if let Some(usage) = self.sampled.usage() {
            let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            gauge.set(usage);
            let metric = encoder.encode_descriptor(
                "chanbind_pg_notification_queue_usage",
                "pg_notification_queue_usage(): how full PostgreSQL's notification queue is (0 to 1), sampled every few seconds",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}
