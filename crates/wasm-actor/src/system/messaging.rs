//! Messages and requests from the host to components.

use std::time::Duration;

use wasm_core::{ComponentId, MessageRouter, MessagingError, Routed, TraceContext};

use crate::error::{Error, Result};

use super::ActorSystem;

impl ActorSystem {
    /// Sends a fire-and-forget message from the host to a component of this host, at once.
    ///
    /// # Errors
    ///
    /// [`Error::Delivery`] with `target-not-found` or `queue-full`; nothing was queued then.
    /// A component on another host of a cluster is not reached from here (that needs a round
    /// trip, see [`ActorSystem::send_anywhere`]): it is `target-not-found`.
    pub fn send(&self, to: &ComponentId, payload: Vec<u8>) -> Result<()> {
        let result = if self.ctx.registry.contains(to) {
            match self.send_routed(to, payload) {
                Routed::Done(result) => result,
                // Dropped unpolled: nothing is sent.
                Routed::Later(_) => Err(MessagingError::TargetNotFound(to.clone())),
            }
        } else {
            Err(MessagingError::TargetNotFound(to.clone()))
        };
        result.map_err(|source| Error::Delivery {
            target: to.clone(),
            source,
        })
    }

    /// Sends a fire-and-forget message from the host to a component on this host or, in a
    /// cluster, on any other; for another host, waits until that host has queued it.
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::send`], and [`Error::Delivery`] with `delivery-failed` if the other
    /// host cannot be reached; nothing was queued then.
    pub async fn send_anywhere(&self, to: &ComponentId, payload: Vec<u8>) -> Result<()> {
        self.send_routed(to, payload)
            .finish()
            .await
            .map_err(|source| Error::Delivery {
                target: to.clone(),
                source,
            })
    }

    /// As [`ActorSystem::send`], but a full mailbox is waited on, up to `timeout`, instead of
    /// refused at once (as tokio's `Sender::send_timeout` is to `try_send`). A component on
    /// another host of a cluster is sent to as by [`ActorSystem::send_anywhere`].
    ///
    /// # Errors
    ///
    /// [`Error::Delivery`] with `queue-full` if no room came within `timeout`, or
    /// `target-not-found` if the target is not running or stopped for good while it waited;
    /// nothing was queued then.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future queues nothing.
    pub async fn send_timeout(
        &self,
        to: &ComponentId,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<()> {
        self.ctx
            .router
            .delivery
            .send_waiting(&self.ctx.config.host_id, to, payload, timeout)
            .await
            .map_err(|source| Error::Delivery {
                target: to.clone(),
                source,
            })
    }

    fn send_routed(&self, to: &ComponentId, payload: Vec<u8>) -> Routed<()> {
        self.ctx.router.send(&self.ctx.config.host_id, to, payload)
    }

    /// Sends a request from the host and waits for the reply.
    ///
    /// # Errors
    ///
    /// [`Error::Delivery`] if it could not be queued, [`Error::Request`] with the error
    /// callback's reason (timeout, error reply, target failed, stopped or gone).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; its reply is dropped when it arrives.
    pub async fn request(
        &self,
        to: &ComponentId,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        self.request_traced(to, payload, timeout, None).await
    }

    /// As [`ActorSystem::request`], as part of a trace: the request carries `trace` (the
    /// caller's span, a W3C `traceparent`), and so does every message and request the
    /// components send while they handle what it causes, on this host and across the cluster.
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::request`].
    ///
    /// # Cancel safety
    ///
    /// As [`ActorSystem::request`].
    pub async fn request_traced(
        &self,
        to: &ComponentId,
        payload: Vec<u8>,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> Result<Vec<u8>> {
        let routed = crate::trace::sync_scope(trace, || {
            self.ctx
                .router
                .host_request(&self.ctx.config.host_id, to, payload, timeout)
        });
        let reply = routed.finish().await.map_err(|source| Error::Delivery {
            target: to.clone(),
            source,
        })?;
        match reply.await {
            Ok(Ok(payload)) => Ok(payload),
            Ok(Err(reason)) => Err(Error::Request {
                target: to.clone(),
                reason,
            }),
            Err(_) => Err(Error::ShutDown),
        }
    }
}
