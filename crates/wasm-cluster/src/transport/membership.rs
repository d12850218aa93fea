//! Heartbeats: this host's own, every period, and the other hosts', which keep the view of
//! the cluster; a host that leaves or falls silent is lost, and what waited on it is answered.

use std::sync::Arc;
use std::time::Instant;

use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use wasm_actor::Router;
use wasm_core::{ComponentId, ErrorCallback};

use super::{BYE, Inner};
use crate::peers;
use crate::wire;

impl Inner {
    pub(super) async fn read_heartbeats(self: Arc<Self>, mut heartbeats: async_nats::Subscriber) {
        while let Some(message) = heartbeats.next().await {
            let headers = message.headers.as_ref();
            let Some(host) = headers
                .and_then(|h| h.get(wire::HOST))
                .map(|h| h.to_string())
            else {
                tracing::warn!(subject = %message.subject, "a heartbeat without its host dropped");
                continue;
            };
            if host == self.config.host {
                continue;
            }
            if headers.and_then(|h| h.get(BYE)).is_some() {
                let listed = self.peers.remove(&host).unwrap_or_default();
                self.lost(&host, &listed, "it left the cluster");
                continue;
            }
            let (components, bad) = peers::decode(&message.payload);
            if bad > 0 {
                tracing::warn!(%host, bad, "heartbeat lines without a valid component id skipped");
            }
            if self.peers.heard(&host, components, Instant::now()) {
                tracing::info!(%host, cluster = %self.config.name, "host joined");
                if let Some(router) = self.router() {
                    router.host_up(&host);
                }
            }
        }
    }

    /// Publishes this host's heartbeat every period and takes peers silent for three
    /// periods as gone.
    pub(super) async fn beat(self: Arc<Self>) {
        let period = self.config.heartbeat;
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let subject = self.subjects.heartbeat(&self.config.host);
        loop {
            ticks.tick().await;
            let components = self
                .router
                .get()
                .map(Router::local_components)
                .unwrap_or_default();
            let mut headers = HeaderMap::new();
            headers.insert(wire::HOST, self.config.host.as_str());
            if let Err(e) = self
                .client
                .publish_with_headers(
                    subject.clone(),
                    headers,
                    Bytes::from(peers::encode(&components)),
                )
                .await
            {
                tracing::warn!(host = %self.config.host, error = %e, "cannot publish the heartbeat");
            }
            let silent_since = Instant::now().checked_sub(period.saturating_mul(3));
            if let Some(deadline) = silent_since {
                for (host, ids) in self.peers.expire(deadline) {
                    let reason = format!(
                        "no heartbeat for {} ms",
                        period.saturating_mul(3).as_millis()
                    );
                    self.lost(&host, &ids, &reason);
                }
            }
        }
    }

    /// A peer is gone: every request pending to its components (those its heartbeats listed
    /// and those it acknowledged messages for) gets its error callback now.
    fn lost(&self, host: &str, listed: &[ComponentId], reason: &str) {
        tracing::warn!(%host, %reason, "host gone");
        let mut ids = listed.to_vec();
        self.acked_by.lock().retain(|id, by| {
            let gone = by == host;
            if gone {
                ids.push(id.clone());
            }
            !gone
        });
        self.senders.lock().retain(|_, by| by != host);
        self.loans.forgive_host(self.router.get(), host);
        self.lent.forgive_host(self.router.get(), host);
        self.credits.drop_host(host);
        if let Some(router) = self.router() {
            let callback = ErrorCallback::TargetFailed(format!("host {host} is gone: {reason}"));
            router.fail_requests_where(|target| ids.contains(target), &callback);
            router.host_down(host, reason);
        }
    }
}
