//! `airssys:core/host-messaging`: send, request, cancel-request, broadcast, self-id.

use std::time::Duration;

use wasm_core::{ComponentId, CorrelationId, MessagingError};
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
    fn send(&mut self, target: wit::ComponentId, payload: Vec<u8>) -> Reply<()> {
        let result = self
            .messaging_target(MessagingAction::Send, target)
            .and_then(|target| self.services.router.send(&self.id, &target, payload));
        Ok(result.map_err(messaging_error_to_wit))
    }

    fn request(
        &mut self,
        target: wit::ComponentId,
        payload: Vec<u8>,
        timeout_ms: u64,
    ) -> Reply<String> {
        let result = self
            .messaging_target(MessagingAction::Request, target)
            .and_then(|target| {
                self.services.router.request(
                    &self.id,
                    &target,
                    payload,
                    Duration::from_millis(timeout_ms),
                )
            });
        Ok(result
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

    fn broadcast(&mut self, targets: Vec<wit::ComponentId>, payload: Vec<u8>) -> Reply<()> {
        // Every target is checked before anything is sent.
        let checked: Result<Vec<ComponentId>, MessagingError> = targets
            .into_iter()
            .map(|t| self.messaging_target(MessagingAction::Broadcast, t))
            .collect();
        let result =
            checked.and_then(|targets| self.services.router.broadcast(&self.id, &targets, payload));
        Ok(result.map_err(messaging_error_to_wit))
    }

    fn self_id(&mut self) -> wasmtime::Result<wit::ComponentId> {
        Ok(id_to_wit(self.id.clone()))
    }
}
