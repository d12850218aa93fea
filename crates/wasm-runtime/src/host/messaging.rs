//! `airssys:core/host-messaging`: send, request, cancel-request, broadcast, self-id.
//!
//! `send`, `request` and `broadcast` are async host functions: a target on another host is
//! queued there before the call returns, and the guest is suspended meanwhile (that wait is
//! not guest CPU time). A local delivery is decided at once and never goes pending.

use std::time::Duration;

use wasm_core::{ComponentId, CorrelationId, MessagingError, Routed};
use wasm_security::MessagingAction;

use crate::bindings::airssys::core::errors::MessagingError as WitMessagingError;
use crate::bindings::airssys::core::host_messaging::Host;
use crate::bindings::wit;
use crate::convert::{id_from_wit, id_to_wit, messaging_error_to_wit};
use crate::state::ComponentState;

type Reply<T> = wasmtime::Result<Result<T, WitMessagingError>>;

impl ComponentState {
    /// Checks a guest-supplied target and the capability to reach it.
    fn messaging_target(
        &self,
        action: MessagingAction,
        target: wit::ComponentId,
    ) -> Result<ComponentId, MessagingError> {
        let target =
            id_from_wit(target).map_err(|e| MessagingError::InvalidMessage(e.to_string()))?;
        self.caps
            .check_messaging(action, &target)
            .map_err(|denial| MessagingError::DeliveryFailed(self.deny(denial, &target)))?;
        Ok(target)
    }
}

impl Host for ComponentState {
    async fn send(&mut self, target: wit::ComponentId, payload: Vec<u8>) -> Reply<()> {
        let routed = match self.messaging_target(MessagingAction::Send, target) {
            Ok(target) => self.services.router.send(&self.id, &target, payload),
            Err(error) => Routed::Done(Err(error)),
        };
        Ok(routed.finish().await.map_err(messaging_error_to_wit))
    }

    async fn request(
        &mut self,
        target: wit::ComponentId,
        payload: Vec<u8>,
        timeout_ms: u64,
    ) -> Reply<String> {
        let routed = match self.messaging_target(MessagingAction::Request, target) {
            Ok(target) => self.services.router.request(
                &self.id,
                &target,
                payload,
                Duration::from_millis(timeout_ms),
            ),
            Err(error) => Routed::Done(Err(error)),
        };
        Ok(routed
            .finish()
            .await
            .map(CorrelationId::into_string)
            .map_err(messaging_error_to_wit))
    }

    fn cancel_request(&mut self, request_id: String) -> Reply<()> {
        let id = CorrelationId::new(request_id);
        Ok(self
            .services
            .router
            .cancel_request(&self.id, &id)
            .map_err(messaging_error_to_wit))
    }

    async fn broadcast(&mut self, targets: Vec<wit::ComponentId>, payload: Vec<u8>) -> Reply<()> {
        // Every target is checked before anything is sent.
        let checked: Result<Vec<ComponentId>, MessagingError> = targets
            .into_iter()
            .map(|t| self.messaging_target(MessagingAction::Broadcast, t))
            .collect();
        let routed = match checked {
            Ok(targets) => self.services.router.broadcast(&self.id, &targets, payload),
            Err(error) => Routed::Done(Err(error)),
        };
        Ok(routed.finish().await.map_err(messaging_error_to_wit))
    }

    fn self_id(&mut self) -> wasmtime::Result<wit::ComponentId> {
        Ok(id_to_wit(self.id.clone()))
    }
}
