//! `airssys:core/calls@1.1.0`: `call`, a request whose answer the caller waits for.
//!
//! The target and the caller's grants are checked as for `host-messaging.request` (the
//! `request` action), and a denial is audited the same way. The wait is an async host call:
//! the guest is suspended, which is not its CPU time, while its wall-clock limit still runs.

use std::time::Duration;

use wasm_core::{CallError, ComponentId, ErrorCallback, MessagingError};
use wasm_security::MessagingAction;

use crate::bindings::calling::airssys::core::calls::{CallError as WitCallError, Host};
use crate::state::ComponentState;

impl Host for ComponentState {
    async fn call(
        &mut self,
        target: String,
        payload: Vec<u8>,
        timeout_ms: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, WitCallError>> {
        let target = match self.call_target(&target) {
            Ok(target) => target,
            Err(error) => return Ok(Err(not_sent(error))),
        };
        let answer = self
            .services
            .router
            .call(
                &self.id,
                &target,
                payload,
                Duration::from_millis(timeout_ms),
                self.trace,
            )
            .await;
        Ok(answer.map_err(|error| match error {
            CallError::NotSent(error) => not_sent(error),
            CallError::Answered(answer) => answered(answer),
        }))
    }
}

impl ComponentState {
    /// Parses a guest-supplied target and checks the capability to request it.
    fn call_target(&self, target: &str) -> Result<ComponentId, MessagingError> {
        let target: ComponentId = target.parse().map_err(|e: wasm_core::Error| {
            MessagingError::InvalidMessage(format!("`{target}` is not a component id: {e}"))
        })?;
        self.caps
            .check_messaging(MessagingAction::Request, &target)
            .map_err(|denial| MessagingError::DeliveryFailed(self.deny(denial, &target)))?;
        Ok(target)
    }
}

/// A call refused before it was sent.
fn not_sent(error: MessagingError) -> WitCallError {
    match error {
        MessagingError::TargetNotFound(id) => WitCallError::TargetNotFound(id.to_string()),
        MessagingError::QueueFull => WitCallError::QueueFull,
        other => WitCallError::DeliveryFailed(other.to_string()),
    }
}

/// A call answered with an error.
fn answered(answer: ErrorCallback) -> WitCallError {
    match answer {
        ErrorCallback::Timeout => WitCallError::Timeout,
        ErrorCallback::ErrorReply(detail) => WitCallError::ErrorReply(detail),
        ErrorCallback::TargetFailed(detail) => WitCallError::TargetFailed(detail),
        ErrorCallback::TargetStopped => WitCallError::TargetStopped,
        ErrorCallback::TargetNotFound(id) => WitCallError::TargetNotFound(id.to_string()),
    }
}
