//! Messages heard from other nodes through the layer: delivered to this node's connections,
//! or, for changed rows, joined to the listener's batch to be read and published.

use super::Engine;
use crate::capture::Batch;
use crate::layer::{decode, Heard, LayerMessage};

impl Engine {
    /// Takes a payload heard on [`CHANNEL`](crate::layer::CHANNEL), unless it is another
    /// cluster's or this node's own: messages for connections are delivered at once, changed
    /// rows join `batch` (to be read and published with [`Engine::publish_captured`]). When
    /// `heard` shows a message of the sender was lost, every live subscription is refreshed
    /// ([`Engine::refresh_all`]). Malformed payloads are logged and dropped.
    pub fn receive_layer(
        &self,
        namespace: &str,
        node: &str,
        payload: &str,
        batch: &mut Batch,
        heard: &mut Heard,
    ) {
        match decode(payload) {
            Ok(envelope) if envelope.namespace == namespace && envelope.node != node => {
                let families = self.inner.metrics.families();
                families.layer_received.inc();
                if let Some(sent) = envelope.sent_ms {
                    // Clocks of two nodes may disagree: a message from the future took 0 s.
                    let lag = crate::layer::now_ms().saturating_sub(sent);
                    families.layer_lag.observe(lag as f64 / 1000.0);
                }
                if heard.missed(&envelope.node, envelope.seq) {
                    tracing::warn!(node = %envelope.node, seq = envelope.seq, "layer messages of a node were lost; refreshing every subscription");
                    self.refresh_all();
                }
                match envelope.message {
                    LayerMessage::Changes { rows } => {
                        for row in rows {
                            batch.push_changed(row);
                        }
                    }
                    message => self.deliver_remote(message),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "dropping a layer notification"),
        }
    }
}
