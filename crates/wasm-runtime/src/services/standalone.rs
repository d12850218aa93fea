//! Router and directory for a component that runs without other components.

use std::time::Duration;

use wasm_core::{
    CallError, CallFuture, ComponentDirectory, ComponentId, ComponentInfo, CorrelationId,
    MessagePayload, MessageRouter, MessagingError, Routed, TraceContext,
};

/// A router with no components behind it: every target is `target-not-found`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unrouted;

impl MessageRouter for Unrouted {
    fn call(
        &self,
        _from: &ComponentId,
        to: &ComponentId,
        _payload: MessagePayload,
        _timeout: Duration,
        _trace: Option<TraceContext>,
    ) -> CallFuture {
        let missing = CallError::NotSent(MessagingError::TargetNotFound(to.clone()));
        Box::pin(std::future::ready(Err(missing)))
    }

    fn send(&self, _from: &ComponentId, to: &ComponentId, _payload: MessagePayload) -> Routed<()> {
        Routed::Done(Err(MessagingError::TargetNotFound(to.clone())))
    }

    fn request(
        &self,
        _from: &ComponentId,
        to: &ComponentId,
        _payload: MessagePayload,
        _timeout: Duration,
    ) -> Routed<CorrelationId> {
        Routed::Done(Err(MessagingError::TargetNotFound(to.clone())))
    }

    fn cancel_request(
        &self,
        _from: &ComponentId,
        id: &CorrelationId,
    ) -> Result<(), MessagingError> {
        Err(MessagingError::InvalidMessage(format!(
            "no pending request {id}"
        )))
    }

    fn broadcast(
        &self,
        _from: &ComponentId,
        targets: &[ComponentId],
        _payload: MessagePayload,
    ) -> Routed<()> {
        Routed::Done(match targets.first() {
            Some(first) => Err(MessagingError::TargetNotFound(first.clone())),
            None => Ok(()),
        })
    }
}

/// A directory with no components in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoComponents;

impl ComponentDirectory for NoComponents {
    fn components(&self) -> Vec<ComponentId> {
        Vec::new()
    }

    fn info(&self, _id: &ComponentId) -> Option<ComponentInfo> {
        None
    }
}
